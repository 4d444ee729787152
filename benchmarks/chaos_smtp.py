"""The chaos suite's counting SMTP server: every accepted message is on disk before its 250.

Run: ``python benchmarks/chaos_smtp.py PORT SPOOL_DIR [--tempfail-every K]``.

It speaks the ESMTP the engine uses (EHLO with PIPELINING, MAIL, RCPT, DATA,
RSET, NOOP, QUIT; RFC 5321 and RFC 2920) on 127.0.0.1.  For each message it
receives it appends the whole message to ``SPOOL_DIR/spool.mbox`` and one line
``delivery-id TAB Message-ID TAB recipient`` to ``SPOOL_DIR/accepted.tsv``,
and ``fdatasync``s both, and only then answers 250: a message the engine
was told was accepted is counted even if this server is killed a moment later.

``--tempfail-every K`` answers ``451 4.3.0`` at the end of DATA to the first
attempt of every delivery whose id is divisible by K (K=5: one in five), then
accepts its later attempts: a greylisting receiver.  The counts survive a
restart of the server (the files are appended to); the first-attempt memory
does not, as a real greylister's might not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from pathlib import Path

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
_DELIVERY = re.compile(rb"^X-Newsletter-Delivery:\s*(\d+)", re.IGNORECASE | re.MULTILINE)


class Counter:
    """The spool and index files, and the greylisting memory."""

    def __init__(self, folder: Path, tempfail_every: int | None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.spool = os.open(folder / "spool.mbox", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.index = os.open(folder / "accepted.tsv", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.tempfail_every = tempfail_every
        self.seen: set[int] = set()

    def accept(self, rcpt: list[bytes], data: bytes) -> bytes:
        """Store the message durably and return the reply line for its end of DATA."""
        headers = data.split(b"\r\n\r\n", 1)[0]
        found_id = _MESSAGE_ID.search(headers)
        found_delivery = _DELIVERY.search(headers)
        delivery = int(found_delivery.group(1)) if found_delivery else 0
        every = self.tempfail_every
        if every and delivery and delivery % every == 0 and delivery not in self.seen:
            self.seen.add(delivery)
            return b"451 4.3.0 try again later\r\n"
        message_id = found_id.group(1) if found_id else b"-"
        os.write(self.spool, b"From chaos\r\n" + data + b"\r\n")
        os.fdatasync(self.spool)
        line = b"%d\t%s\t%s\n" % (delivery, message_id, b",".join(rcpt))
        os.write(self.index, line)
        os.fdatasync(self.index)
        return b"250 2.0.0 stored\r\n"


async def _session(
    counter: Counter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(b"220 chaos-counter ESMTP\r\n")
    rcpt: list[bytes] = []
    try:
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-chaos-counter\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                rcpt = []
                writer.write(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                address = line.split(b":", 1)[-1].strip().strip(b"<>")
                rcpt.append(address)
                writer.write(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                body = await reader.readuntil(b"\r\n.\r\n")
                data = body[: -len(b".\r\n")].replace(b"\r\n..", b"\r\n.")
                if data.startswith(b".."):
                    data = data[1:]
                writer.write(counter.accept(rcpt, data))
                rcpt = []
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                break
            else:  # RSET, NOOP
                rcpt = [] if verb == b"RSET" else rcpt
                writer.write(b"250 2.0.0 ok\r\n")
            await writer.drain()
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _serve(port: int, counter: Counter) -> None:
    server = await asyncio.start_server(
        lambda r, w: _session(counter, r, w), "127.0.0.1", port, limit=16 * 1024 * 1024
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    """Serve on 127.0.0.1:PORT until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("port", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--tempfail-every", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, Counter(args.folder, args.tempfail_every)))


if __name__ == "__main__":
    main()
