"""The shared package holds only what the services run: none of its modules imports a service, a developer tool
(tools/) or the tests, so that a service's image installs the service and ims_shared and nothing else."""

import ast
from pathlib import Path

import ims_shared

PACKAGE = Path(ims_shared.__file__).resolve().parent
FORBIDDEN = {
    "image_service",
    "backup_service",
    "billing_service",
    "replication_service",
    "compute_service",
    "imsctl",
    "ims_devstack",
    "ims_docgen",
    "tests",
}


def forbidden_imports(source: str) -> list[str]:
    """The modules ``source`` imports (at any depth: in functions too) whose top-level package is forbidden."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def test_the_package_is_the_installed_one_from_shared() -> None:
    assert PACKAGE.parent.name == "shared" and (PACKAGE.parent / "pyproject.toml").is_file()


def test_no_shared_module_imports_a_service_a_tool_or_the_tests() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20, f"too few modules found under {PACKAGE}"
    offenders = {
        str(path.relative_to(PACKAGE.parent)): names
        for path in modules
        if (names := forbidden_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_check_sees_every_form_of_import() -> None:
    source = """
import os
import imsctl.main
from ims_devstack import Stack
from billing_service.domain import Account
from ims_shared.events import CloudEvent
from . import sibling


def later() -> None:
    import tests.support
"""
    assert forbidden_imports(source) == ["imsctl.main", "ims_devstack", "billing_service.domain", "tests.support"]
