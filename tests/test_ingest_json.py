"""JSON input of the documented shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newsletter.content import Update
from newsletter.ingest import IngestError, parse_file, parse_text
from newsletter.paths import SAMPLES_DIR


def sample_json() -> dict[str, Any]:
    return parse_file(SAMPLES_DIR / "north-east-2017-04.txt").update.to_json()


def test_json_round_trip_of_a_parsed_sample(tmp_path: Path) -> None:
    data = sample_json()
    path = tmp_path / "u.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = parse_file(path)
    assert result.format == "json"
    assert result.update.to_json() == data


def test_json_sniffed_without_extension() -> None:
    u = parse_text(json.dumps(sample_json()), "auto", "stdin")
    assert u.title == "North East Update April 2017"
    assert u.events[0].start.isoformat() == "2018-11-14T10:00:00+00:00"


def test_sections_without_audiences_get_them_from_rules() -> None:
    data = {
        "title": "T",
        "sections": [
            {"heading": "Lead members", "blocks": [{"type": "paragraph", "text": "x"}]},
            {"heading": "Other", "audiences": ["dcs"], "blocks": []},
        ],
    }
    u = parse_text(json.dumps(data), "json", "a.json")
    assert u.sections[0].audiences == ["dcs", "lead-member"]
    assert u.sections[1].audiences == ["dcs"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("title"), "update.title"),
        (lambda d: d.update(period="2017-13"), "update.period"),
        (lambda d: d["events"][0].update(start="tomorrow"), "update.events[0].start"),
        (lambda d: d["events"][0].update(all_day="yes"), "update.events[0].all_day"),
        (lambda d: d["sections"][1]["blocks"][0].update(type="table"), "sections[1].blocks[0]"),
        (lambda d: d["tags"].append({"name": "X", "count": "many"}), "update.tags[0].count"),
    ],
)
def test_bad_json_names_the_field(change: Any, field: str) -> None:
    data = sample_json()
    change(data)
    with pytest.raises(IngestError) as caught:
        parse_text(json.dumps(data), "json", "bad.json")
    assert field in caught.value.reason
    assert str(caught.value).startswith("bad.json: ")


@pytest.mark.parametrize("text", ["{", "[1, 2]", '{"title": 3}', "[" * 100_000])
def test_malformed_json_is_an_ingest_error(text: str) -> None:
    with pytest.raises(IngestError):
        parse_text(text, "json", "m.json")


def test_update_from_json_is_the_contract() -> None:
    data = sample_json()
    assert (
        parse_text(json.dumps(data), "json", "x.json").to_json() == Update.from_json(data).to_json()
    )
