"""Packs: Opus excerpts of the music cache that unpack into a cache with the same tracks and split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import music
from typer.testing import CliRunner

from reencoder_cli.cli import app
from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.data import pack
from reencoder_cli.data.music import Track, load_manifest, save_npy_atomic, to_int16, write_manifest
from reencoder_cli.data.pack import pack_cache, share_out, unpack
from reencoder_cli.errors import AudioError

needs_opusenc = pytest.mark.skipif(shutil.which("opusenc") is None, reason="opus-tools not installed")


def test_share_out_fills_the_total_and_caps_each_track() -> None:
    assert share_out([10.0, 100.0, 1000.0], 300.0) == pytest.approx([10.0, 100.0, 190.0])
    assert share_out([1000.0, 10.0, 1000.0], 300.0) == pytest.approx([145.0, 10.0, 145.0])
    assert share_out([10.0, 20.0], 100.0) == [10.0, 20.0]  # more asked than there is: every track whole


def make_cache(root: Path) -> list[Track]:
    """Three 6-s stereo tracks (two train, one valid) with different L and R."""
    tracks = []
    for i, (name, split) in enumerate([("a", "train"), ("b", "train"), ("c", "valid")]):
        left, right = music(6.0, seed=i)[0], music(6.0, seed=10 + i)[0]
        save_npy_atomic(root / "src" / f"{name}.npy", to_int16(np.stack([left, right], axis=1)))
        tracks.append(Track("src", name, f"src/{name}.npy", 6.0, split))
    write_manifest(root, tracks)
    return tracks


@needs_opusenc
@pytest.mark.parametrize("stereo", [False, True])
def test_pack_then_unpack_keeps_the_tracks_the_split_and_the_middle(tmp_path: Path, stereo: bool) -> None:
    tracks = make_cache(tmp_path / "cache")
    packed = pack_cache(tmp_path / "cache", tmp_path / "pack", print, minutes=0.1, valid_seconds=4.0, stereo=stereo)
    assert sum(t.seconds for t in packed if t.split == "train") == pytest.approx(6.0)  # 0.1 min over two tracks
    assert all(p.path.endswith(".opus") for p in packed)
    cache = unpack(tmp_path / "pack", tmp_path / "out", print)
    assert [(t.source, t.name, t.split) for t in cache] == [(t.source, t.name, t.split) for t in tracks]
    assert load_manifest(tmp_path / "out", "valid")[0].seconds == pytest.approx(4.0, abs=1e-3)
    # the validation excerpt is the middle 4 s of the track: Opus-close to the original there
    original = np.load(tmp_path / "cache" / "src" / "c.npy").astype(np.float32) / 32768
    decoded = np.load(tmp_path / "out" / "src" / "c.npy").astype(np.float32) / 32768
    start = (original.shape[0] - decoded.shape[0]) // 2
    expected = original[start : start + decoded.shape[0]]
    if not stereo:
        expected = np.repeat(expected.mean(axis=1, keepdims=True), 2, axis=1)
        assert np.array_equal(decoded[:, 0], decoded[:, 1])
    else:
        assert not np.allclose(decoded[:, 0], decoded[:, 1], atol=1e-2)
    core = slice(SAMPLE_RATE // 10, -SAMPLE_RATE // 10)
    error = decoded[core] - expected[core]
    assert 10 * np.log10((expected[core] ** 2).sum() / (error**2).sum()) > 10  # dB: aligned, not shifted


def test_data_pack_without_a_cache_or_into_a_used_folder_is_one_error_line(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["data", "pack", str(tmp_path / "pack"), "--root", str(tmp_path / "none")])
    assert out.exit_code != 0 and "manifest.json not found" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    make_cache(tmp_path / "cache")
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "keep.txt").write_text("mine")
    out = runner.invoke(app, ["data", "pack", str(tmp_path / "pack"), "--root", str(tmp_path / "cache")])
    assert out.exit_code != 0 and "is not empty" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert (tmp_path / "pack" / "keep.txt").read_text() == "mine"


def test_a_pack_that_fails_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cache(tmp_path / "cache")
    calls: list[Path] = []

    def encode(wav: np.ndarray, rate: int, path: Path, kbps: int) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise AudioError(f"opusenc failed on {path}")
        path.write_bytes(b"opus")

    monkeypatch.setattr(pack, "opus_encode", encode)
    with pytest.raises(AudioError):
        pack.pack_cache(tmp_path / "cache", tmp_path / "pack", print)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no pack, no partial folder
