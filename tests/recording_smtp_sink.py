"""An SMTP server that accepts every message and logs who sent it to whom, and when.

Run: ``python tests/recording_smtp_sink.py HOST PORT LOGFILE``.  For each
accepted message it appends one line per recipient to LOGFILE and flushes::

    <unix time accepted> <client IP address> <recipient, lower-cased>

so a test in another process (or another network namespace) can count what
arrived, from which host, at what pace.  Used by tests/test_multi_host.py,
where it runs inside the network namespace of the "database host".
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import IO, Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Recorder:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        stamp = time.time()
        peer: Any = session.peer
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        for rcpt in envelope.rcpt_tos:
            self.out.write(f"{stamp:.6f} {host} {rcpt.lower()}\n")
        self.out.flush()
        return "250 2.0.0 accepted"


async def _serve(host: str, port: int, log: str) -> None:
    loop = asyncio.get_running_loop()
    with open(log, "a", encoding="utf-8") as out:
        recorder = _Recorder(out)
        server = await loop.create_server(
            lambda: SMTP(recorder, hostname="sink.test", data_size_limit=None), host, port
        )
        async with server:
            await server.serve_forever()


def main() -> None:
    """Serve on HOST:PORT until terminated."""
    host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    asyncio.run(_serve(host, port, log))


if __name__ == "__main__":
    main()
