"""Rendered editions in real headless Chromium (Debian's /usr/bin/chromium).

Playwright drives the system browser; it never downloads one.  Each edition is
laid out at 375 px (a small phone) and 600 px (the design width), in light and
dark colour schemes.  Screenshots go to ``test-output/render/`` for a human
to look at; the assertions are what a reader would notice: horizontal
scrolling, text too small, or text that does not stand out from its background.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page, Route
from render_fixtures import samples

from newsletter.config import Settings
from newsletter.render import render_edition

pytestmark = pytest.mark.browser

OUTPUT = Path(__file__).resolve().parent.parent / "test-output" / "render"
SETTINGS = Settings(base_url="https://news.example.org")
CASES = [
    pytest.param(name, segment, id=f"{name}-{segment}")
    for name in samples()
    for segment in ("dcs", "lead-member", "workforce-lead")
]

# For every element that owns visible text: its font size and the contrast
# ratio (WCAG 2.x) of its colour against the first opaque background behind it.
TEXT_METRICS_JS = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const owns = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!owns || box.width === 0 || box.height === 0) continue;
    const style = getComputedStyle(el);
    const a = lum(rgb(style.color)), b = lum(background(el));
    out.push({
      text: el.textContent.trim().slice(0, 50),
      size: parseFloat(style.fontSize),
      ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
    });
  }
  return out;
}
"""


def open_page(
    browser: Browser, html: str, width: int, scheme: Literal["light", "dark"]
) -> tuple[Page, list[str]]:
    """A page showing ``html`` at ``width``; the list collects any network request."""
    page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)
    requests: list[str] = []

    def refuse(route: Route) -> None:
        # An email must not need the network to lay out (no remote CSS/fonts).
        requests.append(route.request.url)
        route.abort()

    page.route("**/*", refuse)
    page.set_content(html, wait_until="load")
    return page, requests


@pytest.mark.parametrize(("name", "segment"), CASES)
def test_no_horizontal_scroll_and_legible_text(browser: Browser, name: str, segment: str) -> None:
    edition = render_edition(samples()[name], segment, settings=SETTINGS)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for width in (375, 600):
        for scheme in ("light", "dark"):
            page, requests = open_page(browser, edition.html, width, scheme)
            try:
                scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
                inner_width = page.evaluate("window.innerWidth")
                if width == 375:
                    assert scroll_width <= inner_width, (scheme, scroll_width, inner_width)
                container = page.evaluate(
                    "document.querySelector('.container').getBoundingClientRect().width"
                )
                assert container <= 600
                if width == 375:
                    assert container == inner_width  # fluid: fills a phone
                metrics: list[dict[str, Any]] = page.evaluate(TEXT_METRICS_JS)
                assert metrics
                for item in metrics:
                    assert item["size"] >= 14, (scheme, width, item)
                    assert item["ratio"] >= 4.5, (scheme, width, item)
                page.screenshot(
                    path=str(OUTPUT / f"{name}-{segment}-{width}-{scheme}.png"), full_page=True
                )
                assert requests == []
            finally:
                page.close()


def test_dark_mode_styles_apply(browser: Browser) -> None:
    edition = render_edition(samples()["north-east-2019-09"], "lead-member", settings=SETTINGS)
    colours = {}
    for scheme in ("light", "dark"):
        page, _ = open_page(browser, edition.html, 600, scheme)
        try:
            colours[scheme] = page.evaluate(
                "getComputedStyle(document.querySelector('.card')).backgroundColor"
            )
        finally:
            page.close()
    assert colours["light"] == "rgb(255, 255, 255)"
    assert colours["dark"] == "rgb(27, 31, 36)"
