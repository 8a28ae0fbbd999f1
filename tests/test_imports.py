"""The package's import graph (every ``import sfcl...`` anywhere in a module, lazy ones too) has no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import sfcl

ROOT = Path(sfcl.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_sfcl():
    graph = import_graph()
    assert "sfcl.occlusion.library" in graph and graph["sfcl.occlusion.procedural"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_cycle_between_subpackages():
    # layering: the engine never reaches up into visualize, analysis, occlusion or the CLI
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        source = module.split(".")[1] if "." in module else "(root)"
        packages.setdefault(source, set())
        for target in targets:
            other = target.split(".")[1] if "." in target else "(root)"
            packages.setdefault(other, set())
            if other != source:
                packages[source].add(other)
    assert find_cycle(packages) is None, " -> ".join(find_cycle(packages))
    assert not packages["engine"] & {"visualize", "analysis", "occlusion", "cli"}
