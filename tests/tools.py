"""What the tests of the examples and of the browser share.

Tools beyond the package (Ray, GNU parallel, Chromium) are skipped with the reason where
missing, except where ``REENCODER_REQUIRE_TOOLS`` is set (CI installs them all): there a
missing tool fails the test instead of hiding it. And a batch of inputs to compare the
examples' outputs with the CLI's.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from conftest import music

REQUIRE = "REENCODER_REQUIRE_TOOLS"


def need(found: bool, what: str, install: str) -> None:
    """Skip (or, with ``REENCODER_REQUIRE_TOOLS`` set, fail) unless ``found``, saying how to install ``what``."""
    if found:
        return
    reason = f"{what} is not installed ({install})"
    if os.environ.get(REQUIRE):
        pytest.fail(f"{reason}, and {REQUIRE} is set")
    pytest.skip(reason)


def need_module(name: str, install: str) -> None:
    """A Python package, e.g. ``need_module("ray", 'pip install -e ".[ray]"')``."""
    need(importlib.util.find_spec(name) is not None, f"the Python package {name}", install)


def need_program(name: str, install: str) -> str:
    """A program on PATH; returns its path."""
    path = shutil.which(name)
    need(path is not None, f"the program {name}", install)
    assert path is not None
    return path


def batch_inputs(folder: Path) -> None:
    """Five short inputs (rates, channels, a sub-folder) and one file that is not audio."""
    (folder / "sub").mkdir(parents=True)
    for i, (rate, channels) in enumerate([(22050, 2), (22050, 1), (16000, 2), (32000, 1), (24000, 2)]):
        name = f"sub/f{i}.flac" if i % 2 else f"f{i}.wav"
        sf.write(folder / name, music(1.5 + 0.25 * i, rate, channels, seed=i).T, rate, subtype="PCM_16")
    (folder / "bad.wav").write_bytes(b"RIFF but not a wave file")


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too: no temporary may be left): relative path -> bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
