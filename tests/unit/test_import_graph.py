"""The import graph between Threadline's domain packages has no cycle (shared/DESIGN.md: a
capability reacts to another through domain events, never by importing it).

The graph is read from the source with `ast`, so an import inside a function counts as much
as one at the top of a module; only `if TYPE_CHECKING:` blocks are left out (they never run).

Nodes are the top-level packages under src/threadline (agents, auth, callbacks, ...), except
`channels`, which is split: its root modules (contract, registry, outbox, inbound, models,
...) are the node `channels`, each adapter subpackage (`channels.chat`, `channels.voice`,
...) a node of its own. Top-level plain modules are infrastructure: app, cli and demo (and
models, the list of every table, and the Alembic environment under migrations) are the
composition root and may import anything; nothing else may import them. The others (db,
context, config, errors, ...) may be imported by anyone and import no domain package.

Route modules (`http.py`, `pages.py`) are the outer layer: each is a node of its own
(`threads.http`), since only create_app imports them.

There is no cycle, and no import inside a function crosses domain packages: KNOWN_CYCLES is
empty and IN_FUNCTION_IMPORTS_CEILING is 0, and both may never grow.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "threadline"

# May import anything; nothing may import them.
COMPOSITION_ROOT = frozenset({"app", "cli", "demo", "models", "migrations"})
# Split into one node per subpackage.
SPLIT_PACKAGES = frozenset({"channels"})
# A package's routes (`http.py`, and the pages it serves) are the outer layer, mounted by
# create_app and imported by nothing else: each is a node of its own (`threads.http`), so a
# route may call the services of any package (auth's guards, another domain's reads) the way
# app.py does, while the domain packages themselves still form no cycle.
ROUTE_MODULES = frozenset({"http", "pages"})

# The allowlists below may never grow. KNOWN_CYCLES (empty) is at the end of this file.

# Imports inside functions that cross domain packages (usually to dodge a cycle at import
# time). Lower it when the count drops (the test says so); never raise it.
IN_FUNCTION_IMPORTS_CEILING = 0

# Infrastructure modules that import a domain package today: (module, package).
KNOWN_INFRASTRUCTURE_IMPORTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("context", "events"),  # the Context carries the bus
    }
)


@dataclass(frozen=True)
class Import:
    """One import statement: where it is, what it names, and how it runs."""

    source: str  # dotted module name of the importing file
    target: str  # dotted module name imported (the module, or the package of a name)
    path: Path
    line: int
    text: str
    in_function: bool

    def where(self) -> str:
        return f"{self.path.relative_to(SRC.parent)}:{self.line}: {self.text}"


Edges = dict[tuple[str, str], list[Import]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def known_modules() -> frozenset[str]:
    """Every module and package under src/threadline (namespace packages included)."""
    names = {module_name(p) for p in PACKAGE.rglob("*.py")}
    names |= {".".join(d.relative_to(SRC).parts) for d in PACKAGE.rglob("*") if d.is_dir()}
    return frozenset(names)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def resolve(node: ast.Import | ast.ImportFrom, source: str, is_package: bool) -> list[str]:
    """The Threadline modules an import statement loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "threadline"]
    base = node.module or ""
    if node.level:
        package = source.split(".") if is_package else source.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    if base.split(".")[0] != "threadline":
        return []
    # `from threadline.channels import chat` loads the subpackage, not just the package.
    targets = [f"{base}.{a.name}" for a in node.names]
    return list(dict.fromkeys(t if t in known_modules() else base for t in targets))


def imports_of(path: Path, text: str | None = None) -> Iterator[Import]:
    """The Threadline imports of one file (`text`: its content, if not read from `path`)."""
    source = module_name(path)
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    is_package = path.name == "__init__.py"

    def walk(nodes: list[ast.AST], in_function: bool) -> Iterator[Import]:
        for child in nodes:
            if isinstance(child, ast.If) and is_type_checking(child.test):
                yield from walk(list(child.orelse), in_function)  # `else:` does run
            elif isinstance(child, ast.Import | ast.ImportFrom):
                text = lines[child.lineno - 1].strip()
                for target in resolve(child, source, is_package):
                    yield Import(source, target, path, child.lineno, text, in_function)
            else:
                inner = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                yield from walk(list(ast.iter_child_nodes(child)), in_function or inner)

    yield from walk([ast.parse("\n".join(lines), filename=str(path))], False)


