"""The error family: user errors are one line / 4xx, bugs keep their traceback / 500 + id."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_fixtures import api_token, app, client, organiser, transport

from newsletter import errors
from newsletter.cli import app as cli_app
from newsletter.dispatch import control

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
