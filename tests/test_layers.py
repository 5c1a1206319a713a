"""The package's layers (ARCHITECTURE.md): every import goes to the same or a lower layer.

A layer is a folder (or a face module at the top). Imports inside functions and under
TYPE_CHECKING count too, relative, absolute and `from migma_contract import X` alike, so no
cycle can hide behind a lazy import and no type hint reaches up into a higher layer.
"""

import ast
from pathlib import Path

import migma_contract

ROOT = Path(migma_contract.__file__).parent

# unit -> layer; a unit is a folder, a module inside a folder whose layer differs from its folder's,
# or a module at the package's top level
LAYERS = {
    0: ["core", "_version", "wire.coding"],  # (the one decoder of a content coding: `validate_response` reads through it)
    1: ["document"],
    2: ["contract.levels", "contract.rules", "contract.catalogue", "contract.email"],
    3: ["contract", "diff"],
    4: ["generate", "strategies"],
    5: ["judge"],
    6: ["config", "wire.urls"],  # (a URL the user gives is read once, where the options are: `wire.urls.check_url`)
    7: ["wire"],
    8: ["mock"],
    9: ["run", "traffic", "testing"],
    10: ["reports", "diff.render"],
    11: ["cli", "pytest_plugin", "schemathesis_checks", "asgi", "__init__"],
}
LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}
MAX_TOP_LEVEL_MODULES = 12


def _unit(dotted: str) -> str:
    """The layer unit of a module's dotted name (relative to the package): the most specific listed."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYER_OF:
            return ".".join(parts[:n])
    return parts[0]


def _dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _imported(path: Path, source: str | None = None) -> set[str]:
    """The package's own units that `path` (or `source`, as if at `path`) imports."""
    package_parts = list(path.relative_to(ROOT).parts[:-1])
    found: set[str] = set()
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if not node.module or not (node.module == "migma_contract" or node.module.startswith("migma_contract.")):
                    continue
                base = node.module.split(".")[1:]
            else:
                base = package_parts[: len(package_parts) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            if base:
                found.add(_unit(".".join(base)))
            # `from migma_contract import X` / `from . import X`: X may be a module, or a name of __init__
            for alias in node.names:
                target = ".".join([*base, alias.name])
                if (ROOT.joinpath(*target.split(".")).with_suffix(".py").exists()
                        or ROOT.joinpath(*target.split(".")).is_dir()):
                    found.add(_unit(target))
                elif not base:
                    found.add("__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("migma_contract."):
                    found.add(_unit(alias.name.split(".", 1)[1]))
    return found


def test_every_module_has_a_layer():
    units = {_unit(_dotted(p)) for p in ROOT.rglob("*.py")}
    assert units <= set(LAYER_OF), units - set(LAYER_OF)
    assert set(LAYER_OF) <= units, set(LAYER_OF) - units


def test_the_top_level_holds_only_the_faces():
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_imports_go_down_the_layers_only():
    upward = []
    for path in ROOT.rglob("*.py"):
        own = _unit(_dotted(path))
        for imported in _imported(path) - {own}:
            if LAYER_OF.get(imported, -1) > LAYER_OF[own]:
                upward.append(f"{path.relative_to(ROOT)} (layer {LAYER_OF[own]}) imports {imported} (layer {LAYER_OF[imported]})")
    assert not upward, "\n".join(upward)


def test_an_upward_import_would_be_seen():
    lazy = "def f():\n    from ..run.runner import run_check\n"
    absolute = "import migma_contract.run.runner\n"
    from_package = "from migma_contract import run_check\n"
    from_package_module = "from migma_contract import testing\n"
    hinted = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..reports import render\n"
    spec = ROOT / "document" / "spec.py"
    assert _imported(spec, lazy) == {"run"}
    assert _imported(spec, absolute) == {"run"}
    assert _imported(spec, from_package) == {"__init__"}
    assert _imported(spec, from_package_module) == {"testing"}
    assert _imported(ROOT / "mock" / "_app.py", hinted) == {"reports"}
    assert _imported(ROOT / "contract" / "validators.py", "from .rules import Rule\n") == {"contract.rules"}


def test_the_import_graph_has_no_cycle():
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        own = _unit(_dotted(path))
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


def test_the_wire_knows_nothing_of_the_contract():
    """HTTP is HTTP: the wire loads no rule, case or catalogue (what it sends is a `Sendable`)."""
    reached = set()
    for path in (ROOT / "wire").rglob("*.py"):
        reached |= _imported(path)
    # (wire.urls is a unit of its own, a layer below: it reads URLs with core alone; the client asks it which targets
    # are loopback, pass X4, F7)
    # (wire.coding likewise: the one decoder of a content coding, core alone, read by validate_response too: pass Y3, F3)
    assert reached <= {"wire", "wire.urls", "wire.coding", "core", "_version"}, reached
