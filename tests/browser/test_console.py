"""The seed procedure in the console, in headless Chromium, against the whole running system.

Log in as a development tenant, create a full-ECS image from a CBR backup with the form (region, type, source,
name, enterprise project, tags, description, agreement), go back to the private image list and watch the status
become Normal, then Apply for Server (the form holds the image's disks; a smaller disk is refused), see the new ECS
with its disks on the Servers page, stop it, change its OS with the image (warned that the image's data disks are
not restored), start and delete it, share the image with another tenant's project, open the replication dialog,
and delete the image with its backup. Screenshots go to .run/ (``console.png`` is the image list once Normal).
"""

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from huaweicloudsdkcbr.v1 import ShowBackupRequest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import ShowServerRequest
from huaweicloudsdkims.v2 import GlanceShowImageRequest

from tests.browser.conftest import REPO, requires_chromium
from tests.e2e.harness import ALPHA, BETA, CN, System, cbr, ecs, eventually, ims, known_backup

pytestmark = [pytest.mark.e2e, requires_chromium]

SHOTS = REPO / ".run"
ENTERPRISE_PROJECT = ALPHA.enterprise_projects[0]
T = TypeVar("T")


def wait(driver: Any, probe: Callable[[], T | None], what: str, timeout_s: float = 20.0) -> T:
    """Poll ``probe`` in the page until it returns something truthy."""
    from selenium.common.exceptions import WebDriverException

    def attempt() -> T | None:
        try:
            return probe()
        except WebDriverException:
            return None

    try:
        return eventually(attempt, timeout_s=timeout_s, what=what)
    except AssertionError:
        shot(driver, "console-failure.png")
        raise


def shot(driver: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    driver.save_screenshot(str(path))
    return path


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def visible_text(driver: Any, element_id: str) -> str:
    element = by_id(driver, element_id)
    return str(element.text) if element.is_displayed() else ""


def type_into(driver: Any, element_id: str, text: str) -> None:
    element = by_id(driver, element_id)
    element.clear()
    element.send_keys(text)


def image_row(driver: Any, image_name: str) -> Any:
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, "#images tbody tr"):
        if row.find_element(By.CSS_SELECTOR, ".image-name").text == image_name:
            return row
    return None


def click_op(driver: Any, image_name: str, operation: str) -> None:
    """Click an operation of the image's row (the list is redrawn as it refreshes: find the row again if needed)."""
    from selenium.webdriver.common.by import By

    def attempt() -> bool:
        image_row(driver, image_name).find_element(By.CSS_SELECTOR, f".op-{operation}").click()
        return True

    wait(driver, attempt, f"{operation} of {image_name}")


def server_row(driver: Any, server_name: str) -> Any:
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, "#servers tbody tr"):
        if row.find_element(By.CSS_SELECTOR, ".server-name").text == server_name:
            return row
    return None


def server_status(driver: Any, server_name: str) -> str | None:
    from selenium.webdriver.common.by import By

    row = server_row(driver, server_name)
    return None if row is None else str(row.find_element(By.CSS_SELECTOR, ".server-status").text)


def click_server_op(driver: Any, server_name: str, operation: str) -> None:
    from selenium.webdriver.common.by import By

    def attempt() -> bool:
        button = server_row(driver, server_name).find_element(By.CSS_SELECTOR, f".op-{operation}")
        if not button.is_enabled():
            return False
        button.click()
        return True

    wait(driver, attempt, f"{operation} of ECS {server_name}")


