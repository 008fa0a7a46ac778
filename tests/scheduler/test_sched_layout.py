"""The package's own layout: no private names across modules, no import cycle (issue 13)."""

import ast
from pathlib import Path

import scheduler

PACKAGE = Path(scheduler.__file__).parent


def _imports() -> dict[str, list[tuple[str, list[str]]]]:
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        found = []
        for node in ast.walk(tree):  # walks TYPE_CHECKING blocks and function bodies too
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scheduler."):
                found.append((node.module or "", [a.name for a in node.names]))
        out[f"scheduler.{path.stem}"] = found
    return out


def test_no_private_name_is_imported_across_modules() -> None:
    private = [
        (mod, src, name)
        for mod, found in _imports().items()
        for src, names in found
        for name in names
        if name.startswith("_")
    ]
    assert private == []


def test_scheduler_modules_import_no_cycle() -> None:
    graph = {mod: {src for src, _ in found} for mod, found in _imports().items()}
    state: dict[str, int] = {}

    def visit(mod: str, path: list[str]) -> None:
        if state.get(mod) == 2:
            return
        assert state.get(mod) != 1, " -> ".join([*path, mod])
        state[mod] = 1
        for dep in graph.get(mod, ()):
            visit(dep, [*path, mod])
        state[mod] = 2

    for mod in graph:
        visit(mod, [])


def test_pacing_touches_no_private_aiolimiter_field() -> None:
    tree = ast.parse((PACKAGE / "pacing.py").read_text())
    private = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "limiter"
        and node.attr.startswith("_")
    }
    assert private == set()
    text = (PACKAGE / "pacing.py").read_text()
    assert "._loop" not in text and "_rate_per_sec" not in text  # the old fake-loop swap
