"""docs/walkthrough.py, the seed as one script with the official SDKs only, runs through against the system."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import System

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "walkthrough.py"
STEPS = [
    "An ECS from a public image, with a data disk",
    "A CBR vault that holds it, and a checkpoint of it",
    "A full-ECS image from the backup",
    "Shared with beta, who accepts it into its own vault",
    "Replicated to ap-southeast-1",
    "A server from the image in each region, and one in beta's project: every disk of the image",
    "Another server's OS changed with the image: only the system disk is written",
    "The image deleted with its backup",
]


def test_the_walkthrough_runs_the_seed_end_to_end(system: System) -> None:
    offset = str(getattr(system, "port_offset", 0))
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**os.environ, "PORT_OFFSET": offset},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    printed = done.stdout
    assert [line[3:] for line in printed.splitlines() if line.startswith("== ")] == STEPS
    assert "data disks kept as they were: True" in printed
    assert "are gone; the servers made from the image keep running" in printed
