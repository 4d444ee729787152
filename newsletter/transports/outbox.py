"""The embedded default transport: one ``.eml`` file per message in a folder.

Files are written atomically (a temporary file in the same folder, then
``os.replace``), so a reader such as the demo's index or a mail viewer never
sees half a message, and a crash leaves at most a ``.tmp`` file behind.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Final

from newsletter.transports.base import OutgoingMessage, Transport, TransportError

__all__ = ["OutboxTransport"]

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._@-]+")


class OutboxTransport(Transport):
    """Writes each message to ``directory/<name>.eml``, exactly the bytes SMTP would carry.

    The name starts with the delivery id when there is one (``d000123-``), then
    the Message-ID made filename-safe, so names are unique and sort by delivery.
    ``durable=True`` fsyncs each file before the rename (slower; survives power loss).
    Raises TransportError(permanent=False) when the file cannot be written
    (disk full, permissions): the message itself is not at fault.
    """

    def __init__(self, directory: str | os.PathLike[str], *, durable: bool = False) -> None:
        self.directory = Path(directory)
        self.durable = durable
        self.directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, message: OutgoingMessage) -> Path:
        """Return the path ``message`` is (or would be) written to."""
        stem = _UNSAFE.sub("_", message.message_id.strip("<>")) or f"{time.time_ns()}"
        if message.delivery_id is not None:
            stem = f"d{message.delivery_id:06d}-{stem}"
        return self.directory / f"{stem[:200]}.eml"

    def send(self, message: OutgoingMessage) -> None:
        """Write the message atomically; see the class docstring for errors."""
        final = self.path_for(message)
        try:
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(message.data)
                    if self.durable:
                        handle.flush()
                        os.fsync(handle.fileno())
                os.chmod(temporary, 0o644)
                os.replace(temporary, final)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise TransportError(f"cannot write {final}: {exc}", permanent=False) from exc
