"""The bus's modules import one another without a cycle, and never from inside a function.

An import placed in a function to dodge a cycle hides the cycle from readers and tools and
fails only when that function first runs. Here (``ast``, nothing executed) the imports of every
module under ``eventhub/``, counted as if each were at the top of its module, must form an
acyclic graph, and no module of the bus may import a module of ``eventhub`` inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "eventhub"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(under: Path) -> dict[str, Path]:
    return {module_name(path): path for path in sorted(under.rglob("*.py"))}


KNOWN = modules(PACKAGE)


def targets(node: ast.Import | ast.ImportFrom, importer: str, path: Path) -> set[str]:
    """The modules of ``eventhub`` that ``node`` (in module ``importer``) imports."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = node.module or ""
        if node.level:
            base = f"{package}.{base}" if base else package
        # ``from package import name`` imports the submodule ``name`` when there is one.
        names = [f"{base}.{alias.name}" for alias in node.names]
        if not all(name in KNOWN for name in names):
            names.append(base)
    found = set()
    for name in names:
        while name and name not in KNOWN:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run: at module level or in a function (not ``if TYPE_CHECKING``)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif not (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
            pending += ast.iter_child_nodes(node)
    return found


def function_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    found = []
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [n for n in ast.walk(function) if isinstance(n, ast.Import | ast.ImportFrom)]
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in KNOWN.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = {
            target
            for node in runtime_imports(tree)
            for target in targets(node, name, path)
            if target != name
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_imports_of_eventhub_form_no_cycle_even_those_inside_functions() -> None:
    assert cycles(import_graph()) == []


def test_no_module_of_the_bus_imports_eventhub_from_inside_a_function() -> None:
    deferred = []
    for name, path in modules(PACKAGE / "bus").items():
        tree = ast.parse(path.read_text(), str(path))
        for node in function_level_imports(tree):
            if targets(node, name, path):
                deferred.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert deferred == []


def test_the_cycle_check_sees_a_cycle_closed_inside_a_function_once_it_is_hoisted() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
