"""The GPU training script's CPU dry run: the same script, a tiny pack, the CPU, two variants at once."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import soundfile as sf
from conftest import music

from reencoder_cli.data.music import Track, write_manifest
from reencoder_cli.io.weights import load_model
from reencoder_cli.models.registry import model_factories
from reencoder_cli.train.loop import MetricLog

SCRIPT = Path(__file__).parents[1] / "scripts" / "gpu_train_ae.sh"


def tiny_pack(folder: Path) -> None:
    """Two 3-s training tracks and a 4-s validation track (FLAC: packs hold any format libsndfile reads)."""
    tracks = []
    for i, (name, seconds, split) in enumerate([("a", 3.0, "train"), ("b", 3.0, "train"), ("c", 4.0, "valid")]):
        (folder / "src").mkdir(parents=True, exist_ok=True)
        sf.write(folder / "src" / f"{name}.flac", 0.5 * music(seconds, seed=i)[0], 44100)
        tracks.append(Track("src", name, f"src/{name}.flac", seconds, split))
    write_manifest(folder, tracks)


def run_script(tmp_path: Path, *variants: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        DEVICE="cpu",
        PACK=str(tmp_path / "pack"),
        WHEELS=str(tmp_path / "no-wheels"),
        CACHE=str(tmp_path / "cache"),
        RUNS=str(tmp_path / "runs"),
        OUT=str(tmp_path / "out"),
    )
    return subprocess.run(["bash", str(SCRIPT), "5", *variants], env=env, capture_output=True, text=True, timeout=600)


def test_dry_run_trains_each_variant_and_brings_back_its_weights_and_log(tmp_path: Path) -> None:
    tiny_pack(tmp_path / "pack")
    done = run_script(tmp_path, "base=--batch 2 --steps 3", "gan=--batch 2 --steps 10 --gan-start 0 --lr 1e-4")
    assert done.returncode == 0, done.stderr[-2000:]
    for name, steps in (("base", 3), ("gan", 10)):
        parts = sorted((tmp_path / "out").glob(f"{name}.tgz.*"))
        assert parts and all(p.stat().st_size <= 15 * 2**20 for p in parts)
        folder = tmp_path / "back" / name
        with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts))) as tar:
            tar.extractall(folder, filter="data")
        model, meta = load_model(str(folder / "autoencoder.safetensors"), model_factories(), expect_arch="autoencoder")
        assert meta.train["steps"] == steps and model.sample_rate == 44100
        rows = list(MetricLog(folder / "log.csv").rows())
        assert any(key == "val/mel" for _, _, key, _ in rows)
        assert (name == "gan") == any(key == "disc" for _, _, key, _ in rows)  # each ran its own options
        assert (folder / "loss.png").exists() and "weights:" in (folder / "output.txt").read_text()


def test_a_variant_needs_a_name_and_options(tmp_path: Path) -> None:
    done = run_script(tmp_path, "--batch 2")
    assert done.returncode == 2 and "NAME='train options'" in done.stderr
