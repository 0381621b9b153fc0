"""examples/ray_batch.py on a local Ray instance: the CLI's batch semantics and byte-identical outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf
from conftest import music
from tools import batch_inputs, files_under, need_module

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "ray_batch.py"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_ray_batch_writes_what_the_cli_writes(weights_env: Path, tmp_path: Path) -> None:
    need_module("ray", 'pip install -e ".[ray]"')
    batch_inputs(tmp_path / "in")
    cli = run("-m", "reencoder_cli", "upsample", tmp_path / "in", "-r", "-o", tmp_path / "cli", "--json", "-q")
    assert cli.returncode == 1, cli.stderr
    records = tmp_path / "records.jsonl"
    ray = run(SCRIPT, tmp_path / "in", tmp_path / "ray", "--actors", "2", "--records", records)

    assert ray.returncode == 1, ray.stderr  # the bad file failed, the batch went on
    assert "Traceback" not in ray.stderr
    failed = [line for line in ray.stderr.splitlines() if line.startswith("failed ")]
    assert len(failed) == 1 and "bad.wav: not a readable audio file" in failed[0]
    assert "5 done, 0 skipped, 1 failed of 6" in ray.stderr
    assert files_under(tmp_path / "ray") == files_under(tmp_path / "cli")
    assert sorted(files_under(tmp_path / "ray")) == ["f0.wav", "f2.wav", "f4.wav", "sub/f1.flac", "sub/f3.flac"]

    mine = {r["input"]: r for r in map(json.loads, records.read_text().splitlines())}
    theirs = {r["input"]: r for r in map(json.loads, cli.stdout.splitlines())}
    assert mine.keys() == theirs.keys() and len(mine) == 6
    for name, record in mine.items():  # the same record but for the timings and the output folder
        for key in ("seconds", "realtime_factor"):
            del record[key], theirs[name][key]
        record["output"] = record["output"].replace(str(tmp_path / "ray"), str(tmp_path / "cli"))
        assert record == theirs[name], name


def test_ray_batch_settles_existing_outputs_before_starting_ray(weights_env: Path, tmp_path: Path) -> None:
    """As the CLI: an existing output fails without --skip-existing and is skipped with it, and
    when nothing is left to do Ray is never started."""
    need_module("ray", 'pip install -e ".[ray]"')
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "a.wav", music(1.0, 22050, 1).T, 22050, subtype="PCM_16")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.wav").write_bytes(b"an earlier output")

    refused = run(SCRIPT, folder, tmp_path / "out")
    assert refused.returncode == 1
    assert "failed" in refused.stderr and "exists (use --overwrite" in refused.stderr
    skipped = run(SCRIPT, folder, tmp_path / "out", "--skip-existing")
    assert skipped.returncode == 0
    assert "0 done, 1 skipped, 0 failed of 1" in skipped.stderr
    assert "Ray" not in refused.stderr + skipped.stderr  # settled in the driver
    assert (tmp_path / "out" / "a.wav").read_bytes() == b"an earlier output"
    usage = run(SCRIPT, folder, tmp_path / "out", "--name", "{nope}.wav")
    assert usage.returncode == 2 and usage.stderr.strip().startswith("ray_batch.py: error: --name")
