"""What the browser tests use: headless Chromium driven through Selenium (Debian's ``chromium`` and
``chromium-driver``), and the whole system as the end-to-end tests start it.

Without the browser the tests skip and say why (see README.md in this folder for the install).
"""

import os
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from image_service.app import bootstrap
from image_service.console import router
from image_service.settings import ImageSettings
from ims_shared.errors import install_error_handlers
from tests.e2e.harness import TENANTS_FILE

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


def console_app(region: str = "cn-north-4", http_port: int = 8101, *, development_mode: bool = True) -> FastAPI:
    """image-service's console routes and nothing else (no database, no Kafka), with tests/e2e/tenants.json."""
    app = FastAPI()
    install_error_handlers(app, "ims", "IMG.0001")
    settings = ImageSettings(
        region=region,
        deployed_regions="cn-north-4,ap-southeast-1",
        http_port=http_port,
        tenants_file=str(TENANTS_FILE),
        development_mode=development_mode,
    )
    app.state.service = bootstrap(settings)  # what build_app does, without the runtime: no database, no Kafka
    app.include_router(router)
    return app


def client_of(app: FastAPI, base_url: str = "http://127.0.0.1:8101") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
