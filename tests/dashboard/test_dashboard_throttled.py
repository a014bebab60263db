"""The dashboard when the service asks it to wait: an address that sent too many unknown keys
(ZOADAMM_AUTH_FAIL_LIMIT: 429 with the 401's challenge) and a key over its rate limit
(ZOADAMM_RATE_LIMIT: 429 with Retry-After)."""

from __future__ import annotations

import re

import httpx
from waits import GUARD_MS

from zoadamm_service.launch import ServiceProcess
from zoadamm_service.tenants import entry, new_key

TABLE = "/v1/dashboard/sessions"


def asked(page) -> list[str]:
    """The table's requests the page sends from now on."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url) if r.url.endswith(TABLE) else None)
    return urls


def until(page, check, what: str) -> None:
    """waits.until, but for the refusals this module expects, which Chromium logs as errors."""
    for _ in range(GUARD_MS // 100):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the page never showed {what}")


def test_too_many_wrong_keys_from_this_address_asks_for_a_key_and_stops_asking(page, artifacts):
    key = new_key()
    # per hour: a sliding window that a minute's turn would half forget
    env = {"ZOADAMM_API_KEYS": entry("lab", key), "ZOADAMM_AUTH_FAIL_LIMIT": "2/hour"}
    with ServiceProcess(env=env) as service:
        with httpx.Client(base_url=service.url, headers={"Authorization": "Bearer wrong"}) as http:
            answers = [http.get(TABLE) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 429, 429]
        assert "www-authenticate" in answers[-1].headers and "retry-after" in answers[-1].headers
        sent = asked(page)
        page.goto(service.url + "/dashboard")
        until(page, lambda: page.is_visible("#auth-banner"), "the key prompt")
        # a page with no key yet guesses none: asked for a key, as from any other address
        assert page.inner_text("#auth-title") == "401: this service needs an API key."
        page.click("#auth-enter")
        page.fill("#key-input", "another-wrong-key")
        page.click("#key-save")
        throttled = "429: too many wrong API keys were sent from this address."
        until(page, lambda: page.is_visible("#auth-banner") and page.inner_text("#auth-title") == throttled,
              "the address refused")
        refused = len(sent)
        assert "refuses unknown keys from here for" in page.inner_text("#auth-detail")
        assert "a right key still passes" in page.inner_text("#auth-detail")
        assert "Too many wrong API keys" in page.inner_text("#empty")
        assert "HTTP 429" not in page.inner_text("#status")
        page.screenshot(path=str(artifacts / "too-many-wrong-keys.png"), full_page=True)
        page.wait_for_timeout(2500)  # two refreshes' time: the same key would be refused, and counted
        assert len(sent) == refused, sent

        page.click("#auth-enter")
        page.fill("#key-input", key)
        page.click("#key-save")
        until(page, lambda: page.is_hidden("#auth-banner") and "No sessions yet" in page.inner_text("#empty"),
              "the table, with a right key")
    assert not [e for e in page.errors if "status of 401" not in e and "status of 429" not in e]
    assert page.violations() == []


def test_a_rate_limit_is_waited_out_as_retry_after_asks(page):
    with ServiceProcess(env={"ZOADAMM_RATE_LIMIT": "3/hour"}) as service:
        sent = asked(page)
        page.goto(service.url + "/dashboard")
        until(page, lambda: "HTTP 429" in page.inner_text("#status"), "the refusal")
        refused = len(sent)
        page.wait_for_timeout(2500)  # two refreshes' time: none asked (Retry-After is most of an hour)
        assert len(sent) == refused, sent
        first = page.inner_text("#status")
        # what is left of the hour's window (counted from the hour's start: under a minute in its last)
        assert re.search(r"asking again in (\d+ s|\d+ m \d+ s|\d+ h \d+ m)$", first), first
        until(page, lambda: page.inner_text("#status") != first, "the wait counted down")
        assert "asking again in" in page.inner_text("#status")
    assert not [e for e in page.errors if "status of 429" not in e]
    assert page.violations() == []


# counts the page's live setInterval timers (window.__live())
COUNT_INTERVALS = """(() => { const live = new Set(); const set = window.setInterval.bind(window);
  const clear = window.clearInterval.bind(window);
  window.setInterval = (f, t, ...a) => { const id = set(f, t, ...a); live.add(id); return id; };
  window.clearInterval = (id) => { live.delete(id); clear(id); }; window.__live = () => live.size; })();"""


def test_refusals_of_overlapping_refreshes_leave_one_countdown_and_none_once_answered(page):
    """Two refreshes at once (a click while one waits) both refused: the countdown of the first
    must not keep running, or the old refusal comes back over the live status every second."""
    with ServiceProcess() as service:
        page.add_init_script(COUNT_INTERVALS)
        refusing = {"on": False}

        def answer(route):
            if refusing["on"]:
                route.fulfill(status=429, headers={"Retry-After": "2", "content-type": "application/json"},
                              body='{"detail": "over the rate limit; retry in 2 s"}')
            else:
                route.continue_()

        page.route("**" + TABLE, answer)
        page.goto(service.url + "/dashboard")
        until(page, lambda: page.inner_text("#status").startswith("live"), "the live table")
        refusing["on"] = True
        # two refreshes started in one turn of the page's event loop: both wait on the table at once
        page.evaluate("""() => { const r = document.getElementById("refresh");
                                 r.dispatchEvent(new Event("input")); r.dispatchEvent(new Event("input")); }""")
        until(page, lambda: "asking again in" in page.inner_text("#status"), "the refusal")
        assert page.evaluate("__live()") == 1
        refusing["on"] = False
        until(page, lambda: page.inner_text("#status").startswith("live"), "the live table again")
        shown = set()
        for _ in range(15):  # a leaked countdown would write the refusal again within a second
            page.wait_for_timeout(200)
            shown.add(page.inner_text("#status").split(" · ")[0])
        assert shown == {"live"} and page.evaluate("__live()") == 0
