"""The package's layering (docs/architecture.md), checked on every import, function-level ones too.

Data flows one way: the foundation (errors, labels, config, files, home) below ``data/`` and
``models/`` (files → tensors → embeddings), below ``gallery/`` (storage, search, vote), below the
pieces that join a model to a gallery (session, calibration), below the use cases (inference,
training, evaluation, explain), below ``cli/``. A module may import its own layer or lower ones;
use cases may not import each other; nothing may form a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aidetect"

# Longest prefix wins. Rank: lower layers may be imported by higher ones, never the reverse.
LAYERS: dict[str, int] = {
    "aidetect": 0,  # the package itself (__version__)
    "aidetect.errors": 0, "aidetect.labels": 0, "aidetect.console": 0, "aidetect.fileio": 0,
    "aidetect.config": 0, "aidetect.devices": 0, "aidetect.progress": 0, "aidetect.home": 0,
    "aidetect.recipes": 0, "aidetect.settings": 0, "aidetect.distributed": 0,
    "aidetect.data": 1, "aidetect.models": 1, "aidetect.losses": 1, "aidetect.embedding": 1,
    "aidetect.provenance": 1,
    "aidetect.gallery": 2,
    "aidetect.session": 3, "aidetect.calibration": 3,
    "aidetect.inference": 4, "aidetect.training": 4, "aidetect.evaluation": 4,
    "aidetect.explain": 4, "aidetect.report_html": 4,
    "aidetect.cli": 5, "aidetect.__main__": 5,
}
USE_CASE_RANK = 4
# The explain use case spans two modules: the LIME figure and the HTML report that shows it.
USE_CASE_UNITS = {"aidetect.report_html": "aidetect.explain"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every aidetect module ``path`` imports, at any depth of the code."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from aidetect.x import y`` may import the submodule aidetect.x.y
            found.update(f"{target}.{a.name}" for a in node.names)
    return {name for name in found if name == "aidetect" or name.startswith("aidetect.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {t for t in _imports(path) if t in modules and t != name}
    return graph


def _rank(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"{module} has no layer in tests/test_layering.py: add it to LAYERS (and docs/architecture.md)")
    return LAYERS[best]


def _unit(module: str) -> str:
    top = ".".join(module.split(".")[:2])
    return USE_CASE_UNITS.get(top, top)


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if _rank(target) > _rank(source):
                problems.append(f"{source} (layer {_rank(source)}) imports {target} (layer {_rank(target)}) above it")
            elif _rank(source) == _rank(target) == USE_CASE_RANK and _unit(source) != _unit(target):
                problems.append(f"use case {source} imports another use case, {target}")
    return problems


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a list of modules) or None; package __init__ re-exports count."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's __init__ importing its own submodules is how re-exports work, not a cycle.
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_every_module_has_a_layer():
    for module in _graph():
        _rank(module)


def test_no_import_goes_up_a_layer_or_across_use_cases():
    problems = layering_violations(_graph())
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    cycle = find_cycle(_graph())
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize(
    "graph, expect_violation, expect_cycle",
    [
        ({"aidetect.models.encoder": {"aidetect.gallery.knn"}, "aidetect.gallery.knn": set()}, True, False),
        ({"aidetect.inference": {"aidetect.training"}, "aidetect.training": set()}, True, False),
        ({"aidetect.models.a": {"aidetect.models.b"}, "aidetect.models.b": {"aidetect.models.a"}}, False, True),
        ({"aidetect.cli.main": {"aidetect.inference"}, "aidetect.inference": {"aidetect.gallery"}, "aidetect.gallery": set()}, False, False),
    ],
)
def test_the_checks_catch_what_they_are_for(graph, expect_violation, expect_cycle):
    assert bool(layering_violations(graph)) is expect_violation
    assert (find_cycle(graph) is not None) is expect_cycle
