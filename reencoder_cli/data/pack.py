"""A portable excerpt of the music cache: Opus files and a manifest, small enough to carry.

A lent GPU machine takes at most 64 MiB of files and reaches no network, so the decoded
cache (``music``, gigabytes of int16) cannot travel. ``pack_cache`` writes the middle of
every track as Opus (opus-tools' ``opusenc``, here), with the tracks' lengths shared out so
that the training split totals a given number of minutes and every validation track keeps
its middle ``valid_seconds`` (which hold the clips that training validates on and that
``eval`` scores, so their numbers stay comparable). ``unpack`` decodes a pack into a cache
again (libsndfile, in the soundfile wheel, reads Opus), with the same sources, names and
split.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.data.music import Track, decode_stereo, load_manifest, save_npy_atomic, write_manifest
from reencoder_cli.errors import DataError
from reencoder_cli.io.audio_write import opus_encode


def share_out(seconds: list[float], total: float) -> list[float]:
    """Excerpt lengths, one per track, summing to ``total`` (or to every track whole if shorter).

    Water-filling: every track gets the same length, capped at its own; what short tracks
    leave is shared among the longer ones. seconds: (N,) -> (N,).
    """
    order = np.argsort(seconds)
    out = [0.0] * len(seconds)
    left, remaining = total, len(seconds)
    for i in order:
        out[i] = min(seconds[i], left / remaining)
        left -= out[i]
        remaining -= 1
    return out


def pack_cache(
    cache: Path,
    out: Path,
    log: Callable[[str], None],
    *,
    minutes: float = 100.0,
    valid_seconds: float = 13.0,
    kbps: int = 48,
    stereo: bool = False,
) -> list[Track]:
    """Write the middle of every track of ``cache`` as Opus into ``out``, with a manifest.

    Args:
        cache: a decoded cache (``reencoder data build``).
        out: the pack folder (written whole or not at all; an existing non-empty one is refused).
        log: receives one progress line at a time.
        minutes: total length of the training split's excerpts.
        valid_seconds: the middle of each validation track kept.
        kbps: Opus bitrate per channel.
        stereo: keep both channels; by default the mid only (the autoencoder trains on mono).

    Returns:
        The pack's tracks (paths relative to ``out``, lengths of the excerpts).
    """
    tracks = load_manifest(cache)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} is not empty: remove it or pack into another folder")
    train = [t for t in tracks if t.split == "train"]
    lengths = dict(zip((t.path for t in train), share_out([t.seconds for t in train], minutes * 60)))
    partial = out.with_name(f".{out.name}.partial")  # renamed to ``out`` when complete
    shutil.rmtree(partial, ignore_errors=True)
    try:
        packed = [
            _pack_track(cache, partial, t, lengths.get(t.path, min(t.seconds, valid_seconds)), kbps, stereo)
            for t in tracks
        ]
        write_manifest(partial, packed)
        if out.exists():
            out.rmdir()  # empty, checked above
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    size = sum(f.stat().st_size for f in out.rglob("*.opus")) / 2**20
    train_min = sum(t.seconds for t in packed if t.split == "train") / 60
    valid_min = sum(t.seconds for t in packed if t.split == "valid") / 60
    log(f"{len(packed)} tracks, {train_min:.1f} min train + {valid_min:.1f} min valid, {size:.1f} MiB in {out}")
    return packed


def _pack_track(cache: Path, out: Path, track: Track, seconds: float, kbps: int, stereo: bool) -> Track:
    """Encode the middle ``seconds`` of one track into ``out``; return its pack entry."""
    rel = str(Path(track.path).with_suffix(".opus"))
    whole = np.load(cache / track.path, mmap_mode="r")
    length = round(seconds * SAMPLE_RATE)
    start = (whole.shape[0] - length) // 2
    wav = np.asarray(whole[start : start + length], dtype=np.float32).T / 32768.0  # (2, T)
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    opus_encode(wav if stereo else wav.mean(axis=0, keepdims=True), SAMPLE_RATE, out / rel, kbps)
    return replace(track, path=rel, seconds=seconds)


def unpack(pack: Path, cache: Path, log: Callable[[str], None], workers: int | None = None) -> list[Track]:
    """Decode a pack (``pack_cache``) into a cache at ``cache`` that training reads; resumable.

    Tracks are decoded by ``workers`` threads (default: one per CPU; libsndfile and soxr
    release the GIL).

    Returns:
        The cache's tracks, as its manifest lists them.
    """

    def one(track: Track) -> Track:
        rel = str(Path(track.path).with_suffix(".npy"))
        if not (cache / rel).exists():
            save_npy_atomic(cache / rel, decode_stereo(str(pack / track.path)))
        frames = np.load(cache / rel, mmap_mode="r").shape[0]
        return replace(track, path=rel, seconds=frames / SAMPLE_RATE)

    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        decoded = list(pool.map(one, load_manifest(pack)))
    write_manifest(cache, decoded)
    minutes = sum(t.seconds for t in decoded) / 60
    log(f"{len(decoded)} tracks, {minutes:.1f} min decoded into {cache}")
    return decoded
