"""Latent data cache: every track encoded once by the frozen autoencoder, for every input condition.

One safetensors shard per track (fp16), holding:

- ``full``: (2, D, F) latents of the left and right channels;
- ``mid``: (1, D, F) latent of the mono downmix (L + R) / 2;
- ``r<rate>``: (2, D, F) latents of each channel resampled down to ``rate`` and back up to
  44.1 kHz with the windowed-sinc resampler (the bandwidth-extension inputs).

All conditions of a track share F frames. Latent-module training then never runs the
autoencoder. Building is resumable (finished shards are skipped) and tied to one
autoencoder: a shard made by another is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.data.music import Track, load_manifest
from reencoder_cli.errors import DataError
from reencoder_cli.models.bwe import RATES
from reencoder_cli.models.layers import frame_level

if TYPE_CHECKING:
    from reencoder_cli.engine.pipeline import Pipeline


def shard_path(root: Path, track: Track) -> Path:
    """Where a track's latents live under ``root``."""
    return root / track.split / f"{track.source}__{track.name}.safetensors"


def sources(root: Path, split: str = "train") -> list[str]:
    """The music sources (``Track.source``) whose latents are under ``root/split``, sorted."""
    return sorted({p.name.split("__")[0] for p in (root / split).glob("*.safetensors")})


def cached_tracks(root: Path) -> list[Track]:
    """The tracks whose latents are under ``root`` (every split), read from each shard's metadata.

    Raises:
        DataError: a file under ``root/train`` or ``root/valid`` is not a latent shard.
    """
    from safetensors import safe_open

    tracks = []
    for path in sorted(p for split in ("train", "valid") for p in (root / split).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as fh:
            track = (fh.metadata() or {}).get("track")
        if track is None:
            raise DataError(f"{path}: not a latent shard (no track in its metadata)")
        tracks.append(Track(**json.loads(track)))
    return tracks


def select(tracks: list[Track], hours: float, valid_hours: float | None = None) -> list[Track]:
    """A deterministic subset of ``tracks``: at most ``hours`` of training and ``valid_hours``
    (default: ``hours``) of validation music, spread over sources.

    Tracks are taken in the order of a hash of their name, so every source is sampled and
    a larger budget always contains a smaller one's tracks.
    """
    chosen: list[Track] = []
    budget = {"train": hours * 3600, "valid": (hours if valid_hours is None else valid_hours) * 3600}
    for track in sorted(tracks, key=lambda t: hashlib.sha1(f"{t.source}/{t.name}".encode()).hexdigest()):
        if track.seconds <= budget[track.split]:
            chosen.append(track)
            budget[track.split] -= track.seconds
    return chosen


def encode_track(pipeline: Pipeline, wav: np.ndarray, rates: tuple[int, ...]) -> dict[str, Tensor]:
    """All conditions of one stereo track.

    Args:
        pipeline: a ``Pipeline`` holding the frozen autoencoder.
        wav: (2, T) float32 at 44.1 kHz.
        rates: low input rates to simulate.

    Returns:
        name -> (C, D, F) fp16 tensors, all with the same F.
    """
    from reencoder_cli.io import audio

    out = {
        "full": pipeline.encode(wav, SAMPLE_RATE).z,
        "mid": pipeline.encode(audio.to_mono(wav), SAMPLE_RATE).z,
    }
    for rate in rates:
        low = audio.resample(wav, SAMPLE_RATE, rate)
        out[f"r{rate}"] = pipeline.encode(low, rate).z
    frames = min(z.shape[-1] for z in out.values())
    return {k: z[..., :frames].half().contiguous() for k, z in out.items()}


def build(
    data: Path,
    root: Path,
    autoencoder: str,
    log: Callable[[str], None],
    rates: tuple[int, ...] = RATES,
    splits: tuple[str, ...] = ("train", "valid"),
    device: str = "auto",
    hours: float = float("inf"),
    valid_hours: float | None = None,
) -> dict[str, float]:
    """Encode the tracks of the music cache at ``data`` (a subset: see ``select``) into shards under ``root``.

    Returns:
        Summary: tracks, hours of audio, size in MB, seconds spent.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    from reencoder_cli.engine.pipeline import Pipeline

    pipeline = Pipeline(autoencoder=autoencoder, device=device)
    space = pipeline.ae_id.latent_space
    start = time.perf_counter()
    tracks = select([t for t in load_manifest(data) if t.split in splits], hours, valid_hours)
    done_seconds = 0.0
    for index, track in enumerate(tracks):
        path = shard_path(root, track)
        if path.exists():
            with safe_open(str(path), framework="pt") as fh:
                if (fh.metadata() or {}).get("latent_space") == space:
                    continue
        wav = np.load(data / track.path, mmap_mode="r").T.astype(np.float32) / 32768.0
        tensors = encode_track(pipeline, wav, rates)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        meta = {"latent_space": space, "track": json.dumps(track.__dict__), "rates": json.dumps(list(rates))}
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
        done_seconds += track.seconds
        elapsed = time.perf_counter() - start
        log(
            f"latents: {index + 1}/{len(tracks)} {track.source}/{track.name} "
            f"({done_seconds / max(elapsed, 1e-9):.0f}x real time)"
        )
    size = sum(p.stat().st_size for p in root.rglob("*.safetensors"))
    hours = sum(t.seconds for t in tracks) / 3600
    return {"tracks": len(tracks), "hours": hours, "megabytes": size / 1e6, "seconds": time.perf_counter() - start}


class LatentCrops:
    """Random aligned crops of cached latents (all in memory, fp16).

    Args:
        root: cache folder.
        split: "train" or "valid".
        keys: which conditions to load (e.g. ``("full", "r8000", ...)``).
        frames: frames per crop.
        seed: RNG seed.
    """

    def __init__(self, root: Path, split: str, keys: tuple[str, ...], frames: int, seed: int = 0) -> None:
        from safetensors.torch import load_file

        paths = sorted((root / split).glob("*.safetensors"))
        if not paths:
            raise DataError(f"no latent shards in {root / split}: build them with `reencoder train latents`")
        self.shards = [load_file(str(p)) for p in paths]
        self.shards = [{k: s[k] for k in keys} for s in self.shards if s["full"].shape[-1] > frames]
        lengths = np.array([s["full"].shape[-1] for s in self.shards], dtype=np.float64)
        self.weights = lengths / lengths.sum()
        self.frames = frames
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> list[dict[str, Tensor]]:
        """``batch`` crops: each a dict of (C, D, frames) float32 tensors, one per key."""
        crops = []
        for i in self.rng.choice(len(self.shards), size=batch, p=self.weights):
            shard = self.shards[i]
            start = int(self.rng.integers(0, shard["full"].shape[-1] - self.frames + 1))
            crops.append({k: v[..., start : start + self.frames].float() for k, v in shard.items()})
        return crops

    def statistics(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the level-normalised full-band latents (``layers.frame_level``): (D,), (D,).

        Each frame is divided by its own level; the flow trainer divides by the low band's
        level, which is smaller by the missing band's share, so the normalised targets there
        spread a little wider than unit scale (a constant the velocity net absorbs).
        """
        shapes = [s["full"].float() / frame_level(s["full"].float()) for s in self.shards]  # (C, D, F) each
        z = torch.cat([x.transpose(0, 1).reshape(x.shape[1], -1) for x in shapes], dim=1)
        return z.mean(dim=1).tolist(), z.std(dim=1).clamp_min(1e-3).tolist()
