"""The console's login form where no tenant is listed (a deployment: DEVELOPMENT_MODE unset), in headless Chromium.

The console's routes are served by uvicorn in a thread, with one image list route behind the real authentication
(``Who``): what the page signs is verified as image-service verifies it. No database, no Kafka.
"""

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from image_service.context import Who
from ims_devstack import free_port
from tests.browser.conftest import console_app, requires_chromium
from tests.browser.test_console import by_id, type_into, visible_text, wait
from tests.e2e.harness import CN, CREDENTIALS

pytestmark = requires_chromium
GAMMA = next(t for t in CREDENTIALS.tenants if t.name == "gamma")  # its own keys, not the published ones


@pytest.fixture(scope="module")
def deployed_console() -> Iterator[str]:
    port = free_port()
    app = console_app(http_port=port, development_mode=False)

    @app.get("/v2/cloudimages")
    async def no_images(who: Who) -> dict[str, Any]:
        return {"images": [], "page_info": {}}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def open_console(driver: Any, base: str) -> None:
    driver.get(f"{base}/console/")
    wait(driver, lambda: driver.execute_script("return document.body.dataset.ready"), "the console to start")


def test_without_a_tenant_list_the_form_asks_for_the_project_and_logs_in(browser: Any, deployed_console: str) -> None:
    driver = browser
    open_console(driver, deployed_console)
    assert driver.execute_script("return ImsConsole.state.config.tenants") == []
    assert not by_id(driver, "login-tenant").is_displayed() and not by_id(driver, "login-tenant-label").is_displayed()
    for field in ("login-ak", "login-sk", "login-project"):
        assert by_id(driver, field).is_displayed() and by_id(driver, field).get_attribute("value") == ""
    assert "project in this region" in visible_text(driver, "login-hint")

    # The project is not filled in: the form says what is missing instead of sending anything.
    type_into(driver, "login-ak", GAMMA.access_key)
    type_into(driver, "login-sk", GAMMA.secret_key)
    by_id(driver, "login-submit").click()
    assert "project" in wait(driver, lambda: visible_text(driver, "login-error"), "the missing project")

    # Another tenant's project: the server refuses it, and the page shows what it said.
    type_into(driver, "login-project", CREDENTIALS.tenants[0].projects[CN])
    by_id(driver, "login-submit").click()
    assert "APIGW.0302" in wait(driver, lambda: visible_text(driver, "login-error"), "the refused project")

    type_into(driver, "login-project", GAMMA.projects[CN])
    by_id(driver, "login-submit").click()
    wait(driver, lambda: by_id(driver, "list-view").is_displayed(), "the private image list")
    assert by_id(driver, "who").text == f"{GAMMA.access_key} · project {GAMMA.projects[CN]}"
