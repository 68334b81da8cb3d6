"""The import graph of `mdps`, `estimators` and `benchmark`, read from the source with `ast`.

Every `import` and `from ... import` counts, at module level or inside a function (also
under `if TYPE_CHECKING:`), and so does `importlib.import_module("literal")`. The rules:

1. no import loop: no strongly connected component of more than one module;
2. package code never imports `tests`;
3. no private name (`_name`) is imported from another module of the project;
4. `mdps` imports only numpy, scipy and the standard library;
5. `estimators` imports only `mdps`, numpy, scipy and the standard library (numba in the
   compiled kernels, jax or torch in one autodiff backend each);
6. nothing imports the CLI (`benchmark.cli`) but the CLI itself and `benchmark.__main__`;
7. between the subpackages of `benchmark`, only the imports of `ALLOWED` (below);
8. inside each of the three packages, the longest import chain has at most `MAX_LEVELS`
   modules (the packages themselves are three more levels: benchmark > estimators > mdps).

`mermaid_diagram()` draws `ALLOWED`; docs/architecture.md carries it verbatim (checked below),
so the picture in the docs is the rule the test enforces. Run
`python -m tests.test_architecture` to print the diagram and the measured depth.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
PACKAGES = ("mdps", "estimators", "benchmark")
MAX_LEVELS = 7

# Who may import whom, by layer. A layer is a top-level package or a subpackage of
# `benchmark` (`benchmark/__init__.py` and `benchmark/__main__.py` are the layer `benchmark`).
ALLOWED: dict[str, tuple[str, ...]] = {
    "mdps": (),
    "estimators": ("mdps",),
    "benchmark.analysis": (),
    "benchmark.present": (),
    "benchmark.families": ("mdps", "estimators"),
    "benchmark.sweeps": ("mdps", "estimators", "benchmark.families", "benchmark.analysis"),
    "benchmark.bench": ("mdps", "estimators", "benchmark.families", "benchmark.sweeps"),
    "benchmark.reports": ("estimators", "benchmark.families", "benchmark.sweeps", "benchmark.analysis",
                          "benchmark.present"),
    "benchmark.studies": ("mdps", "estimators", "benchmark.families", "benchmark.sweeps", "benchmark.analysis",
                          "benchmark.present"),
    "benchmark.cli": ("estimators", "benchmark.families", "benchmark.sweeps", "benchmark.analysis",
                      "benchmark.reports", "benchmark.studies", "benchmark.bench"),
    "benchmark": ("benchmark.sweeps", "benchmark.cli"),
}
THIRD_PARTY_OF_CORE = ("numpy", "scipy")   # the only non-stdlib imports of mdps and estimators
COMPILED_KERNELS = ("estimators.tabular.kernels", "estimators.ipd.kernels", "estimators.trace_kernels",
                    "estimators.bandit.kernels")   # ... and numba, in these (imported on first compiled call)
AUTODIFF_BACKENDS = {"estimators.autodiff.jax_backend": ("jax",),   # ... and one autodiff framework in each of
                     "estimators.autodiff.torch_backend": ("torch",)}  # these (imported on first use of a surrogate)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPOSITORY).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    """Every module of the three packages: dotted name -> file."""
    return {module_name(path): path for package in PACKAGES for path in sorted((REPOSITORY / package).rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """`(imported module, imported name or None, line)` for every import in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule, None, node.lineno) if submodule in modules
                             else (base, alias.name, node.lineno))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.args[0].value, None, node.lineno))
    return found


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str | None, int]]]:
    """Edges between project modules, and every import as `(importer, module, name, line)`."""
    modules = package_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    everything = []
    for name, path in modules.items():
        for imported, attribute, line in imports_of(path, modules):
            everything.append((name, imported, attribute, line))
            if imported in modules and imported != name:
                graph[name].add(imported)
    return graph, everything


def layer(module: str) -> str:
    """`mdps`, `estimators`, `benchmark.<subpackage>` or `benchmark` (its own `__init__`/`__main__`)."""
    parts = module.split(".")
    if parts[0] != "benchmark" or len(parts) == 1 or f"benchmark.{parts[1]}" not in ALLOWED:
        return parts[0]
    return f"benchmark.{parts[1]}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import chain (the graph has no loop), as a list of modules."""
    memo: dict[str, list[str]] = {}

    def chain(node: str) -> list[str]:
        if node not in memo:
            memo[node] = [node, *max((chain(s) for s in sorted(graph[node])), key=len, default=[])]
        return memo[node]

    return max((chain(node) for node in sorted(graph)), key=len)


def mermaid_diagram() -> str:
    """The allowed imports between layers, as a mermaid flowchart (an arrow: may import)."""
    lines = ["```mermaid", "flowchart TD"]
    for importer, imported in ALLOWED.items():
        for target in imported:
            lines.append(f"    {importer.replace('.', '_')}[{importer}] --> {target.replace('.', '_')}[{target}]")
    lines.append("```")
    return "\n".join(lines)


def _standard_or(module: str, extra: tuple[str, ...]) -> bool:
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top == "__future__" or top in extra


# ----------------------------------------------------------------------------- the rules

GRAPH, IMPORTS = import_graph()


def test_the_graph_is_read():
    assert "benchmark.sweeps.runner" in GRAPH["benchmark.cli"]
    assert "estimators.registry" in GRAPH["estimators.tabular.split"]


