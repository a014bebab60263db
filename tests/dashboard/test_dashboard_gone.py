"""Why a session left the view, in the service's words where its 404 gives them: an in-memory
service that restarted has none of its sessions, which is no deletion."""

from __future__ import annotations

from waits import GUARD_MS, read, until
from workloads import QuadraticRun

from zoadamm_service.launch import ServiceProcess


def banner(page) -> str:
    """The note once it shows (not ``until``: the failed requests while the service is down,
    and the one 404, are logged as errors)."""
    for _ in range(GUARD_MS // 100):
        if page.is_visible("#gone-banner"):
            break
        page.wait_for_timeout(100)
    return read(page.inner_text("#gone-text"))


def test_after_a_restart_the_note_gives_the_services_reason(page):
    with ServiceProcess() as first:
        run = QuadraticRun(first.url, "before the restart", steps=5, pace_s=0)
        run.run()
        assert run.error is None, run.error
        sid = run.session.id
        page.goto(f"{first.url}/dashboard#s={sid}")
        until(page, lambda: page.inner_text("#detail-title") == "before the restart", "the session")
    with ServiceProcess(port=first.port):  # the same address, which the page goes on polling
        text = banner(page)
    assert text == (f"The session before the restart ({sid[:8]}) is no longer on the service, which answered: "
                    f"no session '{sid}' (this service keeps its sessions in its own memory, which a restart "
                    "empties: REDIS_URL keeps them). It left the detail.")
    assert page.violations() == []


def test_a_404_without_a_reason_leaves_the_pages_own(service, page):
    """A 404 that is no JSON (a proxy's page): the note says what the page knows."""
    run = QuadraticRun(service.url, "behind a proxy", steps=5, pace_s=0)
    run.run()
    sid = run.session.id
    page.goto(f"{service.url}/dashboard#s={sid}")
    until(page, lambda: page.inner_text("#detail-title") == "behind a proxy", "the session")
    page.route(f"**/v1/dashboard/sessions/{sid}*", lambda route: route.fulfill(
        status=404, content_type="text/html", body="<h1>404 Not Found</h1><script>window.ran = 1</script>"))
    assert banner(page) == (f"The session behind a proxy ({sid[:8]}) is no longer on the service: deleted, or "
                            "expired. It left the detail.")
    assert page.evaluate("window.ran") is None and page.violations() == []
