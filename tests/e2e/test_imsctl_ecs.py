"""imsctl's ECS commands and its quiet output against the running system, as a script uses them: the ids captured
with ``$(imsctl ... -q)`` in a shell (the lines of README.md's imsctl example), an ECS made from the full-ECS image
with every disk at the image's sizes, listed with its disks, stopped, its OS changed (warned that the image's data
disks are not restored), started and deleted."""

import json
import os
import subprocess

import pytest

from ims_shared.public_images import public_images
from tests.e2e.harness import ALPHA, CN, TENANTS_FILE, System, eventually, kafka_options
from tests.e2e.test_imsctl import _command, imsctl

pytestmark = pytest.mark.e2e


def shell(system: System, script: str) -> dict[str, str]:
    """Run ``script`` in bash with imsctl on the PATH and the system's endpoints; it prints NAME=VALUE lines."""
    assert system.kafka_bootstrap
    if kafka_options(system):
        pytest.skip("imsctl connects to Kafka in PLAINTEXT only; this system's broker asks for SASL")
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(_command()[0])}:{os.environ.get('PATH', '')}",
        "IMSCTL_BOOTSTRAP": system.kafka_bootstrap,
        "IMSCTL_IMS_URL": system.url("image-service", CN),
        "IMSCTL_CBR_URL": system.url("backup-service", CN),
        "IMSCTL_ECS_URL": system.url("compute-service", CN),
        "IMSCTL_TENANTS_FILE": str(TENANTS_FILE),
        "IMSCTL_TENANT": ALPHA.name,
        "IMSCTL_REGION": CN,
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}: {done.stderr}"
    assert done.stderr == "", "-q writes nothing on standard error"
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def test_ids_captured_quietly_make_an_ecs_with_the_images_disks_that_imsctl_powers_and_deletes(
    system: System,
) -> None:
    ids = shell(
        system,
        """
        B=$(imsctl produce backup-created -q --disks 2)
        I=$(imsctl ims create -q --wait --backup-id "$B" --name web)
        S=$(imsctl ecs create -q --wait --image-id "$I" --name imsctl-ecs)
        echo "B=$B"; echo "I=$I"; echo "S=$S"
        """,
    )
    backup_id, image_id, server_id = ids["B"], ids["I"], ids["S"]
    assert all(len(i) == 36 for i in (backup_id, image_id, server_id)), ids

    shown = json.loads(imsctl(system, "ecs", "show", server_id).stdout)
    assert shown["server"]["status"] == "ACTIVE" and shown["server"]["image"]["id"] == image_id
    assert [(v["size"], v["bootable"]) for v in shown["volumes"]] == [(40, "true"), (20, "false")]
    listed = imsctl(system, "ecs", "list", "--name", "imsctl-ecs").stdout
    assert server_id in listed and "/dev/vda 40 GB SSD, /dev/vdb 20 GB SSD" in listed

    # A disk smaller than the image's is refused; a larger one is taken.
    refused = imsctl(
        system, "ecs", "create", "--image-id", image_id, "--name", "small", "--data-disk-gb", "10", check=False
    )
    assert refused.returncode == 2 and "10 GB is smaller than the image's 20 GB" in refused.stderr
    larger = imsctl(system, "ecs", "create", "-q", "--image-id", image_id, "--name", "big", "--system-disk-gb", "60")
    big = larger.stdout.strip()
    volumes = eventually(
        lambda: (v := json.loads(imsctl(system, "ecs", "show", big).stdout)["volumes"]) and v, what="the big ECS"
    )
    assert sorted(v["size"] for v in volumes) == [20, 60]

    imsctl(system, "ecs", "stop", server_id, "--wait")
    assert json.loads(imsctl(system, "ecs", "show", server_id).stdout)["server"]["status"] == "SHUTOFF"
    changed = imsctl(system, "ecs", "change-os", server_id, "--image-id", image_id, "--wait")
    warning = " ".join(changed.stderr.split())
    assert "(/dev/vdb 20 GB) that are not restored" in warning and "not restored" in warning
    eventually(
        lambda: json.loads(imsctl(system, "ecs", "show", server_id).stdout)["server"]["status"] == "ACTIVE",
        what="the ECS to run after its OS change",
    )
    imsctl(system, "ecs", "stop", server_id)
    imsctl(system, "ecs", "start", server_id, "--wait")
    assert json.loads(imsctl(system, "ecs", "show", server_id).stdout)["server"]["status"] == "ACTIVE"

    imsctl(system, "ecs", "delete", server_id, big, "--delete-volumes", "--wait")
    gone = imsctl(system, "ecs", "show", server_id, check=False)
    assert gone.returncode == 1 and "Ecs.0114" in gone.stderr


def test_a_script_backs_up_its_ecs_into_a_vault_it_made_and_deleting_the_vault_deletes_the_backup(
    system: System,
) -> None:
    linux = next(image for image in public_images(CN) if image.platform == "Ubuntu")
    ids = shell(
        system,
        f"""
        S=$(imsctl ecs create -q --wait --image-id {linux.id} --name vaulted --data-disk-gb 10)
        # backup-service learns of the new ECS from its ServerRegistered a moment later
        for _ in $(seq 60); do
          V=$(imsctl vault create -q --name "vault-$S" --size-gb 200 --server-id "$S" 2>/dev/null) && break
          sleep 0.5
        done
        B=$(imsctl cbr checkpoint -q --server-id "$S" --vault-id "$V")
        echo "S=$S"; echo "V=$V"; echo "B=$B"
        """,
    )
    server_id, vault_id, backup_id = ids["S"], ids["V"], ids["B"]
    vault = json.loads(imsctl(system, "vault", "show", vault_id).stdout)["vault"]
    assert [r["id"] for r in vault["resources"]] == [server_id] and vault["billing"]["size"] == 200
    assert vault_id in imsctl(system, "vault", "list").stdout
    backup = eventually(
        lambda: (
            (b := json.loads(imsctl(system, "cbr", "show", backup_id).stdout)["backup"])["status"] == "available" and b
        ),
        what="the checkpoint's backup",
    )
    assert backup["vault_id"] == vault_id and backup["resource_id"] == server_id

    imsctl(system, "vault", "delete", vault_id)
    eventually(
        lambda: imsctl(system, "cbr", "show", backup_id, check=False).returncode != 0,
        what="the vault's backup deleted with it",
    )
    assert imsctl(system, "vault", "show", vault_id, check=False).returncode != 0
