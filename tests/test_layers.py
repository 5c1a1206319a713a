"""The package's layers (ARCHITECTURE.md): every import goes to the same or a lower layer.

Imports inside functions and under TYPE_CHECKING count too, so no cycle can hide behind a
lazy import and no type hint reaches up into a higher layer.
"""

import ast
from pathlib import Path

import migma_contract

ROOT = Path(migma_contract.__file__).parent

LAYERS = {
    0: ["_exceptions", "_version", "_untrusted", "_redact", "_json_stream", "_flags"],
    1: ["_spec"],
    2: ["_rules", "_catalogue", "_email"],
    3: ["_validators", "_fastschema", "_schemadiff", "_diff"],
    4: ["_bodies", "_open_points", "_cases", "_plan", "strategies"],
    5: ["_options", "_result"],
    6: ["_http"],
    7: ["mock"],
    8: ["_records", "_root_causes", "_run_state", "_explore", "_runner", "testing", "_traffic", "_recordings", "_proxy"],
    9: ["reports", "_console", "_diff_render"],
    10: ["cli", "pytest_plugin", "schemathesis_checks", "__init__", "asgi"],
}
LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}


def _top(module_path: Path) -> str:
    relative = module_path.relative_to(ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported(path: Path, source: str | None = None) -> set[str]:
    """The package's own top-level modules that `path` (or `source`, as if at `path`) imports."""
    package_parts = path.relative_to(ROOT).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("migma_contract."):
                    found.add(node.module.split(".")[1])
                continue
            base = list(package_parts[: len(package_parts) - (node.level - 1)])
            target = base + (node.module.split(".") if node.module else [])
            if target:
                found.add(target[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("migma_contract."))
    return found


def test_every_module_has_a_layer():
    modules = {_top(p) for p in ROOT.rglob("*.py")}
    assert modules == set(LAYER_OF), modules ^ set(LAYER_OF)


def test_imports_go_down_the_layers_only():
    upward = []
    for path in ROOT.rglob("*.py"):
        own = _top(path)
        for imported in _imported(path) - {own}:
            if imported in LAYER_OF and LAYER_OF[imported] > LAYER_OF[own]:
                upward.append(f"{path.relative_to(ROOT)} (layer {LAYER_OF[own]}) imports {imported} (layer {LAYER_OF[imported]})")
    assert not upward, "\n".join(upward)


def test_an_upward_import_would_be_seen():
    lazy = "def f():\n    from ._runner import run_check\n"
    hinted = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..reports import render\n"
    assert _imported(ROOT / "_spec.py", lazy) == {"_runner"}
    assert _imported(ROOT / "mock" / "_app.py", hinted) == {"reports"}


def test_the_import_graph_has_no_cycle():
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        own = _top(path)
        graph.setdefault(own, set()).update(m for m in _imported(path) if m in LAYER_OF and m != own and m != "__init__")
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
