"""examples/parallel.sh with GNU parallel: shards of one batch, outputs identical to one CLI process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tools import batch_inputs, files_under, need_program

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "parallel.sh"


def test_parallel_shards_write_what_the_cli_writes(weights_env: Path, tmp_path: Path) -> None:
    need_program("parallel", "Debian: apt-get install parallel")
    batch_inputs(tmp_path / "in")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # its reencoder
    cli = subprocess.run(
        ["reencoder", "upsample", tmp_path / "in", "-r", "-o", tmp_path / "cli", "-q"], env=env, capture_output=True
    )
    assert cli.returncode == 1
    command = ["bash", SCRIPT, tmp_path / "in", tmp_path / "par", "2"]
    shards = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)

    assert shards.returncode != 0, shards.stderr  # a worker had the bad file; the other finished its shard
    assert shards.stdout.startswith("5 done, 0 skipped, 1 failed,"), shards.stdout
    made = files_under(tmp_path / "par")
    logs = sorted(name for name in made if name.startswith(".reencoder-"))
    assert logs == [".reencoder-1.jsonl", ".reencoder-2.jsonl"]  # one JSON record per file, per worker
    records = [json.loads(line) for name in logs for line in made.pop(name).decode().splitlines()]
    names = sorted(Path(r["input"]).name for r in records)
    assert names == ["bad.wav", "f0.wav", "f1.flac", "f2.wav", "f3.flac", "f4.wav"]
    assert made == files_under(tmp_path / "cli")
    assert len(made) == 5

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.stdout.startswith("0 done, 5 skipped, 1 failed,"), again.stdout  # a re-run resumes
