"""The binding's modules import each other in one direction: no cycle.

Every import of a module of the package counts, at module level or inside a
function; only those under ``if TYPE_CHECKING:`` (annotations, never run)
do not.  A cycle would make the import order matter and a module half
initialised when another reads it.
"""

from __future__ import annotations

import ast
import os
import tempfile
import unittest
from typing import Dict, List, Optional, Set

import onhandpub

PACKAGE = os.path.dirname(onhandpub.__file__)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, package: str, names: Set[str]) -> Set[str]:
    """The package's modules that tree imports (run-time imports only)."""
    found: Set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None:
                found.update(a.name for a in node.names if a.name in names)
            elif node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 0 and node.module and node.module.split(".")[0] == package:
                parts = node.module.split(".")
                if len(parts) > 1:
                    found.add(parts[1])
                else:
                    found.update(a.name for a in node.names if a.name in names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == package and len(parts) > 1:
                    found.add(parts[1])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found & names


def import_graph(directory: str, package: str) -> Dict[str, Set[str]]:
    """Module -> the modules of the package it imports (__init__ left out:
    it imports everything by design, and nothing imports it)."""
    modules = {f[:-3] for f in os.listdir(directory) if f.endswith(".py") and f != "__init__.py"}
    graph: Dict[str, Set[str]] = {}
    for name in modules:
        with open(os.path.join(directory, name + ".py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        graph[name] = _imports(tree, package, modules) - {name}
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of the graph as a path (first node repeated at the end), or None."""
    state: Dict[str, int] = {}  # 1: on the path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


class ImportGraphTest(unittest.TestCase):
    def test_binding_has_no_import_cycle(self) -> None:
        graph = import_graph(PACKAGE, "onhandpub")
        self.assertIn("_record", graph["_stream"])
        self.assertIn("_run", graph["job"])
        cycle = find_cycle(graph)
        self.assertIsNone(cycle, "import cycle: " + " -> ".join(cycle or []))

    def test_job_and_stream_do_not_import_each_other(self) -> None:
        graph = import_graph(PACKAGE, "onhandpub")
        self.assertNotIn("job", graph["_stream"])
        self.assertNotIn("_stream", graph["job"])

    def test_a_cycle_is_found(self) -> None:
        # The check itself: a function-level import closing a loop is one,
        # an import under TYPE_CHECKING is not.
        with tempfile.TemporaryDirectory() as d:
            files = {
                "a.py": "from . import b\n",
                "b.py": "def f():\n    from .c import x\n    return x\n",
                "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                        "    from .a import y\nx = 1\n",
            }
            for name, text in files.items():
                with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                    f.write(text)
            graph = import_graph(d, "pkg")
            self.assertEqual(graph, {"a": {"b"}, "b": {"c"}, "c": set()})
            self.assertIsNone(find_cycle(graph))
            with open(os.path.join(d, "c.py"), "a", encoding="utf-8") as f:
                f.write("def g():\n    import pkg.a\n")
            self.assertEqual(find_cycle(import_graph(d, "pkg")), ["a", "b", "c", "a"])


if __name__ == "__main__":
    unittest.main()
