"""A browsable index of an outbox folder: one HTML page listing every message.

Each ``.eml`` is parsed with the ``email`` package; its HTML part is written
beside the index so a browser can open it, and the row links to the raw
``.eml`` and any calendar attachment too.
"""

from __future__ import annotations

import email
import email.policy
import html
from email.message import EmailMessage
from pathlib import Path


def write_index(outbox: Path, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` (and ``out_dir/messages/*.html``); returns the index path."""
    pages = out_dir / "messages"
    pages.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("html",))
        page = pages / f"{path.stem}.html"
        if body is not None:
            page.write_text(body.get_content(), encoding="utf-8")
        calendars = [
            part.get_content_type()
            + (f"; method={part.get_param('method')}" if part.get_param("method") else "")
            for part in message.walk()
            if part.get_content_type() in ("text/calendar", "application/ics")
        ]
        rows.append(
            '<tr><td>{to}</td><td><a href="{page}">{subject}</a></td><td>{cal}</td>'
            '<td><a href="{eml}">.eml</a></td></tr>'.format(
                to=html.escape(str(message["To"])),
                subject=html.escape(str(message["Subject"])),
                page=html.escape(page.relative_to(out_dir).as_posix()),
                cal=html.escape(", ".join(calendars)),
                eml=html.escape(path.resolve().as_uri()),
            )
        )
    index = out_dir / "index.html"
    index.write_text(
        '<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">'
        "<title>Outbox</title><style>body{font:15px/1.4 system-ui,sans-serif;margin:2rem}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ccc;padding:.3rem .6rem;"
        "text-align:left}</style></head><body>"
        f"<h1>Outbox: {len(rows)} messages</h1><table><thead><tr><th>To</th><th>Subject</th>"
        "<th>Calendar parts</th><th>Raw</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>",
        encoding="utf-8",
    )
    return index
