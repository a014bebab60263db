"""One tab, two tenants' keys: what the page keeps per key, and what it says of a session that
the other key cannot see."""

from __future__ import annotations

import json

import pytest
from waits import GUARD_MS
from workloads import QuadraticRun

from zoadamm_service.launch import ServiceProcess
from zoadamm_service.tenants import entry, new_key


@pytest.fixture(scope="module")
def two_tenants():
    keys = {"lab": new_key(), "other": new_key()}
    with ServiceProcess(env={"ZOADAMM_API_KEYS": ",".join(entry(t, k) for t, k in keys.items())}) as svc:
        yield svc, keys


def finished(url: str, name: str, key: str) -> str:
    run = QuadraticRun(url, name, steps=10, pace_s=0, api_key=key)
    run.run()
    assert run.error is None, run.error
    return run.session.id


def until(page, check, what: str) -> None:
    """waits.until, but for the 401 and the 404 this test expects, which Chromium logs as errors
    (the test asserts at its end that no other error came)."""
    for _ in range(GUARD_MS // 100):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the page never showed {what}")


def save_key(page, key: str) -> None:
    page.click("#key-button")
    page.fill("#key-input", key)
    page.click("#key-save")


def row(page, sid: str):
    return page.locator("#sessions tbody tr", has_text=sid[:8])


def stored(page) -> dict[str, str]:
    return page.evaluate("Object.fromEntries(Object.entries(localStorage))")


# A page on plain http to another host is no secure context: the browser has no crypto.subtle.
NO_SUBTLE = "Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined });"


@pytest.mark.parametrize("secure", [True, False], ids=["sha-256", "no-crypto-subtle"])
def test_the_comparison_is_kept_per_key_and_a_session_of_the_other_key_is_not_called_deleted(
        two_tenants, page, secure):
    service, keys = two_tenants
    if not secure:
        page.add_init_script(NO_SUBTLE)
    shown = finished(service.url, "lab shown", keys["lab"])
    compared = finished(service.url, "lab compared", keys["lab"])
    theirs = finished(service.url, "other's run", keys["other"])
    page.goto(f"{service.url}/dashboard#s={shown}")
    page.locator("#auth-banner").wait_for(state="visible", timeout=GUARD_MS)
    save_key(page, keys["lab"])
    row(page, compared).locator("input.cmp").wait_for(timeout=GUARD_MS)
    row(page, compared).locator("input.cmp").check()
    until(page, lambda: page.inner_text("#detail-title") == "lab shown", "the lab's session")
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 2, "the lab's comparison")

    save_key(page, keys["other"])  # the other tenant's key, in the same tab
    row(page, theirs).wait_for(timeout=GUARD_MS)
    until(page, lambda: page.is_hidden("#detail"), "the lab's session out of the detail")
    assert page.inner_text("#gone-text") == f"The session {shown[:8]} is not among the sessions of this API key. " \
                                            "It left the detail."
    assert "deleted" not in page.inner_text("#gone-text")
    assert page.locator("#chart-compare .u-legend").count() == 0  # the other key compares nothing yet
    everything = stored(page)
    assert not any(key in name or key in value for key in keys.values() for name, value in everything.items())
    lists = {name: json.loads(value) for name, value in everything.items() if name.startswith("zoadamm.compared")}
    assert [compared] in lists.values(), lists  # the lab's list, kept
    digests = [name.removeprefix("zoadamm.compared.") for name in lists if name != "zoadamm.compared"]
    assert digests and all(len(d) == 32 if secure else len(d) <= 14 for d in digests), digests  # which hash

    save_key(page, keys["lab"])  # back: the lab's comparison again
    until(page, lambda: row(page, compared).locator("input.cmp").is_checked(), "the lab's ticked session")
    until(page, lambda: page.locator("#chart-compare .u-legend .u-series").count() == 2, "its comparison")
    assert "lab compared" in page.inner_text("#chart-compare .u-legend")
    assert {e for e in page.errors if "status of 401" not in e and "status of 404" not in e} == set()
    assert page.violations() == []


def test_enter_in_the_key_dialog_saves_the_key_and_escape_keeps_the_one_saved(two_tenants, page):
    """Enter in the key's field submitted the form with its first button, "Forget key": the key
    typed, and one remembered on the device, were thrown away.  Escape still leaves the saved
    key as it was, whatever was typed."""
    service, keys = two_tenants
    mine = finished(service.url, "lab run", keys["lab"])
    page.goto(f"{service.url}/dashboard")
    page.locator("#auth-banner").wait_for(state="visible", timeout=GUARD_MS)
    page.click("#key-button")
    page.fill("#key-input", keys["lab"])
    page.check("#key-remember")
    page.press("#key-input", "Enter")
    row(page, mine).wait_for(timeout=GUARD_MS)
    assert page.is_hidden("#key-dialog")
    assert keys["lab"] in stored(page).values()  # remembered, as ticked

    page.click("#key-button")
    page.fill("#key-input", keys["other"])  # typed, then abandoned
    page.keyboard.press("Escape")
    assert page.is_hidden("#key-dialog")
    page.wait_for_timeout(500)  # what a save would have started: a fetch with the other key
    assert row(page, mine).is_visible() and keys["lab"] in stored(page).values()
    assert keys["other"] not in stored(page).values()
    page.click("#key-button")
    assert page.input_value("#key-input") == keys["lab"]
    assert {e for e in page.errors if "status of 401" not in e} == set()
    assert page.violations() == []