def job_entry(driver: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By

    for job in driver.find_elements(By.CSS_SELECTOR, "#jobs .job"):
        if job.find_element(By.CSS_SELECTOR, ".job-name").text == label:
            return job
    return None


def log_in(driver: Any, base: str, tenant: str, ak: str, sk: str) -> None:
    from selenium.webdriver.support.ui import Select

    driver.get(f"{base}/console")
    wait(driver, lambda: driver.execute_script("return document.body.dataset.ready"), "the console to start")
    Select(by_id(driver, "login-tenant")).select_by_value(tenant)
    type_into(driver, "login-ak", ak)
    type_into(driver, "login-sk", sk)
    by_id(driver, "login-submit").click()


def test_create_a_full_ecs_image_from_a_cbr_backup_in_the_console(system: System, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    base = system.url("image-service", CN)
    backup = known_backup(system, disks=2)
    name = f"console-image-{uuid.uuid4().hex[:6]}"

    # Log in: a wrong secret key is refused by the server, and the console says what it said.
    log_in(driver, base, "alpha", ALPHA.access_key, "not-the-secret")
    error = wait(driver, lambda: visible_text(driver, "login-error"), "the log-in error")
    assert "APIGW.0301" in error and "signature" in error
    # The development tenant's keys are offered; the project is the tenant's in this region.
    Select(by_id(driver, "login-tenant")).select_by_value("beta")
    Select(by_id(driver, "login-tenant")).select_by_value("alpha")
    assert by_id(driver, "login-ak").get_attribute("value") == ALPHA.access_key
    assert by_id(driver, "login-project").get_attribute("value") == ALPHA.projects[CN]
    log_in(driver, base, "alpha", ALPHA.access_key, ALPHA.secret_key)
    wait(driver, lambda: by_id(driver, "list-view").is_displayed(), "the private image list")
    assert "alpha" in by_id(driver, "who").text

    # Create Image: the backup comes from the CBR API (another origin), in the form's source list.
    by_id(driver, "create-image").click()
    row = wait(
        driver,
        lambda: css(driver, f'#backups tr[data-backup-id="{backup.backup_id}"]'),
        "the backup in the source list",
    )
    assert by_id(driver, "type-whole").is_selected() and by_id(driver, "source-cbr").is_selected()
    assert Select(by_id(driver, "create-region")).first_selected_option.get_attribute("value") == CN

    # The seed's validations, before any request: no backup, a name with a leading space, '<' in the description.
    type_into(driver, "create-name", " leading-space")
    type_into(driver, "create-description", "<b>not allowed</b>")
    by_id(driver, "create-next").click()
    problems = {e.get_attribute("data-for"): e.text for e in driver.find_elements(By.CSS_SELECTOR, ".field-error")}
    assert "Select a cloud server backup" in problems["backup"]
    assert "start or end with a space" in problems["name"]
    assert "angle brackets" in problems["description"]

    row.click()
    type_into(driver, "create-name", name)
    type_into(driver, "create-description", "Full-ECS image of ecs-demo, made in the console")
    Select(by_id(driver, "create-enterprise")).select_by_value(ENTERPRISE_PROJECT)
    css(driver, "#tags .tag-key").send_keys("env")
    css(driver, "#tags .tag-value").send_keys("dev")
    shot(driver, "console-create.png")
    by_id(driver, "create-next").click()
    summary = wait(driver, lambda: visible_text(driver, "create-summary"), "the confirmation")
    shot(driver, "console-confirm.png")
    assert name in summary and backup.backup_id in summary and "env=dev" in summary

    # The agreement is required.
    by_id(driver, "create-submit").click()
    assert "agree" in css(driver, '.field-error[data-for="agreement"]').text
    by_id(driver, "create-agreement").click()
    by_id(driver, "create-submit").click()

    # Back on the private image list: the job shows its progress, and the status becomes Normal.
    wait(driver, lambda: by_id(driver, "list-view").is_displayed(), "the image list after submitting")
    wait(driver, lambda: name in css(driver, "#jobs .job").text, "the creation job under Tasks")
    seen: set[str] = set()

    def normal() -> bool:
        found = image_row(driver, name)
        if found is None:
            return False
        status = found.find_element(By.CSS_SELECTOR, ".status").text
        seen.add(status)
        return status == "Normal"

    wait(driver, normal, "the image to become Normal", timeout_s=90)
    wait(driver, lambda: css(driver, "#jobs .job").get_attribute("data-status") == "SUCCESS", "the job to succeed")
    assert "100%" in css(driver, "#jobs .job .job-state").text
    image_id = wait(driver, lambda: image_row(driver, name).get_attribute("data-image-id"), "the image id")
    image = ims(system).glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert image.status == "active" and image.backup_id == backup.backup_id
    assert image.enterprise_project_id == ENTERPRISE_PROJECT
    assert seen <= {"Queued", "Saving", "Normal"}, seen
    wait(driver, lambda: not by_id(driver, "toast").is_displayed(), "the notice to fade", timeout_s=10)
    shot(driver, "console.png")

    apply_for_server(driver, system, name, image_id)

    # Share with beta's project in this region.
    click_op(driver, name, "share")
    wait(driver, lambda: by_id(driver, "share-dialog").is_displayed(), "the share dialog")
    type_into(driver, "share-projects", ALPHA.projects[CN])
    by_id(driver, "share-submit").click()
    assert "own project" in wait(driver, lambda: visible_text(driver, "share-error"), "the own-project refusal")
    type_into(driver, "share-projects", BETA.projects[CN])
    by_id(driver, "share-submit").click()
    member = wait(
        driver, lambda: css(driver, f'#share-members tr[data-member-id="{BETA.projects[CN]}"]'), "beta as a member"
    )
    assert member.find_element(By.CSS_SELECTOR, ".member-status").text == "pending"
    assert ims(system, BETA).glance_show_image(GlanceShowImageRequest(image_id=image_id)).id == image_id
    shot(driver, "console-share.png")
    by_id(driver, "share-cancel").click()

    # Replicate: the routes of this region, and the destination vault is required.
    click_op(driver, name, "replicate")
    wait(driver, lambda: by_id(driver, "replicate-dialog").is_displayed(), "the replicate dialog")
    regions = [o.get_attribute("value") for o in Select(by_id(driver, "replicate-region")).options]
    assert regions == ["ap-southeast-1"]
    by_id(driver, "replicate-submit").click()
    assert "vault" in wait(driver, lambda: visible_text(driver, "replicate-error"), "the vault requirement")
    by_id(driver, "replicate-cancel").click()

    # Delete, with the CBR backup.
    click_op(driver, name, "delete")
    wait(driver, lambda: by_id(driver, "delete-dialog").is_displayed(), "the delete dialog")
    assert backup.backup_id in by_id(driver, "delete-backup-id").text
    by_id(driver, "delete-backup").click()
    by_id(driver, "delete-submit").click()
    wait(driver, lambda: image_row(driver, name) is None, "the image to leave the list")
    client = cbr(system)

    def backup_gone() -> bool:
        try:
            client.show_backup(ShowBackupRequest(backup_id=backup.backup_id))
        except ClientRequestException as exc:
            return exc.status_code == 404
        return False

    eventually(backup_gone, timeout_s=30, what="the CBR backup to be deleted with the image")


def apply_for_server(driver: Any, system: System, image_name: str, image_id: str) -> None:
    """Apply for Server from the image, then the new ECS on the Servers page: power, Change OS, Delete."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # The form holds every disk of the image, at the image's size and volume type.
    click_op(driver, image_name, "server")
    wait(driver, lambda: by_id(driver, "server-create-view").is_displayed(), "the Apply for Server form")
    rows = wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#server-disks tbody tr"), "the image's disks")
    shown = [
        (
            row.find_element(By.CSS_SELECTOR, ".disk-role").text,
            row.find_element(By.CSS_SELECTOR, ".disk-device").text,
            row.find_element(By.CSS_SELECTOR, ".disk-size").get_attribute("value"),
            Select(row.find_element(By.CSS_SELECTOR, ".disk-type")).first_selected_option.text,
        )
        for row in rows
    ]
    assert shown == [("System disk", "/dev/vda", "40", "SSD"), ("Data disk", "/dev/vdb", "10", "SSD")]
    assert "only the system disk" in by_id(driver, "server-note").text
    wait(driver, lambda: Select(by_id(driver, "server-flavor")).first_selected_option.get_attribute("value"), "flavors")
    server_name = f"console-ecs-{uuid.uuid4().hex[:6]}"
    type_into(driver, "server-name", server_name)

    # A disk may grow, never shrink: a data disk smaller than the image's is refused before any request.
    data_disk = css(driver, '#server-disks tr[data-device="/dev/vdb"] .disk-size')
    data_disk.clear()
    data_disk.send_keys("5")
    by_id(driver, "server-submit").click()
    refusal = css(driver, '.field-error[data-for="server-disks"]').text
    assert "5 GB is smaller than the image's 10 GB" in refusal and "never shrink" in refusal
    assert by_id(driver, "server-create-view").is_displayed()
    data_disk.clear()
    data_disk.send_keys("10")
    shot(driver, "console-server.png")
    by_id(driver, "server-submit").click()

    # The Servers page: the ECS appears with the image's disks at the image's sizes, and becomes Running.
    wait(driver, lambda: by_id(driver, "servers-view").is_displayed(), "the Servers page")
    wait(driver, lambda: server_status(driver, server_name) == "Running", "the ECS to run", timeout_s=60)
    disks = server_row(driver, server_name).find_element(By.CSS_SELECTOR, ".disks").text
    assert "System disk /dev/vda · 40 GB · SSD" in disks and "Data disk /dev/vdb · 10 GB · SSD" in disks
    server_id = server_row(driver, server_name).get_attribute("data-server-id")
    created = wait(
        driver,
        lambda: (
            (job := job_entry(driver, f"Create ECS {server_name}"))
            and job.get_attribute("data-status") == "SUCCESS"
            and job
        ),
        "the creation job under Tasks",
    )
    assert f"ECS {server_id}" in created.text
    client = ecs(system)
    server = client.show_server(ShowServerRequest(server_id=server_id)).server
    assert server.image.id == image_id and len(server.os_extended_volumesvolumes_attached) == 2

    # Stop: the status the user sees changes, and so does the ECS's.
    click_server_op(driver, server_name, "stop")
    wait(driver, lambda: server_status(driver, server_name) == "Stopped", "the ECS to stop")
    assert client.show_server(ShowServerRequest(server_id=server_id)).server.status == "SHUTOFF"
    shot(driver, "console-servers.png")

    # Change OS with the full-ECS image: warned that the image's data disks are not restored.
    click_server_op(driver, server_name, "changeos")
    wait(driver, lambda: by_id(driver, "changeos-dialog").is_displayed(), "the Change OS dialog")
    wait(driver, lambda: css(driver, f'#changeos-image option[value="{image_id}"]'), "the image among the choices")
    Select(by_id(driver, "changeos-image")).select_by_value(image_id)
    warning = wait(driver, lambda: visible_text(driver, "changeos-warning"), "the data disk warning")
    assert "data disks are not restored" in warning and "/dev/vdb 10 GB" in warning
    shot(driver, "console-changeos.png")
    by_id(driver, "changeos-submit").click()
    changed = wait(
        driver,
        lambda: (
            (job := job_entry(driver, f"Change OS of {server_name}"))
            and job.get_attribute("data-status") == "SUCCESS"
            and job
        ),
        "the OS change to end",
        timeout_s=60,
    )
    assert "not restored" in changed.text
    wait(driver, lambda: server_status(driver, server_name) == "Running", "the ECS to run after its OS change")
    disks = server_row(driver, server_name).find_element(By.CSS_SELECTOR, ".disks").text
    assert "/dev/vdb · 10 GB" in disks, "the ECS keeps its data disk"

    # Delete it with its disks.
    click_server_op(driver, server_name, "delete-server")
    wait(driver, lambda: by_id(driver, "server-delete-dialog").is_displayed(), "the delete dialog")
    by_id(driver, "server-delete-volumes").click()
    by_id(driver, "server-delete-submit").click()
    wait(driver, lambda: server_row(driver, server_name) is None, "the ECS to leave the list")
    by_id(driver, "nav-images").click()
    wait(driver, lambda: by_id(driver, "list-view").is_displayed(), "the image list again")
