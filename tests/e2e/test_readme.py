"""README.md's Python blocks run as written, in order, against the running system: what a newcomer copies works."""

import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.e2e.harness import CN, System, kafka_options

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(text: str) -> list[str]:
    """The README's fenced ```python blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.M | re.S)


def test_the_readme_has_the_blocks_a_newcomer_runs() -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 2, "the event and SDK examples"
    assert "ims-authorization" in blocks[0] and "create_whole_image" in blocks[1]


def test_every_python_block_of_the_readme_runs_in_order(system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    if kafka_options(system):
        pytest.skip("the README's producer speaks PLAINTEXT, as make run's broker does; compose's asks for SASL")
    assert system.kafka_bootstrap
    monkeypatch.setenv("IMS_KAFKA", system.kafka_bootstrap)
    monkeypatch.setenv("IMS_ENDPOINT", system.url("image-service", CN))
    namespace: dict[str, object] = {"__name__": "__readme__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in python_blocks(README.read_text()):
            exec(compile(block, str(README), "exec"), namespace)
    lines = printed.getvalue().split("\n")
    backup_id = lines[0].strip()
    assert lines[1].split() == ["SUCCESS", "active", backup_id], printed.getvalue()
