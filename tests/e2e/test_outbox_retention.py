"""Published events leave the outbox once older than OUTBOX_RETENTION_S (3 s in these tests), and operators see
it in /metrics. In ap-southeast-1: cn-north-4 may have a second image-service on the same database by now (a
session fixture), which prunes as well and counts what it prunes in its own /metrics."""

import re

import httpx
import pytest

from tests.e2e.harness import AP, System, create_image, eventually, ims, known_backup, wait_job

pytestmark = pytest.mark.e2e


def pruned(system: System) -> float:
    text = httpx.get(f"{system.url('image-service', AP)}/metrics", timeout=5).text
    match = re.search(r"^ims_outbox_pruned_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_image_service_prunes_the_events_it_published(system: System) -> None:
    before = pruned(system)
    backup = known_backup(system, region=AP)
    client = ims(system, region=AP)
    job = wait_job(client, create_image(client, name="pruned-later", backup_id=backup.backup_id))
    assert job.status == "SUCCESS"
    # The request's ImageRequested and the image's ImageCreated were published, then pruned.
    eventually(lambda: pruned(system) >= before + 2, timeout_s=30, what="image-service to prune its outbox")
