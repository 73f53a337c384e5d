"""The API never imports the daemon; the wire layer imports only the daemon's values.

``dockyard.api`` (routers) talks to its backends through the protocols it declares and
reads values through ``dockyard.apitypes``; ``dockyard.apitypes`` may import the
daemon's *value* modules (frozen dataclasses, no services, no I/O) and nothing else of it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "dockyard"
DAEMON_VALUE_MODULES = {
    "dockyard.daemon.containers.config",
    "dockyard.daemon.containers.model",
    "dockyard.daemon.eventtypes",
    "dockyard.daemon.resourcetypes",
    "dockyard.daemon.systeminfo",
    "dockyard.daemon.times",
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("api"), ids=lambda p: p.name)
def test_api_does_not_import_the_daemon(path: Path) -> None:
    bad = sorted(m for m in imports_of(path) if m == "dockyard.daemon"
                 or m.startswith("dockyard.daemon."))
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", modules("apitypes"), ids=lambda p: p.name)
def test_apitypes_imports_only_daemon_values(path: Path) -> None:
    daemon = {m for m in imports_of(path) if m.startswith("dockyard.daemon")}
    # "from X import Name" also records "X.Name": keep the module part only.
    bad = sorted(m for m in daemon
                 if m not in DAEMON_VALUE_MODULES and m.rsplit(".", 1)[0] not in
                 DAEMON_VALUE_MODULES)
    assert not bad, f"{path.name} imports {bad}"


def test_daemon_value_modules_import_no_services() -> None:
    for name in DAEMON_VALUE_MODULES:
        path = SRC.joinpath(*name.split(".")[1:]).with_suffix(".py")
        deps = {m for m in imports_of(path) if m.startswith("dockyard.")}
        allowed = DAEMON_VALUE_MODULES | {"dockyard.errors"}
        bad = sorted(m for m in deps if m not in allowed and m.rsplit(".", 1)[0] not in allowed)
        assert not bad, f"{name} imports {bad}"
