"""What the browser tests use: headless Chromium driven through Selenium (Debian's ``chromium`` and
``chromium-driver``), and the whole system as the end-to-end tests start it.

Without the browser the tests skip and say why (see README.md in this folder for the install).
"""

import os
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL = "apt-get install -y chromium chromium-driver, and selenium in the virtualenv (see tests/browser/README.md)"

# Flags for a headless Chromium run as root in a container, that talks to nothing but the pages it is sent to.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1440,900",
]


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: {INSTALL}"
    if not CHROMEDRIVER.exists():
        return f"no chromedriver at {CHROMEDRIVER}: {INSTALL}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"the selenium package is not installed: {INSTALL}"
    return None


MISSING = _missing()
requires_chromium = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh headless Chromium (its own profile), closed after the test."""
    if MISSING:
        pytest.skip(MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        with suppress(Exception):
            for entry in driver.get_log("browser"):
                print(f"[chromium] {entry.get('level')}: {entry.get('message')}")
        driver.quit()
