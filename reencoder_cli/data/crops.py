"""Random crops and fixed validation clips from the decoded music cache (see ``music``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.data.music import Track


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


class DeviceCrops:
    """Random mono crops drawn on the training device from every track held there at once.

    The whole split is read once into one int16 tensor on ``device`` (a GPU holds hours of
    music in a few GB), so a step costs no host reads or copies and no synchronisation:
    crops are drawn as with ``CropSampler`` (weighted by duration, each the left, right or
    mid), and a crop quieter than ``min_rms`` is replaced by a second candidate drawn with it.

    Args:
        root: cache folder.
        tracks: the tracks to draw from (one split).
        crop: samples per crop.
        seed: RNG seed.
        device: where the music and the crops live.
        min_rms: the level under which a crop is replaced.
    """

    def __init__(
        self, root: Path, tracks: list[Track], crop: int, seed: int, device: torch.device, min_rms: float = 3e-3
    ) -> None:
        arrays = [np.load(root / t.path, mmap_mode="r") for t in tracks if t.seconds * SAMPLE_RATE > crop]
        if not arrays:
            raise ValueError(f"no track is longer than the crop ({crop} samples)")
        lengths = torch.tensor([a.shape[0] for a in arrays])
        starts = lengths - crop  # start positions per track
        self.audio = torch.from_numpy(np.concatenate(arrays)).to(device)  # (N, 2) int16
        self.offsets = (lengths.cumsum(0) - lengths).to(device)  # (tracks,) where each track begins
        self.ends = starts.cumsum(0).to(device)  # (tracks,) start positions up to each track's end
        self.before = self.ends - starts.to(device)  # (tracks,) start positions before each track
        self.positions = int(starts.sum())
        self.steps = torch.arange(crop, device=device)
        self.min_rms = min_rms
        self.generator = torch.Generator(device).manual_seed(seed)

    def mono(self, batch: int) -> torch.Tensor:
        """Random mono crops: -> (B, crop) float32 on the device."""
        device, generator = self.audio.device, self.generator
        n = 2 * batch  # each crop and its stand-in
        position = torch.randint(
            0, self.positions, (n,), device=device, generator=generator
        )  # uniform over start positions
        track = torch.searchsorted(self.ends, position, right=True)
        start = self.offsets[track] + position - self.before[track]  # (2B,)
        stereo = self.audio[start[:, None] + self.steps].float() / 32768.0  # (2B, crop, 2)
        pick = torch.randint(0, 3, (n, 1), device=device, generator=generator)
        mono = torch.where(pick == 2, stereo.mean(dim=-1), stereo[..., 0].where(pick == 0, stereo[..., 1]))
        quiet = mono[:batch].square().mean(dim=-1, keepdim=True).sqrt() < self.min_rms  # (B, 1)
        return torch.where(quiet, mono[batch:], mono[:batch])


def long_enough(root: Path, tracks: list[Track], seconds: float) -> list[Track]:
    """The tracks longer than ``seconds``: those ``validation_clips`` takes clips from."""
    length = round(seconds * SAMPLE_RATE)
    return [t for t in tracks if np.load(root / t.path, mmap_mode="r").shape[0] > length]


def validation_clips(root: Path, tracks: list[Track], seconds: float, per_track: int = 2) -> np.ndarray:
    """Fixed clips from validation tracks (those ``long_enough``), evenly placed in each track.

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
    for track in long_enough(root, tracks, seconds):
        array = np.load(root / track.path, mmap_mode="r")
        for k in range(per_track):
            start = (array.shape[0] - length) * (k + 1) // (per_track + 1)
            clips.append(np.asarray(array[start : start + length], dtype=np.float32).T / 32768.0)
    return np.stack(clips)
