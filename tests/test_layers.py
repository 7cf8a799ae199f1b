"""The import graph of causalclf has no cycle, and no module imports from a layer above its own.

Every import counts, those inside functions included, read from the source with `ast`. The layers
are declared once, here, lowest first; a module belongs to the layer of its top-level package or
module under ``causalclf``. Within a layer imports may go either way, but never round in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS = [
    {"errors", "fields", "atomic", "resources", "processes"},  # the base: knows nothing of the rest
    {"data"},
    {"evaluation"},
    {"backbones", "runtime"},
    {"training"},
    {"methods"},
    {"distillation"},
    {"run_config", "pipeline", "inference", "serve", "export", "doctor", "bench"},
    {"experiments", "quickstart"},
    {"cli", "__main__"},
]


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "causalclf").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The causalclf modules `name` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("causalclf") and target != name:
                out.add(target)
    return out


def layer(name: str) -> int:
    top = name.split(".")[1] if "." in name else name
    if top == "causalclf":  # the package itself: the public names, above everything it re-exports
        return len(LAYERS)
    for i, members in enumerate(LAYERS):
        if top in members:
            return i
    raise AssertionError(f"{name} belongs to no layer: add causalclf.{top} to LAYERS in {__file__}")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
        for a, targets in graph.items()
        for b in targets
        if layer(b) > layer(a)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first walk meets (each as the modules on it, the first repeated at the end)."""
    found, state, path = [], {}, []  # state: 1 on the current path, 2 done

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_module_sits_in_a_declared_layer(graph):
    assert graph, "no module found under src/causalclf"
    for name in graph:
        layer(name)


def test_no_module_imports_from_a_layer_above(graph):
    assert not upward_imports(graph), "\n".join(upward_imports(graph))


def test_the_import_graph_has_no_cycle(graph):
    assert not cycles(graph), "\n".join(" -> ".join(c) for c in cycles(graph))


def test_the_checks_catch_a_cycle_and_an_upward_import():
    faulty = {
        "causalclf.data.a": {"causalclf.methods.b"},
        "causalclf.methods.b": {"causalclf.data.a"},
        "causalclf.methods.c": {"causalclf.data.a"},
    }
    assert upward_imports(faulty) == ["causalclf.data.a (layer 1) imports causalclf.methods.b (layer 5)"]
    assert cycles(faulty) == [["causalclf.data.a", "causalclf.methods.b", "causalclf.data.a"]]


def test_imports_inside_functions_and_relative_imports_count(tmp_path):
    module = tmp_path / "causalclf" / "data" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from causalclf.methods import registry\n    from . import y\n")
    known = {
        "causalclf.data.x": module,
        "causalclf.data.y": module,
        "causalclf.methods.registry": module,
        "causalclf.methods": module,
    }
    assert imports("causalclf.data.x", module, known) == {"causalclf.methods.registry", "causalclf.data.y"}
