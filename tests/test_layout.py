"""The package's folders are the stages of the data path: each imports only from below it
(the level table of DESIGN.md), so no cycle can come back."""

from __future__ import annotations

import ast
from pathlib import Path

import reencoder_cli

PACKAGE = Path(reencoder_cli.__file__).parent
LEVELS = {  # part -> level; parts of one level may not import each other
    "chunks": 0,
    "constants": 0,
    "errors": 0,
    "defaults": 0,
    "system": 0,
    "io": 1,
    "models": 2,
    "dsp": 2,
    "engine": 3,
    "batch": 4,
    "data": 4,
    "eval": 5,
    "train": 6,
    "cli": 7,
    "api": 7,
    "__init__": 7,
    "__main__": 8,
}


def part_of(module: str) -> str:
    """``reencoder_cli.engine.stream`` -> ``engine``; the package itself -> ``__init__``."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def imports(path: Path) -> set[str]:
    """Every ``reencoder_cli`` module a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "reencoder_cli":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "reencoder_cli"}
    return found


def test_every_part_imports_only_from_below_it() -> None:
    wrong = []
    files = sorted(PACKAGE.rglob("*.py"))
    for path in files:
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        here = part_of(".".join(rel.parts))
        assert here in LEVELS, f"{rel}: a part the level table does not know"
        for module in imports(path):
            there = part_of(module)
            if there != here and (there not in LEVELS or LEVELS[there] >= LEVELS[here]):
                wrong.append(f"{rel} imports {module}")
    assert len(files) > 50 and not wrong, wrong
