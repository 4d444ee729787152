"""``newsletter render`` and ``newsletter preview``."""

from __future__ import annotations

import email
import email.policy
import http.server
import threading
import webbrowser
from pathlib import Path

import typer

from newsletter.cli.common import console, store


def render_command(
    update_id: int,
    segment: str = typer.Option("dcs", "--segment"),
    to: str = typer.Option("preview@example.org", "--to", help="Recipient to personalise for."),
    out: Path = typer.Option(..., "--out", help="Folder to write the files into."),
) -> None:
    """Write message.eml (the exact bytes sent), message.html, message.txt and .ics files."""
    from newsletter.calendar import ics_filename
    from newsletter.single_message import compose

    with store() as session:
        composed = compose(session, update_id, segment, to)
    out.mkdir(parents=True, exist_ok=True)
    (out / "message.eml").write_bytes(composed.message.data)
    parsed = email.message_from_bytes(composed.message.data, policy=email.policy.default)
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    if html is not None:
        (out / "message.html").write_text(html.get_content(), encoding="utf-8")
    if text is not None:
        (out / "message.txt").write_text(text.get_content(), encoding="utf-8")
    written = ["message.eml", "message.html", "message.txt"]
    for part in composed.calendar_parts:
        name = part.filename or ics_filename("event")
        (out / name).write_bytes(part.ics)
        written.append(name)
    console.print(f"Wrote {', '.join(written)} to {out}", markup=False)


def preview_command(
    update_id: int,
    segment: str = typer.Option("dcs", "--segment"),
    port: int = typer.Option(8025, "--port"),
    open_browser: bool = typer.Option(False, "--open", help="Open it in a browser."),
) -> None:
    """Serve the segment's HTML edition on http://127.0.0.1:PORT/ until Ctrl-C."""
    from newsletter.single_message import compose

    with store() as session:
        composed = compose(session, update_id, segment, "preview@example.org")
    parsed = email.message_from_bytes(composed.message.data, policy=email.policy.default)
    body = parsed.get_body(("html",))
    page = (body.get_content() if body is not None else "").encode("utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    console.print(f"Previewing the {segment} edition of update {update_id} at {url} (Ctrl-C stops)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