def test_the_loop_finder_and_the_chain_finder_on_a_known_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["d"], ["e"]]
    assert longest_chain({"a": {"b", "d"}, "b": {"c"}, "c": set(), "d": set()}) == ["a", "b", "c"]


def test_no_import_loop():
    loops = [component for component in strongly_connected(GRAPH) if len(component) > 1]
    edges = [f"{a} -> {b}" for component in loops for a in component for b in sorted(GRAPH[a]) if b in component]
    assert not loops, "import loop(s): " + "; ".join(edges)


def test_package_code_never_imports_tests():
    offending = [f"{who}:{line} imports {what}" for who, what, _, line in IMPORTS if what.split(".")[0] == "tests"]
    assert not offending, "\n".join(offending)


def test_no_private_name_is_imported_across_modules():
    offending = [f"{who}:{line} imports {name} from {what}" for who, what, name, line in IMPORTS
                 if name is not None and name.startswith("_") and what.split(".")[0] in PACKAGES and what != who]
    offending += [f"{who}:{line} imports private module {what}" for who, what, _, line in IMPORTS
                  if what.split(".")[0] in PACKAGES and any(part.startswith("_") and part not in ("__init__", "__main__")
                                                             for part in what.split("."))]
    assert not offending, "\n".join(offending)


def test_mdps_imports_only_numpy_scipy_and_the_standard_library():
    offending = [f"{who}:{line} imports {what}" for who, what, _, line in IMPORTS
                 if layer(who) == "mdps" and layer(what) != "mdps" and not _standard_or(what, THIRD_PARTY_OF_CORE)]
    assert not offending, "\n".join(offending)


def test_estimators_import_only_mdps_numpy_scipy_and_the_standard_library():
    offending = [f"{who}:{line} imports {what}" for who, what, _, line in IMPORTS
                 if layer(who) == "estimators" and layer(what) not in ("mdps", "estimators")
                 and not _standard_or(what, THIRD_PARTY_OF_CORE + (("numba",) if who in COMPILED_KERNELS else ())
                                      + AUTODIFF_BACKENDS.get(who, ()))]
    assert not offending, "\n".join(offending)


def test_nothing_imports_the_cli():
    offending = [f"{who} -> {what}" for who, targets in GRAPH.items() for what in sorted(targets)
                 if layer(what) == "benchmark.cli" and layer(who) != "benchmark.cli" and who != "benchmark.__main__"]
    assert not offending, "\n".join(offending)


def test_layers_import_only_what_they_are_allowed_to():
    offending = [f"{who} -> {what} ({layer(who)} may import {', '.join(ALLOWED[layer(who)]) or 'no other layer'})"
                 for who, targets in GRAPH.items() for what in sorted(targets)
                 if layer(what) != layer(who) and layer(what) not in ALLOWED[layer(who)]]
    assert not offending, "\n".join(offending)


def test_every_module_of_benchmark_is_in_a_layer_and_few_sit_at_the_top():
    top = sorted(name for name in GRAPH if layer(name) == "benchmark")
    assert top == ["benchmark", "benchmark.__main__"], top


def package_graph(package: str) -> dict[str, set[str]]:
    """The imports between the modules of one top-level package."""
    inside = {name for name in GRAPH if name.split(".")[0] == package}
    return {name: GRAPH[name] & inside for name in inside}


def test_each_package_is_at_most_seven_levels_deep():
    for package in PACKAGES:
        chain = longest_chain(package_graph(package))
        assert len(chain) <= MAX_LEVELS, f"{len(chain)} levels: " + " -> ".join(chain)


def test_the_architecture_document_draws_these_rules():
    document = (REPOSITORY / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert mermaid_diagram() in document, "docs/architecture.md: paste the output of `python -m tests.test_architecture`"


if __name__ == "__main__":
    print(mermaid_diagram())
    for package in PACKAGES:
        chain = longest_chain(package_graph(package))
        print(f"\n{package}: {len(chain)} levels: {' -> '.join(chain)}")


FAMILY_MODULES = "benchmark.families"     # the only place that may name a problem kind in a comparison


def _kind_literals(node: ast.AST, kinds: frozenset[str]) -> list[str]:
    """The problem-kind strings a comparison operand spells out (a constant, or a tuple, list or set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in kinds:
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [value for element in node.elts for value in _kind_literals(element, kinds)]
    return []


def test_only_the_family_modules_compare_the_problem_kind_with_a_string():
    """The family rule: `== "tabular"`, `!= "ipd"`, `in ("bandit", ...)` and the like appear only in
    `benchmark/families/`; everything else asks the family (`benchmark.families.FAMILIES`)."""
    from estimators.registry import PROBLEM_KINDS

    kinds = frozenset(PROBLEM_KINDS)
    offending = []
    for name, path in package_modules().items():
        if name.startswith(FAMILY_MODULES) or not name.startswith(("benchmark", "estimators")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                found = [kind for operand in (node.left, *node.comparators) for kind in _kind_literals(operand, kinds)]
                if found:
                    offending.append(f"{name}:{node.lineno} compares with {found}")
    assert not offending, "\n".join(offending)


def test_every_problem_kind_has_its_family():
    from benchmark.families import FAMILIES
    from estimators.registry import PROBLEM_KINDS

    assert set(FAMILIES) == set(PROBLEM_KINDS)