def node_of(module: str) -> str:
    """The graph node a module belongs to (see the module docstring)."""
    parts = module.split(".")[1:]
    if not parts:
        return "threadline"  # the package root: version only
    head = parts[0]
    if head in SPLIT_PACKAGES and len(parts) > 1 and (PACKAGE / head / parts[1]).is_dir():
        head = f"{head}.{parts[1]}"
    if parts[-1] in ROUTE_MODULES and len(parts) > 1:
        return f"{head}.{parts[-1]}"  # the package's HTTP routes: a node of their own
    return head


def is_domain(node: str) -> bool:
    head = node.split(".")[0]
    return node not in COMPOSITION_ROOT and (PACKAGE / head).is_dir()


@cache
def all_imports() -> tuple[Import, ...]:
    # Alembic revisions (migrations/versions) import only alembic and sqlalchemy.
    files = sorted(p for p in PACKAGE.rglob("*.py") if "versions" not in p.parts)
    return tuple(i for p in files for i in imports_of(p))


def domain_edges() -> Edges:
    """Imports from one domain package to another, grouped by (importer, imported)."""
    edges: Edges = defaultdict(list)
    for imp in all_imports():
        a, b = node_of(imp.source), node_of(imp.target)
        if a != b and is_domain(a) and is_domain(b):
            edges[(a, b)].append(imp)
    return edges


