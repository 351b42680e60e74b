"""The import rules docs/architecture.md states, read from the source (ast), so the page stays true."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = sorted((ROOT / "radreport").rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_zenml_or_the_edges(path):
    edges = {"zenml", "ops", "steps", "cli", "pipelines", "materializers", "run"}
    assert not {top(name) for name in imported(path)} & edges


def test_the_stated_package_boundaries_hold():
    def imports_of(folder: str) -> set[str]:
        return set().union(*(imported(p) for p in (ROOT / "radreport" / folder).rglob("*.py")))

    assert not any(name.startswith("radreport") for name in imported(ROOT / "radreport/vocabulary.py"))
    assert not any(name.startswith("radreport.serving") for name in imported(ROOT / "radreport/registry/mlflow_pyfunc.py"))
    assert not {n for n in imports_of("human_eval") if top(n) == "mlflow" or n.startswith("radreport.registry")}
    assert not {n for n in imports_of("preference") if n.startswith(("radreport.registry", "radreport.serving"))}
