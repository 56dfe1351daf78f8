"""Import rules of the package (DESIGN.md, "Conventions"): imports point down.

* no import cycle among the package's modules, counting imports inside function bodies and
  ``TYPE_CHECKING`` blocks (a cycle hidden in a function is still a cycle);
* imports inside function bodies only of optional dependencies (plotting, dask, ...);
* no module above 1,000 lines;
* the columnar book (:mod:`marginlab.book`) on the low floor: nothing from ``margin``,
  ``analysis`` or ``calibration``.

The graph is built from the source with :mod:`ast` (nothing is imported). An import of a
package (``from marginlab.margin import presets``) is an edge to the submodule when the name is
one, else to the package's ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "marginlab"

#: Optional dependencies (and their submodules) that may be imported inside a function: plotting (``arch`` pulls in
#: matplotlib, about 5 s, and only GARCH fits need it), dask, the notebook machinery of the reports, the widget
#: progress bar (``tqdm.notebook`` only in a kernel), schema validation (``parameters``: tried, with a fallback).
OPTIONAL_FUNCTION_IMPORTS = frozenset(
    {"matplotlib", "seaborn", "arch", "dask", "distributed", "IPython", "ipywidgets", "jupyter_client", "nbformat", "nbclient", "nbconvert",
     "jupytext", "jupyter_server_mathjax", "tqdm", "jsonschema"}
)

# ---- Allow-lists, each named after the helper whose files still hold the import (the lead removes an entry once
# ---- that branch is merged). Keep them as short as possible.
#: ``rulebook`` (issue 17, liquidation package and replay driver): package-internal imports inside functions,
#: module -> imported modules.
_RULEBOOK_FUNCTION_IMPORTS: dict[str, set[str]] = {
    "marginlab.analysis.synthetic": {"marginlab.exceptions"},
    "marginlab.cli.margin_commands": {"marginlab.analysis.efficiency", "marginlab.margin.venues"},
    "marginlab.cli.stress_commands": {"marginlab.margin.flat", "marginlab.margin.presets", "marginlab.account", "sys", "time",
                                      "marginlab.analysis.replay", "marginlab.analysis.stress_scenarios", "marginlab.analysis.synthetic",
                                      "marginlab.io", "marginlab.scale", "io", "marginlab.inputs"},
}
#: Lazy loaders by design (PEP 562 ``__getattr__``): the top level loads the curated API, and ``marginlab.margin``
#: the presets registry, only on first use, so that importing a layer does not import every engine.
_LAZY_LOADERS: dict[str, set[str]] = {"marginlab": {"marginlab.api"}, "marginlab.margin": {"marginlab.margin.presets"}}
FUNCTION_IMPORTS_ALLOWED: dict[str, set[str]] = {**_RULEBOOK_FUNCTION_IMPORTS, **_LAZY_LOADERS}
CYCLES_ALLOWED: set[frozenset[str]] = set()
#: Modules allowed above 1,000 lines (none).
LONG_MODULES_ALLOWED: set[str] = set()

LOW_FLOOR = {"marginlab.book": ("marginlab.margin", "marginlab.analysis", "marginlab.calibration", "marginlab.liquidation")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if module not in PACKAGES:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> list[tuple[str, bool, int]]:
    """``(imported module, inside a function, line)`` of every import statement of ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child)
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub if sub in MODULES else target, in_function, child.lineno))
            visit(child, inside)

    visit(tree, False)
    return found


IMPORTS = {module: _imports(module) for module in MODULES}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, found in IMPORTS.items():
        for target, _, _ in found:
            while target and target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in MODULES and target != module:
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(frozenset(component))

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for v in sorted(graph):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def test_the_graph_sees_the_package() -> None:
    assert "marginlab.margin.risk_matrix" in MODULES and "marginlab.book.positions" in MODULES
    assert "marginlab.book" in _graph()["marginlab.margin.risk_matrix"]


def test_no_import_cycle() -> None:
    cycles = [sorted(c) for c in _cycles(_graph()) if c not in CYCLES_ALLOWED]
    assert not cycles, f"import cycles (counting imports inside functions): {cycles}"


def test_function_level_imports_only_of_optional_dependencies() -> None:
    bad = []
    for module, found in IMPORTS.items():
        for target, in_function, line in found:
            if not in_function:
                continue
            if target.split(".")[0] in OPTIONAL_FUNCTION_IMPORTS:
                continue
            if any(target == t or target.startswith(t + ".") for t in FUNCTION_IMPORTS_ALLOWED.get(module, ())):
                continue
            bad.append(f"{module}:{line} {target}")
    assert not bad, f"{len(bad)} imports inside functions that are not optional dependencies: {bad}"


def test_no_module_above_1000_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 1000}
    assert not {m: n for m, n in long.items() if m not in LONG_MODULES_ALLOWED}, long


@pytest.mark.parametrize("package", sorted(LOW_FLOOR))
def test_low_floor_packages_import_nothing_above(package: str) -> None:
    above = LOW_FLOOR[package]
    bad = [(m, t) for m, found in IMPORTS.items() if m == package or m.startswith(package + ".")
           for t, _, _ in found if any(t == a or t.startswith(a + ".") for a in above)]
    assert not bad, bad
