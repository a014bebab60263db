"""A real service process and a real Chromium for the dashboard tests.

Chromium comes from the system (``/usr/bin/chromium``, installed by ``make test``); Playwright
only drives it.  When either is missing the tests fail with the reason: they never skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from workloads import QuadraticRun

from zoadamm_service.launch import ServiceProcess

CHROMIUM = os.environ.get("ZOADAMM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
# Every Content-Security-Policy violation the page meets, for the tests to read
# (``page.violations()``); Chromium also logs each one as a console error.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture(scope="module")
def service():
    """A service on the embedded store, for a whole module."""
    with ServiceProcess() as svc:
        yield svc


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("ZOADAMM_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "dashboard"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)  # another test process may have made it meanwhile
    print(f"\ndashboard screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API holds an event loop on this thread while it runs,
    which later tests' asyncio.run would trip over."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make test-setup` (it installs chromium)"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, device_scale_factor=1)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.add_init_script(WATCH_CSP)
    pg.errors = errors
    pg.violations = lambda: pg.evaluate("window.__csp")
    yield pg
    context.close()


@pytest.fixture
def finished(service):
    """Runs of a few steps on the service, done before the page opens."""
    def run(name: str, steps: int = 30, **kwargs) -> str:
        made = QuadraticRun(service.url, name, steps=steps, pace_s=0, report_every=10, **kwargs)
        made.run()
        assert made.error is None, made.error
        return made.session.id

    return run
