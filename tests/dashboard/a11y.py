"""Accessibility and narrow-screen checks run inside the browser tests: axe-core (vendored, see
``vendor/axe-core/README.md``) and "no horizontal scrolling"."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
#: Impacts that fail a test (axe's scale: minor, moderate, serious, critical).
BLOCKING = ("serious", "critical")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[str]:
    """The serious and critical axe-core violations of the page as shown now, one line each (rule, impact, where).

    axe is evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern (the
    dashboard allows no inline script, rightly)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'][:5])}"
        for v in result
        if v["impact"] in BLOCKING
    ]


def overflow(page: Any) -> dict[str, Any] | None:
    """``None`` when the page fits the viewport's width; else how wide it is and the widest elements sticking out
    (what a user would have to scroll sideways to see)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return null;
          const out = [];
          for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > width + 1 && r.width > 0) {
              let hidden = false;
              for (let p = el.parentElement; p; p = p.parentElement) {
                const s = getComputedStyle(p);
                if (s.overflowX !== 'visible' && p.getBoundingClientRect().right <= width + 1) { hidden = true; break; }
              }
              if (!hidden) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') +
                ' right=' + Math.round(r.right));
            }
          }
          return {scrollWidth: document.documentElement.scrollWidth, width, elements: out.slice(0, 8)};
        }"""
    )
