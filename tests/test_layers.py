"""The tree shows the architecture: imports point down between postgen's folders, Hydra stays at
the edge, and `scheduler` knows nothing of postgen. Read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Higher imports lower; a folder never imports a peer of its own rank. The facade
# (postgen/__init__, __main__, api, legacy) sits on top, so it may import anything.
RANKS = {
    "compat": 7,
    "cli": 6,
    "engine": 5,
    "stages": 4,
    "observe": 3,
    "store": 3,
    "prompts": 3,
    "sim": 3,
    "llm": 2,
    "config": 1,
    "domain": 0,
    "errors": 0,
}
FACADE = {"__init__", "__main__", "api", "legacy"}
EDGE = {"cli", "compat"}  # the only folders that may import Hydra or OmegaConf


def _folder(module: str) -> str | None:
    """`postgen.engine.caller` -> `engine`; None for a name outside postgen's folders."""
    parts = module.split(".")
    return parts[1] if parts[0] == "postgen" and len(parts) > 1 else None


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append((node.lineno, ".".join([*base, node.module or ""]).rstrip(".")))
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def _modules(root: str) -> list[tuple[Path, str, str]]:
    """(file, its module's package, its folder) for every module under `root`."""
    out = []
    for path in sorted((REPO / root).rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)  # a module's package is its folder, also for `__init__`
        out.append((path, ".".join(parts[:-1]), parts[1] if len(parts) > 2 else parts[-1]))
    return out


def _violations() -> list[str]:
    problems = []
    for path, package, folder in _modules("postgen"):
        where = path.relative_to(REPO)
        if folder in FACADE:
            continue
        assert folder in RANKS, f"{where}: folder {folder!r} has no rank in tests/test_layers.py"
        for line, name in _imports(path, package):
            top = name.split(".")[0]
            if top in ("hydra", "omegaconf", "hydra_plugins") and folder not in EDGE:
                problems.append(f"{where}:{line}: imports {name} outside the edge")
            target = _folder(name)
            if target is None or target == folder:
                continue
            if target in FACADE or RANKS.get(target, -1) >= RANKS[folder]:
                problems.append(f"{where}:{line}: {folder} imports {name} (not below it)")
    for path, package, _ in _modules("scheduler"):
        for line, name in _imports(path, package):
            if name.split(".")[0] == "postgen":
                problems.append(f"{path.relative_to(REPO)}:{line}: scheduler imports {name}")
    return problems


def test_imports_point_down_and_hydra_stays_at_the_edge() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("folder", "source", "expect"),
    [
        ("observe", "from postgen.engine.pipeline import run\n", "observe imports postgen.engine"),
        ("stages", "from postgen.llm.types import Message\nimport hydra\n", "outside the edge"),
        ("llm", "from postgen.store.sqlite import SQLiteStore\n", "llm imports postgen.store"),
        ("store", "from postgen.observe import stats\n", "store imports postgen.observe"),
    ],
)
def test_the_walk_catches_a_wrong_import(
    folder: str, source: str, expect: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The checker must be able to fail: plant a bad module in a copy of the tree.
    fake = tmp_path / "postgen" / folder
    fake.mkdir(parents=True)
    (fake / "planted.py").write_text(source, encoding="utf-8")
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "x.py").write_text("import postgen.domain\n", encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    problems = _violations()
    assert any(expect in p for p in problems), problems
    assert any("scheduler imports postgen.domain" in p for p in problems), problems
