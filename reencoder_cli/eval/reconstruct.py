"""The ``reconstruct`` task: the autoencoder against Opus at several bitrates, with latent noise,
and its linearity (gain and mixtures in the latent against the same on the waveform)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.eval.evaluate import Clip, Metric, Row, System, fit_length, score
from reencoder_cli.eval.metrics import band_metrics
from reencoder_cli.io import audio, audio_write

if TYPE_CHECKING:
    from reencoder_cli.engine.pipeline import Pipeline


def opus_round_trip(wav: np.ndarray, kbps: int) -> np.ndarray | None:
    """Encode with opusenc at ``kbps`` per channel and decode at 44.1 kHz; None without opus-tools."""
    if shutil.which("opusenc") is None or shutil.which("opusdec") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        enc, dec = Path(tmp) / "x.opus", Path(tmp) / "out.wav"
        audio_write.opus_encode(wav, SAMPLE_RATE, enc, kbps)
        command = ["opusdec", "--quiet", "--rate", str(SAMPLE_RATE), "--float", str(enc), str(dec)]
        subprocess.run(command, check=True, capture_output=True)
        out, _ = audio.read_audio(dec)
    return fit_length(out, wav.shape[-1])


def _opus(kbps: int, clip: Clip, wav: np.ndarray) -> np.ndarray:
    out = opus_round_trip(wav, kbps)
    assert out is not None  # Opus rows are made only where opus-tools are installed
    return out


def evaluate_reconstruct(
    clips: list[Clip],
    pipeline: Pipeline,
    bitrates: tuple[int, ...] = (32, 64, 96),
    keep_outputs: bool = False,
    metric: Metric = band_metrics,
) -> list[Row]:
    """Autoencoder vs Opus (kbps per channel), mono clips."""
    import torch

    mono = [Clip(c.name, audio.to_mono(c.wav)) for c in clips]

    def ae(clip: Clip, x: np.ndarray) -> np.ndarray:
        return pipeline.decode(pipeline.encode(x, SAMPLE_RATE))

    def noisy(level: float) -> System:
        def run(clip: Clip, x: np.ndarray) -> np.ndarray:
            from reencoder_cli.models.autoencoder import noisy_latent

            latent = pipeline.encode(x, SAMPLE_RATE)
            z = noisy_latent(latent.z, level, torch.Generator().manual_seed(0))
            return pipeline.decode(latent.with_z(z))

        return run

    systems: dict[str, System] = {
        "autoencoder": ae,
        "AE, latent noise 0.1 x frame RMS": noisy(0.1),
        "AE, latent noise 0.3 x frame RMS": noisy(0.3),
    }
    if shutil.which("opusenc"):
        for kbps in bitrates:
            systems[f"Opus {kbps} kbps"] = functools.partial(_opus, kbps)
    return score(systems, mono, lambda c: c.wav, metric, keep_outputs)


MIX_DB = (-12.0, 0.0)  # the second track's level in an additivity pair, drawn uniformly (seeded)


def partner_of(clips: list[Clip], i: int) -> int | None:
    """The next clip (cyclically) of another track than clip ``i`` (names are ``TRACK_k``); None: one track only."""
    track = clips[i].name.rsplit("_", 1)[0]
    n = len(clips)
    return next((j % n for j in range(i + 1, i + n) if clips[j % n].name.rsplit("_", 1)[0] != track), None)


def evaluate_linearity(clips: list[Clip], pipeline: Pipeline, gains: tuple[float, ...] = (0.25, 0.5, 2.0)) -> list[Row]:
    """Homogeneity D(g E(x)) vs g x, and additivity as ``reencoder mix`` makes it: the latents of
    two different tracks a and b summed with b at a random level w (``MIX_DB``, seeded), decoded,
    against a + w b, next to D(E(a + w b)), the plain reconstruction error of those same
    mixtures, the fair reference (its ratio is the additivity row's note).
    """
    from reencoder_cli.models import arith

    mono = [audio.to_mono(c.wav) for c in clips]
    enc = [pipeline.encode(x, SAMPLE_RATE) for x in mono]

    def mean_metrics(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
        per = [band_metrics(fit_length(e, r.shape[-1]), r) for e, r in pairs]
        return {k: float(np.mean([m[k] for m in per])) for k in per[0]}

    rows = [Row("D(E(x)) vs x", mean_metrics([(pipeline.decode(z), x) for z, x in zip(enc, mono)]))]
    for g in gains:
        pairs = [(pipeline.decode(z.with_z(g * z.z)), g * x) for z, x in zip(enc, mono)]
        rows.append(Row(f"D({g:g} E(x)) vs {g:g} x", mean_metrics(pairs)))
    rng = np.random.default_rng(0)
    mixed, whole = [], []
    for i, a in enumerate(mono):
        j = partner_of(clips, i)
        if j is None:
            continue
        w = arith.db_to_gain(float(rng.uniform(*MIX_DB)))
        n = min(a.shape[-1], mono[j].shape[-1])
        a_n, b_n = a[:, :n], mono[j][:, :n]
        za, zb = pipeline.encode(a_n, SAMPLE_RATE), pipeline.encode(b_n, SAMPLE_RATE)
        target = a_n + w * b_n
        mixed.append((pipeline.decode(za.with_z(arith.mix([za.z, zb.z], [1.0, w]))), target))
        whole.append((pipeline.decode(pipeline.encode(target, SAMPLE_RATE)), target))
    if mixed:
        add, ref = mean_metrics(mixed), mean_metrics(whole)
        label = f"two tracks, b at {MIX_DB[0]:g} to {MIX_DB[1]:g} dB"
        note = f"mel-D {add['mel'] / ref['mel']:.2f}x the reconstruction of the same mixtures"
        rows.append(Row(f"D(E(a) + w E(b)) vs a + w b ({label})", add, note=note))
        rows.append(Row("D(E(a + w b)) vs a + w b", ref))
    return rows