def elementary_cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Every elementary cycle, each once, starting at its smallest node (a small Johnson-style
    search: from each start node, paths through larger nodes only)."""
    successors: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        successors[a].add(b)
    cycles: list[list[str]] = []
    for start in sorted(successors):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(successors[node]):
                if nxt == start:
                    cycles.append(path)
                elif nxt > start and nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return sorted(cycles, key=lambda c: (len(c), c))


def hops(cycle: list[str]) -> list[tuple[str, str]]:
    return list(itertools.pairwise([*cycle, cycle[0]]))


def describe_hop(a: str, b: str, edges: Edges) -> str:
    """One edge of the graph with the import lines that make it."""
    return "\n".join([f"  {a} -> {b}:", *(f"    {imp.where()}" for imp in edges[(a, b)])])


def describe(cycle: list[str], edges: Edges) -> str:
    """A cycle as a path (a -> b -> a), each hop with the import lines that make it."""
    path = " -> ".join([*cycle, cycle[0]])
    return "\n".join([path, *(describe_hop(a, b, edges) for a, b in hops(cycle))])


def test_the_graph_between_domain_packages_has_no_new_cycle() -> None:
    edges = domain_edges()
    cycles = elementary_cycles(set(edges))
    print(f"{len(cycles)} import cycles between domain packages:")
    print("\n".join(" -> ".join([*c, c[0]]) for c in cycles))
    print("the imports that make them:")
    on_cycles = sorted({hop for cycle in cycles for hop in hops(cycle)})
    print("\n".join(describe_hop(a, b, edges) for a, b in on_cycles))
    new = [c for c in cycles if frozenset(c) not in KNOWN_CYCLES]
    assert not new, f"{len(new)} new import cycle(s) between domain packages:\n" + "\n".join(
        describe(c, edges) for c in new
    )
    gone = sorted(" ".join(sorted(c)) for c in KNOWN_CYCLES - {frozenset(c) for c in cycles})
    assert not gone, (
        "these allowlisted cycles no longer exist: delete their lines from KNOWN_CYCLES "
        "(the packages may be listed in another order there)\n" + "\n".join(gone)
    )


def imports_in_functions_across_packages() -> list[Import]:
    return [
        imp
        for imp in all_imports()
        if imp.in_function
        and node_of(imp.source) != node_of(imp.target)
        and is_domain(node_of(imp.source))
        and is_domain(node_of(imp.target))
    ]


def test_imports_inside_functions_between_domain_packages_only_go_down() -> None:
    crossing = imports_in_functions_across_packages()
    listing = "\n".join(f"  {imp.where()}" for imp in crossing)
    print(f"{len(crossing)} imports inside functions cross domain packages:\n{listing}")
    assert len(crossing) <= IN_FUNCTION_IMPORTS_CEILING, (
        f"{len(crossing)} imports inside functions cross domain packages, more than the "
        f"ceiling {IN_FUNCTION_IMPORTS_CEILING}: react through domain events instead\n{listing}"
    )
    assert len(crossing) == IN_FUNCTION_IMPORTS_CEILING, (
        f"only {len(crossing)} imports inside functions cross domain packages now: lower "
        f"IN_FUNCTION_IMPORTS_CEILING to {len(crossing)}"
    )


def test_nothing_imports_the_composition_root() -> None:
    offending = [
        imp.where()
        for imp in all_imports()
        if node_of(imp.target) in COMPOSITION_ROOT and node_of(imp.source) not in COMPOSITION_ROOT
    ]
    assert not offending, "only the composition root imports the composition root:\n" + "\n".join(
        offending
    )


def test_infrastructure_modules_import_no_domain_package() -> None:
    found: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for imp in all_imports():
        source, target = node_of(imp.source), node_of(imp.target)
        if not is_domain(source) and source not in COMPOSITION_ROOT and is_domain(target):
            found[(source, target)].append(imp)
    new = {k: v for k, v in found.items() if k not in KNOWN_INFRASTRUCTURE_IMPORTS}
    gone = sorted(KNOWN_INFRASTRUCTURE_IMPORTS - set(found))
    assert not new, "infrastructure importing a domain package:\n" + "\n".join(
        imp.where() for imps in new.values() for imp in imps
    )
    assert not gone, f"remove from KNOWN_INFRASTRUCTURE_IMPORTS, they are gone: {gone}"


def test_the_walker_sees_function_level_imports_and_skips_type_checking() -> None:
    """The reader itself: an import hidden in a function counts, a TYPE_CHECKING one does not."""
    text = (
        "from typing import TYPE_CHECKING\n"
        "import httpx\n"
        "from threadline.routing import engine\n"
        "from threadline.channels import chat, registry\n"
        "if TYPE_CHECKING:\n"
        "    from threadline.callbacks.services import x\n"
        "else:\n"
        "    from threadline.agents import models\n"
        "class A:\n"
        "    import threadline.orgs.models\n"
        "    def f(self):\n"
        "        from threadline.threads.services import y\n"
        "async def g():\n"
        "    from . import identities\n"
        "    from ..db import utcnow\n"
    )
    found = [
        (i.target, i.line, i.in_function)
        for i in imports_of(PACKAGE / "customers" / "services.py", text)
    ]
    assert found == [
        ("threadline.routing.engine", 3, False),
        ("threadline.channels.chat", 4, False),
        ("threadline.channels.registry", 4, False),
        ("threadline.agents.models", 8, False),
        ("threadline.orgs.models", 10, False),
        ("threadline.threads.services", 12, True),
        ("threadline.customers.identities", 14, True),
        ("threadline.db", 15, True),
    ]


def test_the_cycle_search_finds_each_elementary_cycle_once() -> None:
    edges = {("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "d")}
    assert elementary_cycles(edges) == [["a", "b"], ["a", "b", "c"]]
    assert elementary_cycles({("a", "b"), ("b", "c")}) == []


def test_nodes_split_channels_and_keep_infrastructure_apart() -> None:
    assert node_of("threadline.channels.chat.adapter") == "channels.chat"
    assert node_of("threadline.channels.chat") == "channels.chat"
    assert node_of("threadline.channels.registry") == "channels"
    assert node_of("threadline.routing.engine") == "routing"
    assert node_of("threadline.db") == "db"
    assert is_domain("channels.chat") and is_domain("routing")
    assert not is_domain("db") and not is_domain("app") and not is_domain("models")


# Cycles between domain packages that may exist: none. (While issue 9 took the cycles apart
# this listed them, one a line, `a b c` for a -> b -> c -> a; it only ever shrank.)
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


if __name__ == "__main__":
    # The lead's tool, once, when this file is first committed: print today's allowlists.
    # Later the lists only shrink, by hand, as the test tells.
    seen: set[frozenset[str]] = set()
    for cycle in elementary_cycles(set(domain_edges())):
        if frozenset(cycle) not in seen:
            seen.add(frozenset(cycle))
            print(" ".join(cycle))
    print("IN_FUNCTION_IMPORTS_CEILING =", len(imports_in_functions_across_packages()))
