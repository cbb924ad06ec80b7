"""The package's layering, read from its source: no module-level import cycle, no imports hidden in
functions (except of optional third-party packages), and the library never imports the science above it.

The graph is built from the installed package's files with `ast` (nothing is imported to build it), so
the test also sees cycles that Python's import order would happen to tolerate.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dln

ROOT = Path(dln.__file__).parent
# Imported inside functions on purpose: optional or platform-dependent packages (tqdm: a bar only when it
# is installed; resource: POSIX only; importlib/warnings: the deprecated old addresses of moved names).
OPTIONAL = {"matplotlib", "threadpoolctl", "tomllib", "tomli", "sklearn", "torch", "dask", "distributed",
            "scipy", "tqdm", "resource", "importlib", "warnings"}
# What may import dln.science: the package itself, its old addresses (re-export shims) and the command line.
SCIENCE_USERS = {"dln", "dln.cli", "dln.experiments", "dln.reproduce", "dln.demo", "dln.plotting"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    for path in ROOT.rglob("*.so"):  # compiled modules: nodes without imports of their own
        rel = path.relative_to(ROOT.parent)
        out[".".join(rel.parts[:-1] + (path.name.split(".")[0],))] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _targets(module: str, node: ast.AST) -> list[str]:
    """The dln modules an import statement in `module` loads (its own package's are relative)."""
    package = module if _is_package(module) else module.rsplit(".", 1)[0]
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name == "dln" or a.name.startswith("dln.")]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")
            base = base[:len(base) - (node.level - 1)]
            stem = ".".join(base + ([node.module] if node.module else []))
        elif node.module and (node.module == "dln" or node.module.startswith("dln.")):
            stem = node.module
        else:
            return []
        names = [stem]
        for alias in node.names:  # `from . import x`: x is a submodule when one exists
            if f"{stem}.{alias.name}" in MODULES:
                names.append(f"{stem}.{alias.name}")
    out = []
    for name in names:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            prefix = ".".join(parts[:k])
            # the packages above the importer are already being initialised: not an edge
            if module == prefix or module.startswith(prefix + "."):
                continue
            if prefix in MODULES:
                out.append(prefix)
    return out


def _module_level(tree: ast.Module):
    """Import statements run when the module is imported (not under `if TYPE_CHECKING:`)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            test = node.test
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                stack.extend(node.orelse)
            else:
                stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])


def _function_level(tree: ast.Module):
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield fn.name, node


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        if path.suffix != ".py":
            graph[name] = set()
            continue
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = {t for node in _module_level(tree) for t in _targets(name, node) if t in MODULES}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_package():
    graph = _graph()
    # a check that cannot fail is no check: the parser finds the edges that are known to exist
    assert {"dln.network", "dln.problems", "dln.theory"} <= graph["dln.tracking"] | graph["dln.theory"]
    assert "dln.training.prepared" in graph["dln.training.facade"]
    assert "dln.training" in graph["dln.sweeps"]
    assert "dln._core" in graph["dln.network"]
    assert len(MODULES) >= 25


def test_no_module_level_import_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# dln.torch needs PyTorch (the optional extra dln[torch]): `dln reproduce` imports its experiments on use.
OPTIONAL_SUBPACKAGES = {"dln.torch", "dln.torch.experiments"}


def test_no_imports_inside_functions_except_optional_packages():
    hidden = []
    for name, path in MODULES.items():
        if path.suffix != ".py":
            continue
        for fn, node in _function_level(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                if set(_targets(name, node)) & OPTIONAL_SUBPACKAGES:
                    continue
                hidden.append(f"{name}.{fn}: from {'.' * node.level}{node.module or ''}")
                continue
            roots = [a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import) \
                else [(node.module or "").split(".")[0]]
            hidden += [f"{name}.{fn}: {r}" for r in roots if r not in OPTIONAL]
    assert hidden == []


@pytest.mark.parametrize("module", sorted(m for m, p in MODULES.items() if p.suffix == ".py" and m not in SCIENCE_USERS
                                           and not m.startswith("dln.science")))
def test_the_library_does_not_import_the_science(module):
    assert not any(t.startswith("dln.science") for t in _graph()[module])
