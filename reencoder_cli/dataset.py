"""Random crops and fixed validation clips from the decoded music cache (see ``data``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reencoder_cli.data import SAMPLE_RATE, Track


class CropSampler:
    """Draws random stereo crops from cached tracks, weighted by duration, skipping near-silence.

    Args:
        root: cache folder.
        tracks: the tracks to draw from (one split).
        crop: samples per crop.
        seed: RNG seed (different per worker/rank).
        min_rms: crops quieter than this (linear RMS) are redrawn, up to a few times.
    """

    def __init__(self, root: Path, tracks: list[Track], crop: int, seed: int, min_rms: float = 3e-3) -> None:
        usable = [t for t in tracks if t.seconds * SAMPLE_RATE > crop]
        if not usable:
            raise ValueError(f"no track is longer than the crop ({crop} samples)")
        self.arrays = [np.load(root / t.path, mmap_mode="r") for t in usable]
        weights = np.array([a.shape[0] for a in self.arrays], dtype=np.float64)
        self.weights = weights / weights.sum()
        self.crop = crop
        self.min_rms = min_rms
        self.rng = np.random.default_rng(seed)

    def stereo(self, batch: int) -> np.ndarray:
        """Random crops: -> (B, 2, crop) float32."""
        return np.stack([self._one() for _ in range(batch)])

    def mono(self, batch: int) -> np.ndarray:
        """Random mono crops, each the left, right or mid of a stereo crop: -> (B, crop) float32."""
        wav = self.stereo(batch)
        pick = self.rng.integers(0, 3, size=batch)
        mid = wav.mean(axis=1)
        return np.where(pick[:, None] == 2, mid, wav[np.arange(batch), np.minimum(pick, 1)])

    def _one(self) -> np.ndarray:
        for _ in range(8):
            array = self.arrays[self.rng.choice(len(self.arrays), p=self.weights)]
            start = int(self.rng.integers(0, array.shape[0] - self.crop))
            wav = np.asarray(array[start : start + self.crop], dtype=np.float32).T / 32768.0
            if np.sqrt(np.mean(wav**2)) >= self.min_rms:
                break
        return wav


def validation_clips(root: Path, tracks: list[Track], seconds: float, per_track: int = 2) -> np.ndarray:
    """Fixed clips from validation tracks, evenly placed in each track.

    Args:
        root: cache folder.
        tracks: validation tracks.
        seconds: clip length.
        per_track: clips per track.

    Returns:
        (N, 2, round(seconds * 44100)) float32, the same on every call.
    """
    length = round(seconds * SAMPLE_RATE)
    clips = []
    for track in tracks:
        array = np.load(root / track.path, mmap_mode="r")
        if array.shape[0] <= length:
            continue
        for k in range(per_track):
            start = (array.shape[0] - length) * (k + 1) // (per_track + 1)
            clips.append(np.asarray(array[start : start + length], dtype=np.float32).T / 32768.0)
    return np.stack(clips)
