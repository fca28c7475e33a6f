"""The runtime package, the embedded AWS and the tooling import in one direction only:
tooling (the CLI, its demo) -> local (the embedded AWS) -> v6migrate (the Lambda layer). So the
layer holds only what the functions run, and inside it the Kubernetes adapter (kube) sits below
the stage layer (changes) rather than beside it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "v6migrate": ROOT / "layers" / "common" / "v6migrate",
    "local": ROOT / "local",
    "tooling": ROOT / "tooling",
}
# what each may import, of the three
ALLOWED = {"v6migrate": {"v6migrate"}, "local": {"v6migrate", "local"},
           "tooling": {"v6migrate", "local", "tooling"}}  # fmt: skip


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (deferred imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _files(package: str) -> list[Path]:
    return sorted(PACKAGES[package].rglob("*.py"))


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_each_part_imports_only_the_parts_below_it(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in _files(package)
        for name in _imports(path)
        if name.split(".")[0] in PACKAGES and name.split(".")[0] not in ALLOWED[package]
    }
    assert not wrong, sorted(wrong)


def test_the_layer_holds_no_cli_and_the_kubernetes_adapter_no_stage_layer() -> None:
    assert not (PACKAGES["v6migrate"] / "cli.py").exists()
    kube = _imports(PACKAGES["v6migrate"] / "kube.py")
    assert not {name for name in kube if name.startswith("v6migrate.changes")}, sorted(kube)


def test_the_console_script_is_the_tooling() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'v6migrate = "tooling.cli:main"' in text
