"""The error family: user errors are one line / 4xx, bugs keep their traceback / 500 + id.

Routes raise domain errors and one handler (``newsletter/web/errors.py``)
maps them: NotFound 404, Conflict 409, other user errors 422 with the
error's ``to_json()`` as ``detail``.  The last tests read the web package's
source to hold routes to that.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_fixtures import api_token, app, client, future_update_md, organiser, transport

from newsletter import errors
from newsletter.cli import app as cli_app
from newsletter.dispatch import control
from newsletter.segment_rules import RuleError
from newsletter.transports import TransportError

__all__ = ["api_token", "app", "client", "organiser", "transport"]

runner = CliRunner()


def test_every_user_error_the_cli_names_is_in_the_family() -> None:
    from newsletter.cli.common import USER_ERRORS

    assert errors.UserError in USER_ERRORS
    assert ValueError not in USER_ERRORS and LookupError not in USER_ERRORS


def test_cli_user_error_is_one_line_and_exit_2(database_url: str) -> None:
    result = runner.invoke(cli_app, ["sends", "pause", "999"])
    assert result.exit_code == 2
    assert "no send with id 999" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_bug_keeps_its_traceback(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(send_id: int) -> None:
        raise KeyError("plan_sendd")

    monkeypatch.setattr(control, "pause", broken)
    result = runner.invoke(cli_app, ["sends", "pause", "1"])
    assert result.exit_code != 2
    assert isinstance(result.exception, KeyError)


def test_api_maps_not_found_to_404(client: TestClient, api_token: str) -> None:
    response = client.get("/api/v1/sends/999", headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no send with id 999"}


def test_domain_errors_map_to_http_in_one_handler(app: FastAPI) -> None:
    @app.get("/api/v1/_test/user-error")
    def user_error() -> None:
        raise errors.UserError("field: not right")

    @app.get("/api/v1/_test/not-found")
    def not_found() -> None:
        raise errors.NotFound("no thing 7")

    with TestClient(app) as test_client:
        assert test_client.get("/api/v1/_test/user-error").status_code == 422
        assert test_client.get("/api/v1/_test/user-error").json() == {"detail": "field: not right"}
        assert test_client.get("/api/v1/_test/not-found").status_code == 404


def test_a_bug_answers_500_with_a_request_id(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/v1/_test/bug")
    def bug() -> None:
        raise KeyError("plan_sendd")

    @app.get("/_test/bug")
    def page_bug() -> None:
        raise KeyError("plan_sendd")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/api/v1/_test/bug")
        assert response.status_code == 500
        request_id = response.json()["request_id"]
        assert response.headers["X-Request-ID"] == request_id
        assert any(request_id in record.getMessage() for record in caplog.records)
        page = test_client.get("/_test/bug")
        assert page.status_code == 500
        assert page.headers["X-Request-ID"] in page.text


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_conflicts_structured_details_and_transport_refusals_map_in_the_handler(
    app: FastAPI,
) -> None:
    @app.get("/api/v1/_test/conflict")
    def conflict() -> None:
        raise errors.Conflict("send 3 is finished; cannot pause")

    @app.get("/api/v1/_test/rule")
    def rule() -> None:
        raise RuleError("expected a value", "role:", 6)

    @app.get("/api/v1/_test/refused")
    def refused() -> None:
        raise TransportError("550 5.7.1 relaying denied", permanent=True)

    @app.get("/_test/conflict")
    def conflict_page() -> None:
        raise errors.Conflict("send 3 is finished; cannot pause")

    with TestClient(app) as test_client:
        answer = test_client.get("/api/v1/_test/conflict")
        assert (answer.status_code, answer.json()) == (
            409,
            {"detail": "send 3 is finished; cannot pause"},
        )
        answer = test_client.get("/api/v1/_test/rule")
        assert answer.status_code == 422
        assert answer.json() == {"detail": {"error": "expected a value", "position": 6}}
        answer = test_client.get("/api/v1/_test/refused")
        assert answer.status_code == 502
        assert answer.json()["detail"].startswith("the transport refused the message: ")
        page = test_client.get("/_test/conflict")
        assert page.status_code == 409 and "send 3 is finished; cannot pause" in page.text


def test_api_routes_let_domain_errors_reach_the_handler(client: TestClient, api_token: str) -> None:
    auth = _auth(api_token)
    builtin = client.delete("/api/v1/segments/dcs", headers=auth)
    assert builtin.status_code == 409
    assert builtin.json() == {"detail": "segment 'dcs' is built in and cannot be removed"}

    for path, body in (("/api/v1/segments/count", {"rule": "role:"}),
                       ("/api/v1/segments", {"name": "bad-rule", "rule": "role:"})):  # fmt: skip
        answer = client.post(path, json=body, headers=auth)
        assert answer.status_code == 422, path
        detail = answer.json()["detail"]
        assert set(detail) == {"error", "position"} and detail["position"] == 6, detail

    status = client.get("/api/v1/subscribers?status=sleeping", headers=auth)
    assert status.status_code == 422 and status.json()["detail"].startswith("status must be")

    # An id in the URL that names nothing is 404; one in the body is bad input, 422.
    missing = client.post("/api/v1/sends", json={"update_id": 999, "segments": ["dcs"]},
                          headers=auth)  # fmt: skip
    assert missing.status_code == 422 and missing.json() == {"detail": "no update with id 999"}


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "/api/v1/updates/999", "no update with id 999"),
        ("GET", "/api/v1/updates/999/history", "no update with id 999"),
        ("GET", "/api/v1/updates/999/preview/dcs", "no update with id 999"),
        ("GET", "/api/v1/events/999", "no event with id 999"),
        ("POST", "/api/v1/events/999/cancel", "no event with id 999"),
        ("GET", "/api/v1/events/999/attendees", "no event with id 999"),
        ("GET", "/api/v1/subscribers/999", "no subscriber with id 999"),
        ("DELETE", "/api/v1/subscribers/999", "no subscriber with id 999"),
        ("GET", "/api/v1/imports/999", "no import job 999"),
        ("DELETE", "/api/v1/segments/nope", "no segment 'nope'"),
        ("DELETE", "/api/v1/suppressions/999", "no suppression 999"),
        ("GET", "/api/v1/sends/999", "no send with id 999"),
        ("POST", "/api/v1/sends/999/pause", "no send with id 999"),
        ("GET", "/api/v1/sends/999/recipients", "no send with id 999"),
    ],
)
def test_missing_ids_answer_404_naming_them(
    client: TestClient, api_token: str, method: str, path: str, detail: str
) -> None:
    answer = client.request(method, path, headers=_auth(api_token))
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"].startswith(detail)


def test_a_cancelled_event_is_a_conflict(client: TestClient, api_token: str) -> None:
    auth = _auth(api_token)
    update = client.post("/api/v1/updates", json={"text": future_update_md()}, headers=auth)
    [event] = update.json()["events"]
    url = f"/api/v1/events/{event['id']}"
    assert client.post(f"{url}/cancel", json={"notify": False}, headers=auth).status_code == 200
    again = client.post(f"{url}/cancel", json={"notify": False}, headers=auth)
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    edited = client.patch(url, json={"location": "Sunderland"}, headers=auth)
    assert edited.status_code == 409 and "cannot be edited" in edited.json()["detail"]


WEB = Path(__file__).resolve().parent.parent / "newsletter" / "web"


def http_errors_raised_in_except(source: str) -> list[int]:
    """Lines where an ``except`` block raises ``HTTPException``: a route mapping an error
    to HTTP itself, which is the one handler's job."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ExceptHandler):
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Raise)
                    and isinstance(inner.exc, ast.Call)
                    and ast.unparse(inner.exc.func).endswith("HTTPException")
                ):
                    lines.append(inner.lineno)
    return sorted(lines)


def test_no_route_turns_an_error_into_an_http_exception() -> None:
    found = {
        str(path.relative_to(WEB)): lines
        for path in sorted(WEB.rglob("*.py"))
        if (lines := http_errors_raised_in_except(path.read_text(encoding="utf-8")))
    }
    assert found == {}
    assert len(list((WEB / "api").glob("*.py"))) >= 5  # the scan saw the API's modules


def test_the_scan_catches_a_planted_mapping() -> None:
    planted = """
def remove(request, name):
    try:
        segments.remove(db, name)
    except SegmentError as exc:
        if "built in" in str(exc):
            raise HTTPException(409, str(exc)) from exc
        raise fastapi.HTTPException(404, str(exc)) from exc
"""
    assert http_errors_raised_in_except(planted) == [7, 8]
    assert http_errors_raised_in_except("if missing:\n    raise HTTPException(404)\n") == []
