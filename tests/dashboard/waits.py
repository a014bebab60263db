"""Waiting on a page whose policy forbids evaluating strings (Trusted Types, no 'unsafe-eval'):
Playwright's wait_for_function evaluates its predicate as a string in the page, so these waits
read the page through locators and attributes from the test's side instead."""

from __future__ import annotations

from collections.abc import Callable

GUARD_MS = 60_000  # only a guard against a page that never updates


def until(page, check: Callable[[], bool], what: str) -> None:
    """Polls ``check`` (which reads the page) until it holds; fails naming ``what`` after the
    guard, or at once when the page logged an error (the ``page`` fixture collects them)."""
    for _ in range(GUARD_MS // 100):
        if check():
            return
        assert not page.errors, f"the page failed while waiting for {what}: {page.errors}"
        page.wait_for_timeout(100)
    raise AssertionError(f"the page never showed {what}")


def points(page, chart: str) -> int:
    """How many points chart ``chart`` (an element id) draws."""
    return int(page.get_attribute(f"#{chart}", "data-points") or 0)


def read(text: str) -> str:
    """Text as a reader sees it: without the invisible marks that isolate a name in a line
    (U+2068, U+2069)."""
    return text.replace("\u2068", "").replace("\u2069", "")


def count(page, selector: str) -> int:
    return page.locator(selector).count()
