"""The dashboard in a real browser: ``journey dashboard`` started on a free port against a small serving copy, every
page of ``dashboard.app.PAGES`` opened by its url path in headless Chromium (Debian's package, /usr/bin/chromium),
waited for until Streamlit has finished running it, and checked for its expected text and for the absence of an
exception box. Screenshots go to a temporary folder, and to $JW_SCREENSHOT_DIR when set. Each page's time to
render is printed (``-s``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard.app import PAGES
from ingestion.config import REPO_ROOT

from .test_dashboard import serving  # noqa: F401  (the small serving copy, a fixture)

CHROMIUM = "/usr/bin/chromium"

# The text each page shows once it has run (its title, and a heading further down: the page ran past its queries).
EXPECTED = {
    "overview": ["Overview", "Revenue per day"],
    "channels": ["Channels", "Attributed revenue by model"],
    "customer_value": ["Customer value", "CLV backtest"],
    "cohorts": ["Cohorts", "by cohort and month since first purchase"],
    "journeys": ["Journeys", "Top paths to conversion", "From first touch to purchase", "Storefront funnel"],
    "campaigns": ["Campaigns", "Uplift with 95 % confidence interval", "Per campaign"],
    "experience": ["Experience", "Sentiment over time", "Service alerts", "Engagement tiers"],
    "customer_lookup": ["Customer lookup", "Show personal data", "Enter a person_id to look a person up."],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"journey dashboard exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"journey dashboard did not answer on {url} within {timeout} s")


def finished(page, timeout_ms: float = 60_000) -> None:
    """Wait until Streamlit has run the page: the app has rendered a script run (the title) and is no longer running."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"] h1', timeout=timeout_ms)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]').getAttribute('data-test-script-state') === 'notRunning'"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=timeout_ms,
    )


def page_url(base: str, name: str) -> str:
    """A page's address: the default page (the first of PAGES) is served at the app's root, the others at their name."""
    return f"{base}/" if name == PAGES[0][0] else f"{base}/{name}"


def render(page, url: str) -> float:
    """Open ``url`` and wait until the page has finished running; the seconds it took."""
    started = time.monotonic()
    page.goto(url)
    finished(page)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def dashboard_url(serving):  # noqa: F811
    port = free_port()
    env = {**os.environ, "JW_SERVING_PATH": str(serving),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    journey = Path(sys.executable).with_name("journey")
    command = [str(journey)] if journey.exists() else [sys.executable, "-m", "orchestration.cli"]
    process = subprocess.Popen([*command, "dashboard", "--port", str(port), "--address", "127.0.0.1"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield browser
        browser.close()


def test_every_page_renders_in_chromium(dashboard_url, browser, tmp_path):
    shots = [tmp_path]
    if os.environ.get("JW_SCREENSHOT_DIR"):
        shots.append(Path(os.environ["JW_SCREENSHOT_DIR"]))
        shots[-1].mkdir(parents=True, exist_ok=True)
    assert set(EXPECTED) == {name for name, _, _ in PAGES}, "every page of PAGES has its expected texts here"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    times, problems = {}, []
    for name, title, _ in PAGES:
        times[name] = render(page, page_url(dashboard_url, name))
        text = page.inner_text('[data-testid="stMain"]')
        for expected in EXPECTED[name]:
            if expected not in text:
                problems.append(f"{name}: {expected!r} not shown")
        if page.get_by_text("Page not found").count():  # Streamlit ran the main page instead
            problems.append(f"{name}: page not found")
        if page.locator('[data-testid="stException"]').count():
            problems.append(f"{name}: exception: {page.locator('[data-testid=stException]').first.inner_text()[:500]}")
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        for folder in shots[1:]:
            shutil.copyfile(tmp_path / f"{name}.png", folder / f"{name}.png")
    print("render seconds:", {name: round(seconds, 2) for name, seconds in times.items()})
    assert not problems, "\n".join(problems)
