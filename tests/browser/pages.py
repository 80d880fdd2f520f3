"""Reading what the page shows: plotly's gd.data and DOM text, with scaled deadlines."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from ..support import scaled


def wait_js(page: Page, expression: str, arg: Any = None, timeout: float = 15) -> Any:
    """Wait until a JS function of ``arg`` returns something truthy; return it."""
    handle = page.wait_for_function(expression, arg=arg, timeout=scaled(timeout) * 1000,
                                    polling=50)
    return handle.json_value()


def chart(page: Page, element_id: str) -> list[dict[str, Any]]:
    """The traces plotly drew in ``#element_id`` (typed arrays as lists)."""
    return list(page.evaluate(
        """id => (document.getElementById(id).data || []).map(t => Object.fromEntries(
             Object.entries(t).map(([k, v]) => [k, ArrayBuffer.isView(v) ? Array.from(v) : v])))""",
        element_id,
    ))


def table_rows(page: Page, selector: str) -> list[list[str]]:
    return list(page.evaluate(
        """s => [...document.querySelectorAll(s + ' tbody tr')]
                  .map(r => [...r.cells].map(c => c.textContent))""",
        selector,
    ))
