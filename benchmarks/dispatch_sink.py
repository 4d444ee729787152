"""A fast asyncio SMTP sink: accepts every message, keeps none.

Run: ``python benchmarks/dispatch_sink.py PORT``.  Used by the dispatch
benchmark only when Debian postfix's ``smtp-sink`` is not installed.  Like
``smtp-sink`` without ``-c`` it writes nothing per message (the benchmark
checks the bytes it read).  It speaks just enough ESMTP (RFC 5321) for
smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
"""

from __future__ import annotations

import asyncio
import sys


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 dispatch-sink ESMTP\r\n")
    try:
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-dispatch-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await reader.readuntil(b"\r\n.\r\n")
                writer.write(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:  # HELO, MAIL, RCPT, RSET, NOOP: all fine
                writer.write(b"250 ok\r\n")
            await writer.drain()
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_session, "127.0.0.1", port, limit=16 * 1024 * 1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Serve on 127.0.0.1:PORT until terminated."""
    asyncio.run(_serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
