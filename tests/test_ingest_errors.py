"""Bad input: each case raises IngestError naming the file and the reason."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from newsletter.config import reset_settings
from newsletter.ingest import MAX_BYTES, IngestError, parse_bytes, parse_file, parse_text
from newsletter.ingest.audiences import load_rules
from newsletter.ingest.errors import AudienceRulesError

TITLE = "North East Update April 2017\n\nNews\n\n"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n\n\t ", "empty"),
        (b"North East Update April 2017\x00\x01\x02", "NUL"),
        (bytes(range(1, 32)) * 20, "not text"),
        (b"%PDF-1.4\n\x00\x00binary", "NUL"),
        (b"x" * (MAX_BYTES + 1), "too large"),
    ],
)
def test_bad_files(tmp_path: Path, data: bytes, reason: str) -> None:
    path = write(tmp_path, "bad.txt", data)
    with pytest.raises(IngestError) as caught:
        parse_file(path)
    assert caught.value.path == str(path)
    assert reason in caught.value.reason
    assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="cannot read"):
        parse_file(tmp_path / "nope.txt")


def test_invalid_utf8_falls_back_to_cp1252_with_a_warning(tmp_path: Path) -> None:
    body = (TITLE + "Children’s services cost £5.\n").encode("cp1252")
    result = parse_file(write(tmp_path, "win.txt", body))
    assert any("cp1252" in w for w in result.warnings)
    assert result.update.sections[0].blocks[0].text == "Children’s services cost £5."  # type: ignore[union-attr]


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    result = parse_file(write(tmp_path, "u16.txt", (TITLE + "Body.\n").encode("utf-16")))
    assert result.update.title == "North East Update April 2017"
    assert any("UTF-16" in w for w in result.warnings)


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    data = ("\ufeff" + TITLE + "Body.\n").replace("\n", "\r\n").encode("utf-8")
    result = parse_file(write(tmp_path, "bom.txt", data))
    assert result.warnings == []
    assert result.update.sections[0].heading == "News"


def test_parse_text_checks_too() -> None:
    with pytest.raises(IngestError, match="empty"):
        parse_text("   ", "auto", "paste")
    with pytest.raises(IngestError, match="NUL"):
        parse_text(TITLE + "\x00", "auto", "paste")
    with pytest.raises(IngestError, match="unknown format"):
        parse_text(TITLE, "docx", "paste")


def test_parse_bytes_names_the_source() -> None:
    with pytest.raises(IngestError) as caught:
        parse_bytes(b"", "upload.txt")
    assert str(caught.value) == "upload.txt: file is empty"


def test_ingest_error_is_a_value_error_and_pickles() -> None:
    error = IngestError("a.txt", "file is empty")
    assert isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (again.path, again.reason, str(again)) == ("a.txt", "file is empty", str(error))


@pytest.mark.parametrize(
    ("toml", "entry"),
    [
        ("segments = 3", "segments"),
        ("[other]\nx = 1", "other"),
        ('[segments.Lead_Member]\nkeywords = ["x"]', "segments.Lead_Member"),
        ("[segments.lead-member]\nkeywords = []", "segments.lead-member.keywords"),
        ('[segments.lead-member]\nkeywords = ["ok", 3]', "segments.lead-member.keywords[1]"),
        ('[segments.lead-member]\nkeywords = ["ok"]\nwords = 1', "segments.lead-member.words"),
        ("[segments.lead-member\n", "not valid TOML"),
    ],
)
def test_malformed_rules_name_file_and_entry(tmp_path: Path, toml: str, entry: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(AudienceRulesError) as caught:
        load_rules(path)
    assert caught.value.path == str(path)
    assert entry in caught.value.reason
    # A broken configured rules file stops ingest with the same error type.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSLETTER_AUDIENCE_RULES_PATH", str(path))
        reset_settings()
        try:
            with pytest.raises(IngestError) as during_ingest:
                parse_text(TITLE + "Body.\n", "text", "u.txt")
            assert during_ingest.value.path == str(path)
        finally:
            patch.delenv("NEWSLETTER_AUDIENCE_RULES_PATH")
            reset_settings()


def test_rules_path_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[segments.press]\nkeywords = ["news"]\n', encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_AUDIENCE_RULES_PATH", str(path))
    reset_settings()
    try:
        u = parse_text(TITLE + "Body.\n", "text", "u.txt")
        assert u.sections[0].audiences == ["dcs", "press"]
    finally:
        monkeypatch.delenv("NEWSLETTER_AUDIENCE_RULES_PATH")
        reset_settings()


def test_rules_match_words_case_insensitively_with_plurals() -> None:
    rules = load_rules()
    assert rules.audiences_for(["Our APPRENTICES start"]) == ["dcs", "workforce-lead"]
    assert rules.audiences_for(["Lead\nmembers met"]) == ["dcs", "lead-member"]
    assert rules.audiences_for(["misleading membership"]) == ["dcs"]
    assert rules.audiences_for(["recruitmentdrive"]) == ["dcs"]
