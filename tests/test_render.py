"""Quality gates for rendered editions: structure, content parity, safety, cost.

Every check parses what the renderer produced (lxml for the HTML, lines for
the text) instead of matching template snippets, so the templates can change
freely as long as the email stays correct.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from urllib.parse import urlsplit

import jinja2
import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from lxml.html import HtmlElement
from render_fixtures import UK, april_2017, december_2018, samples, september_2019

from newsletter import parts
from newsletter.calendar import calendar_links
from newsletter.config import Settings
from newsletter.content import Bullets, Event, Paragraph, Section, Update
from newsletter.ingest import parse_file
from newsletter.message import MessageTemplate, Recipient
from newsletter.paths import SAMPLES_DIR
from newsletter.render import build_edition, render, render_edition, segment_name
from newsletter.render.environment import email_environment
from newsletter.render.formatting import TEXT_WIDTH, truncate, when_label
from newsletter.render.render import PlaceholderError, inline_css
from newsletter.render.sections import ALSO_HEADING, segment_heading
from newsletter.render.subject import (
    SUBJECT_TEMPLATE,
    check_content,
    render_subject,
    subject_context,
)

SEGMENTS = ("dcs", "lead-member", "workforce-lead", "north-tyneside-staff")
SETTINGS = Settings(
    base_url="https://news.example.org",
    organisation_address="North East Regional Network, Civic Centre, Newcastle upon Tyne NE1 8QH",
)
URL = re.compile(r"^(https?://|mailto:)\S+$")


def parse(html: str) -> HtmlElement:
    """Parse a whole HTML document as a browser would (lxml's HTML parser)."""
    doc = lxml.html.document_fromstring(html)
    assert isinstance(doc, HtmlElement)
    return doc


def squash(text: str) -> str:
    return " ".join(text.split())


def editions() -> Iterator[tuple[str, str, Update, parts.RenderedEdition]]:
    for name, update in samples().items():
        for segment in SEGMENTS:
            yield name, segment, update, render_edition(update, segment, settings=SETTINGS)


def ingested() -> dict[str, Update]:
    """The real bundled samples through the real ingest parser (ids unset, as in a preview)."""
    return {f"ingested-{p.stem}": parse_file(p).update for p in sorted(SAMPLES_DIR.glob("*.txt"))}


CASES = [
    pytest.param((u, s), id=f"{n}-{s}")
    for n, u in (samples() | ingested()).items()
    for s in SEGMENTS
]


@pytest.fixture(params=CASES, scope="module")
def case(request: pytest.FixtureRequest) -> tuple[Update, parts.RenderedEdition, HtmlElement]:
    update, segment = request.param
    edition = render_edition(update, segment, settings=SETTINGS)
    return update, edition, parse(edition.html)


Case = tuple[Update, parts.RenderedEdition, HtmlElement]


def all_css(doc: HtmlElement) -> list[str]:
    """The text of every <style> block and every style attribute."""
    styles = [el.text_content() for el in doc.iter("style")]
    return styles + [str(el.get("style")) for el in doc.iter() if el.get("style") is not None]


def element_texts(doc: HtmlElement, *tags: str) -> list[str]:
    return [squash(el.text_content()) for el in doc.iter(*tags)]


def content_texts(update: Update) -> Iterator[str]:
    """Every heading, paragraph and bullet of ``update``."""
    for section in update.sections:
        if section.heading:
            yield section.heading
        for block in section.blocks:
            if isinstance(block, Paragraph):
                yield block.text
            else:
                yield from block.items


# --- HTML structure -------------------------------------------------------------------


def test_html_is_small_and_keeps_doctype_lang_and_media(case: Case) -> None:
    _, edition, doc = case
    assert len(edition.html.encode("utf-8")) < 100 * 1024
    assert edition.html.startswith("<!DOCTYPE html>")
    assert doc.getroottree().docinfo.doctype == "<!DOCTYPE html>"
    assert doc.get("lang") == "en-GB"
    style = "\n".join(el.text_content() for el in doc.iter("style"))
    assert "@media (prefers-color-scheme: dark)" in style
    assert "@media screen and (max-width: 620px)" in style
    metas = {m.get("name"): m.get("content") for m in doc.iter("meta") if m.get("name")}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"
    assert "width=device-width" in str(metas["viewport"])


def test_layout_tables_are_presentational_with_outlook_ghost_table(case: Case) -> None:
    _, _, doc = case
    tables = list(doc.iter("table"))
    assert tables
    assert all(t.get("role") == "presentation" for t in tables)
    comments = [str(c.text) for c in doc.iter(etree.Comment)]
    assert any("[if mso]" in c and 'width="600"' in c for c in comments)
    container = doc.find_class("container")[0]
    assert "max-width:600px" in str(container.get("style")).replace(" ", "")


def test_preheader_is_hidden_first_paragraph(case: Case) -> None:
    _, edition, doc = case
    (preheader,) = doc.find_class("preheader")
    style = str(preheader.get("style")).replace(" ", "")
    assert "display:none" in style and "mso-hide:all" in style
    assert squash(preheader.text_content()).startswith(edition.preheader)
    assert 0 < len(edition.preheader) <= 110


def test_images_have_alt_and_css_avoids_flex_grid_position(case: Case) -> None:
    _, _, doc = case
    assert all(img.get("alt") is not None for img in doc.iter("img"))
    for css in all_css(doc):
        assert not re.search(r"display\s*:\s*(inline-)?flex", css, re.I)
        assert not re.search(r"grid", css, re.I)
        assert not re.search(r"(^|[;{\s])position\s*:", css, re.I)


def test_inlined_colours_keep_six_digits_and_fonts_are_at_least_14px(case: Case) -> None:
    _, _, doc = case
    for css in all_css(doc):
        assert not re.search(r"#[0-9a-f]{3}\b", css, re.I), css
        for size in re.findall(r"font-size\s*:\s*(\d+)px", css):
            assert int(size) >= 14, css
    for el in doc.iter():
        if el.get("bgcolor"):
            assert re.fullmatch(r"#[0-9a-f]{6}", str(el.get("bgcolor")))


def _style(el: HtmlElement) -> dict[str, str]:
    pairs = (d.split(":", 1) for d in str(el.get("style", "")).split(";") if ":" in d)
    return {k.strip().lower(): v.strip() for k, v in pairs}


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _inherited(el: HtmlElement, prop: str, default: str) -> str:
    node: HtmlElement | None = el
    while node is not None:
        value = _style(node).get(prop)
        if value and value.startswith("#"):
            return value.split()[0]
        node = node.getparent()
    return default


def test_light_mode_text_meets_wcag_aa_contrast(case: Case) -> None:
    """Every visible text element, with inlined colours, reaches 4.5:1 (WCAG AA)."""
    _, _, doc = case
    body = doc.find("body")
    assert body is not None
    for el in body.iter():
        if not isinstance(el.tag, str) or not (el.text or "").strip():
            continue
        if any(
            "display:none" in str(a.get("style", "")).replace(" ", "") for a in el.iterancestors()
        ):
            continue
        if "display:none" in str(el.get("style", "")).replace(" ", ""):
            continue
        fg = _luminance(_inherited(el, "color", "#000000"))
        bg = _luminance(_inherited(el, "background-color", "#ffffff"))
        ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
        assert ratio >= 4.5, (el.tag, el.text, ratio)


# --- content parity --------------------------------------------------------------------


def test_every_heading_paragraph_and_bullet_is_in_both_parts(case: Case) -> None:
    update, edition, doc = case
    blocks = set(element_texts(doc, "h1", "h2", "h3", "p", "li"))
    text = squash(edition.text)
    for item in content_texts(update):
        assert squash(item) in blocks, item
        assert squash(item) in text, item
    assert squash(update.title) in blocks and squash(update.title) in text
    for contact in update.contacts:
        assert squash(contact) in blocks and squash(contact) in text


def test_text_lines_fit_78_columns_except_lone_urls(case: Case) -> None:
    _, edition, _ = case
    for line in edition.text.splitlines():
        if len(line) > TEXT_WIDTH:
            # A URL cannot be broken without breaking it: it stands alone.
            assert URL.match(line), line
        assert line == line.rstrip()


def test_text_part_carries_every_link_as_a_full_url(case: Case) -> None:
    _, edition, doc = case
    lines = set(edition.text.splitlines())
    for anchor in doc.iter("a"):
        href = str(anchor.get("href"))
        if href.startswith("mailto:"):
            assert href.removeprefix("mailto:") in edition.text
        else:
            assert href in lines, href  # whole, on a line of its own
        assert href in parts.PLACEHOLDERS or href.startswith(("https://", "mailto:")), href


def test_placeholders_appear_once_exactly_where_expected(case: Case) -> None:
    _, edition, doc = case
    for placeholder in parts.PLACEHOLDERS:
        assert edition.html.count(placeholder) == 1, placeholder
        assert edition.text.count(placeholder) == 1, placeholder
    (greeting,) = doc.find_class("greeting")
    assert greeting.text_content() == parts.GREETING
    links = {squash(a.text_content()): a.get("href") for a in doc.iter("a")}
    assert links["Unsubscribe"] == parts.UNSUBSCRIBE_URL
    assert links["Manage your preferences"] == parts.PREFERENCES_URL
    lines = edition.text.splitlines()
    assert lines[0] == parts.GREETING
    assert lines[lines.index("Unsubscribe:") + 1] == parts.UNSUBSCRIBE_URL
    assert lines[lines.index("Manage your preferences:") + 1] == parts.PREFERENCES_URL


def test_footer_says_why_and_where_with_view_in_browser(case: Case) -> None:
    update, edition, doc = case
    (footer,) = doc.find_class("footer")
    footer_text = squash(footer.text_content())
    why = (
        f"You receive this as a member of the {edition.segment_name} segment of "
        "North East Children's Services Network."
    )
    assert why in footer_text and why in squash(edition.text)
    assert SETTINGS.organisation_address in footer_text
    assert SETTINGS.organisation_address in squash(edition.text)
    archive = "https://news.example.org/archive"
    if update.id is not None:  # an unsaved update (preview) links to the archive index
        archive += f"/{update.id}"
    links = {squash(a.text_content()): a.get("href") for a in footer.iter("a")}
    assert links["View in your browser"] == archive
    assert archive in edition.text.splitlines()


def test_subject_comes_from_template_or_override_and_is_one_line() -> None:
    update = december_2018()
    assert render_edition(update, "dcs", settings=SETTINGS).subject == update.title
    update.title = "Spring update\r\nBcc: victim@example.org"
    assert "\n" not in render_edition(update, "dcs", settings=SETTINGS).subject
    chosen = render_edition(update, "dcs", subject="Chosen\nsubject", settings=SETTINGS)
    assert chosen.subject == "Chosen subject"


@pytest.mark.parametrize("subject", [None, "Chosen\r\nsubject"])
@pytest.mark.parametrize("segment", SEGMENTS)
def test_the_reviews_subject_is_the_messages(segment: str, subject: str | None) -> None:
    """The send review renders subjects alone; they must be what the edition carries."""
    for update in (april_2017(), december_2018(), september_2019()):
        alone = render_subject(update, segment, subject=subject, settings=SETTINGS)
        edition = render_edition(update, segment, subject=subject, settings=SETTINGS)
        assert alone == edition.subject


def test_subject_template_sees_only_the_subject_context() -> None:
    env = email_environment()
    source = env.loader.get_source(env, SUBJECT_TEMPLATE)[0]  # type: ignore[union-attr]
    used = set(re.findall(r"{{\s*(\w+)", source))
    update = december_2018()
    assert used <= set(subject_context(update, "dcs", None, SETTINGS))


# --- editions --------------------------------------------------------------------------


def headings(update: Update, segment: str) -> list[tuple[str | None, list[str | None]]]:
    return [
        (group.heading, [s.heading for s in group.sections])
        for group in build_edition(update, segment).groups
    ]


def test_dcs_edition_keeps_the_update_order() -> None:
    for update in samples().values():
        (group,) = build_edition(update, "dcs").groups
        assert group.heading is None
        assert list(group.sections) == update.sections


def test_segment_edition_puts_its_sections_first_under_its_name() -> None:
    assert headings(december_2018(), "lead-member") == [
        ("For lead members", ["Sector-Led Improvement / RIA"]),
        (
            ALSO_HEADING,
            [
                "Social Work Conference",
                "Children’s Emotional Health and Wellbeing",
                "Children’s Continuing Care",
                "Opportunity North East",
            ],
        ),
    ]
    # The untitled opening paragraph stays on top; workforce sections follow it.
    assert headings(april_2017(), "workforce-lead") == [
        (None, [None]),
        ("For workforce leads", ["Teaching Partnership", "Workforce Development"]),
        (ALSO_HEADING, ["Sector Led Improvement"]),
    ]
    # An untitled section in the middle moves with its audience.
    assert headings(september_2019(), "workforce-lead")[0] == ("For workforce leads", [None])


def test_edition_without_sections_for_the_segment_keeps_order_without_headings() -> None:
    update = december_2018()
    (group,) = build_edition(update, "north-tyneside-staff").groups
    assert group.heading is None and list(group.sections) == update.sections


def test_segment_names_and_headings() -> None:
    assert segment_name("dcs") == "Directors of children's services"
    assert segment_heading("dcs") == "For directors of children's services"
    assert segment_name("lead-member") == "Lead members"
    assert segment_heading("workforce-lead") == "For workforce leads"
    assert segment_name("north-tyneside-staff") == "North tyneside staff"
    assert segment_heading("north-tyneside-staff") == "For north tyneside staff"
    assert segment_heading("durham", "Durham social workers") == "For Durham social workers"
    edition = render_edition(december_2018(), "lead-member", segment_name="Elected members")
    assert edition.segment_name == "Elected members"
    assert "For Elected members" in edition.text


def test_html_and_text_follow_the_edition_order() -> None:
    edition = render_edition(december_2018(), "lead-member", settings=SETTINGS)
    doc = parse(edition.html)
    order = element_texts(doc, "h2", "h3")
    expected = ["For lead members", "Sector-Led Improvement / RIA", ALSO_HEADING]
    assert order[:3] == expected
    positions = [edition.text.index(f"\n{h}\n") for h in expected]
    assert positions == sorted(positions)


audiences = st.lists(st.sampled_from(["lead-member", "workforce-lead", "other"]), max_size=3)


@given(
    st.lists(st.tuples(st.booleans(), audiences), min_size=0, max_size=12),
    st.sampled_from(["dcs", "lead-member", "workforce-lead"]),
)
def test_editions_drop_nothing_and_keep_relative_order(
    shape: list[tuple[bool, list[str]]], segment: str
) -> None:
    sections = [
        Section(f"S{i}" if titled else None, [Paragraph(f"p{i}")], ["dcs", *aud])
        for i, (titled, aud) in enumerate(shape)
    ]
    update = Update(title="T", region=None, period=None, sections=sections)
    edition = build_edition(update, segment)
    seen = edition.sections
    assert sorted(map(id, seen)) == sorted(map(id, sections))
    for group in edition.groups:
        indexes = [sections.index(s) for s in group.sections]
        assert indexes == sorted(indexes)
        if group.for_segment:
            assert all(segment in s.audiences for s in group.sections)
    if segment == "dcs":
        assert seen == sections


# --- events ----------------------------------------------------------------------------


def test_event_times_are_labelled_in_uk_time_in_winter_and_summer() -> None:
    winter = Event("A", datetime(2018, 11, 14, 10, 0, tzinfo=UK))
    assert when_label(winter) == "Wednesday 14 November 2018, 10:00 (UK time)"
    summer_utc = Event(
        "B", datetime(2019, 10, 9, 12, 30, tzinfo=UTC), end=datetime(2019, 10, 9, 15, 0, tzinfo=UTC)
    )
    assert when_label(summer_utc) == "Wednesday 9 October 2019, 13:30 to 16:00 (UK time)"
    overnight = Event(
        "C", datetime(2019, 3, 30, 18, 0, tzinfo=UK), end=datetime(2019, 3, 31, 9, 0, tzinfo=UK)
    )
    assert when_label(overnight) == (
        "Saturday 30 March 2019, 18:00 to Sunday 31 March 2019, 09:00 (UK time)"
    )
    all_day = Event("D", datetime(2019, 7, 4, tzinfo=UK), all_day=True)
    assert when_label(all_day) == "Thursday 4 July 2019"
    two_days = Event(
        "E", datetime(2019, 7, 4, tzinfo=UK), end=datetime(2019, 7, 5, tzinfo=UK), all_day=True
    )
    assert when_label(two_days) == "Thursday 4 July 2019 to Friday 5 July 2019"


def test_events_block_shows_when_where_and_calendar_links() -> None:
    update = september_2019()
    edition = render_edition(update, "lead-member", settings=SETTINGS)
    doc = parse(edition.html)
    cells = doc.find_class("event-cell")
    assert len(cells) == len(update.events)
    for cell, event in zip(cells, update.events, strict=True):
        cell_text = squash(cell.text_content())
        assert when_label(event) in cell_text
        if event.location:
            assert f"Location: {event.location}" in cell_text
        links = calendar_links(event, SETTINGS.base_url)
        anchors = {squash(a.text_content()): a.get("href") for a in cell.iter("a")}
        assert anchors["Add to Google Calendar"] == links.google
        assert anchors["Add to Outlook"] == links.outlook
        assert anchors["Download .ics"] == links.ics
        lines = edition.text.splitlines()
        for label, href in anchors.items():
            assert f"{label}:" in lines and href in lines
    assert "Wednesday 9 October 2019, 13:30 to 16:00 (UK time)" in edition.text


def test_cancelled_event_offers_no_calendar_links() -> None:
    update = september_2019()
    update.events[0].cancelled = True
    edition = render_edition(update, "dcs", settings=SETTINGS)
    cell = parse(edition.html).find_class("event-cell")[0]
    assert "This event has been cancelled." in squash(cell.text_content())
    assert list(cell.iter("a")) == []


def test_event_without_id_has_no_ics_link() -> None:
    update = april_2017()
    update.events[0].id = None
    edition = render_edition(update, "dcs", settings=SETTINGS)
    labels = element_texts(parse(edition.html), "a")
    assert "Add to Google Calendar" in labels and "Download .ics" not in labels


# --- safety ----------------------------------------------------------------------------

HOSTILE = [
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">click me</a>',
    "javascript:alert(document.cookie)",
    "%%NL_NOT_A_PLACEHOLDER%% & <b>bold</b>",
]


def hostile_update() -> Update:
    return Update(
        id=99,
        title="</title><script>alert(1)</script>",
        region="<svg onload=alert(1)>",
        period="2020-01",
        sections=[
            Section(HOSTILE[0], [Paragraph(HOSTILE[1]), Bullets((HOSTILE[2], HOSTILE[3]))]),
            Section("Plain", [Paragraph(HOSTILE[4])], ["dcs", "lead-member"]),
        ],
        contacts=['javascript:alert(1)//"x@example.org', "<b>Jo</b> jo@example.org?bcc=all"],
        events=[
            Event(
                '<script>alert("e")</script>',
                datetime(2020, 1, 8, 10, tzinfo=UK),
                location='"><script>alert(2)</script>',
                url="javascript:alert(3)",
                id=5,
            )
        ],
    )


@pytest.mark.parametrize("segment", ["dcs", "lead-member"])
def test_hostile_content_renders_as_inert_text(segment: str) -> None:
    update = hostile_update()
    edition = render_edition(update, segment, settings=SETTINGS)
    doc = parse(edition.html)
    assert list(doc.iter("script", "img", "svg", "b", "iframe")) == []
    for el in doc.iter():
        if isinstance(el.tag, str):
            assert not [name for name in el.attrib if str(name).lower().startswith("on")]
    for anchor in doc.iter("a"):
        href = str(anchor.get("href"))
        # Hostile text may ride along percent-encoded inside a calendar link's
        # query (inert data); what matters is the scheme the click follows.
        assert href in parts.PLACEHOLDERS or urlsplit(href).scheme in ("https", "mailto"), href
    blocks = set(element_texts(doc, "h1", "h2", "h3", "p", "li"))
    for text in HOSTILE:
        assert squash(text) in blocks  # shown to the reader, as text
        assert squash(text) in squash(edition.text)
    mailtos = [a.get("href") for a in doc.iter("a") if str(a.get("href")).startswith("mailto:")]
    assert mailtos == ["mailto:x@example.org", "mailto:jo@example.org"]
    assert "<script>" not in edition.subject or edition.subject == squash(update.title)


def test_content_holding_a_placeholder_is_refused() -> None:
    update = december_2018()
    update.sections[0].blocks.append(Paragraph(f"Click {parts.UNSUBSCRIBE_URL} now"))
    with pytest.raises(PlaceholderError):
        render_edition(update, "dcs", settings=SETTINGS)
    with pytest.raises(PlaceholderError):  # the review's check, without rendering
        check_content(update)
    check_content(december_2018())


# --- environment -----------------------------------------------------------------------


def test_environment_escapes_html_not_text_and_is_strict() -> None:
    env = email_environment()
    assert env is email_environment()
    assert env.get_template("update.html").environment.autoescape
    html = env.from_string("{{ x }}").render(x="<b>&")
    assert html == "&lt;b&gt;&amp;"
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("update.html").render({})


def test_inline_css_keeps_six_digit_colours_and_media() -> None:
    html = (
        "<!DOCTYPE html><html lang='en-GB'><head><style>p{color:#ffffff}"
        "@media (max-width: 10px){p{color:#000000 !important}}</style></head>"
        "<body><p>x</p></body></html>"
    )
    out = inline_css(html)
    assert out.startswith("<!DOCTYPE html>")
    assert 'style="color:#ffffff"' in out and "@media" in out and "!important" in out


def test_preheader_truncates_at_a_word() -> None:
    assert truncate("word " * 40).endswith("word…")
    assert len(truncate("word " * 40)) <= 110
    assert truncate("short  text") == "short text"


# --- cost: render runs per segment, never per recipient ---------------------------------


def test_jinja_and_premailer_run_per_segment_not_per_recipient() -> None:
    update = september_2019()
    render.stats.reset()
    segments = ("dcs", "lead-member", "workforce-lead")
    editions_by_segment = {s: render_edition(update, s, settings=SETTINGS) for s in segments}
    # The product's path: one message template per segment, spliced per recipient.
    templates = {
        s: MessageTemplate.build(edition, settings=SETTINGS)
        for s, edition in editions_by_segment.items()
    }
    personalised = [
        templates[segments[i % 3]].personalise(
            Recipient(
                email=f"reader{i}@example.org",
                name=f"Reader {i}",
                subscriber_id=i + 1,
                delivery_id=i + 1,
                unsubscribe_url=f"https://news.example.org/u/{i}",
                preferences_url=f"https://news.example.org/p/{i}",
                mailto_unsubscribe=None,
            )
        )
        for i in range(900)
    ]
    last = message_from_bytes(personalised[-1], policy=default_policy)
    html = last.get_body(("html",))
    assert html is not None and "Dear Reader 899," in html.get_content()
    assert parts.GREETING.encode() not in personalised[-1]
    assert render.stats.editions == 3
    assert render.stats.premailer_runs == 3
    assert render.stats.template_renders == 9  # html, text and subject per segment


def test_every_sample_renders_for_every_segment() -> None:
    rendered = list(editions())
    assert len(rendered) == len(samples()) * len(SEGMENTS)
    assert all(ed.segment_name for *_, ed in rendered)


WARM_THEN_RENDER = """
import sys
from newsletter.ingest import parse_file
from newsletter.paths import SAMPLES_DIR
from newsletter.render import render_edition, warm_up
update = parse_file(SAMPLES_DIR / "north-east-2017-04.txt").update
warm_up()
before = set(sys.modules)
for segment in ("dcs", "lead-member", "workforce-lead"):
    render_edition(update, segment)
print(sorted(set(sys.modules) - before))
"""


def test_the_first_edition_after_the_warm_up_loads_nothing_new() -> None:
    """Workers warm up before forking: a real edition must not import anything more.

    The sample has a featured event (calendar links), bullets, contacts and
    tags; a warm-up without them left 0.1 s of imports to the first send.
    """
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", WARM_THEN_RENDER],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NEWSLETTER_SECRET_KEY": "warm-up-test-" + "k" * 40},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
