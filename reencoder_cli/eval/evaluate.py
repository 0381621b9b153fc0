"""Evaluation: make the degraded inputs, run every system row, score with the DESIGN.md metrics.

Tasks:

- ``upsample``: references are low-passed and resampled to ``rate`` (soxr's anti-aliasing
  filter), then every bandwidth-extension system brings them back to 44.1 kHz.
- ``upmix``: references are stereo; systems get the mono downmix (L + R) / 2.
- ``reconstruct`` (in ``reconstruct``): the autoencoder against Opus at several bitrates, and
  its robustness to latent noise.
- ``linearity`` (in ``reconstruct``): gain and mixtures in the latent against the same on the
  waveform.

A system is a function from (reference clip, degraded input) to an estimate of the
reference; rows hold the metrics averaged over clips and the system's GFLOPs per second.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.defaults import UPMIX_MIN_SIDE_DB, UPMIX_SIDE, UPMIX_SIDES, UPMIX_TEMPERATURE
from reencoder_cli.dsp import baselines, post
from reencoder_cli.eval.metrics import band_metrics, stereo_metrics, visqol
from reencoder_cli.io import audio, audio_write

if TYPE_CHECKING:
    from reencoder_cli.engine.pipeline import Pipeline


@dataclass(frozen=True)
class Clip:
    """A reference excerpt at 44.1 kHz: wav (C, T)."""

    name: str
    wav: np.ndarray


@dataclass
class Row:
    """One system's averaged metrics."""

    system: str
    metrics: dict[str, float]
    gflops: float | None = None
    note: str = ""
    outputs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # clip name -> estimate


System = Callable[[Clip, np.ndarray], np.ndarray]
Metric = Callable[[np.ndarray, np.ndarray], dict[str, float]]


def with_visqol(metric: Metric) -> Metric:
    """``metric`` plus ``visqol`` (ViSQOL MOS-LQO, higher is better) for each clip."""

    def both(est: np.ndarray, ref: np.ndarray) -> dict[str, float]:
        score = visqol(est, ref)
        assert score is not None  # the command adds ViSQOL only where it is installed
        return {**metric(est, ref), "visqol": score}

    return both


def load_clips(paths: list[str], seconds: float | None = None, per_file: int = 1) -> list[Clip]:
    """Reference clips from audio files or folders: ``per_file`` evenly spaced excerpts of ``seconds``.

    Files are resampled to 44.1 kHz; ``seconds`` None takes each file whole.
    """
    from reencoder_cli.batch.jobs import expand_inputs

    clips = []
    for source in expand_inputs(paths, recursive=True):
        wav, rate = audio.read_audio(source.path)
        wav = audio.resample(wav, rate, SAMPLE_RATE)
        length = wav.shape[-1] if seconds is None else min(wav.shape[-1], round(seconds * SAMPLE_RATE))
        for k in range(per_file if length < wav.shape[-1] else 1):
            start = (wav.shape[-1] - length) * (k + 1) // (per_file + 1) if length < wav.shape[-1] else 0
            clips.append(Clip(f"{Path(source.path).stem}_{k}", np.ascontiguousarray(wav[:, start : start + length])))
    return clips


def cache_clips(cache: Path, seconds: float, per_track: int) -> list[Clip]:
    """Stereo clips from the validation split of the music cache (``reencoder data build``)."""
    from reencoder_cli.data.crops import long_enough, validation_clips
    from reencoder_cli.data.music import load_manifest

    tracks = long_enough(cache, load_manifest(cache, "valid"), seconds)
    clips = validation_clips(cache, tracks, seconds, per_track)
    names = [f"{t.source}-{t.name}_{k}" for t in tracks for k in range(per_track)]
    return [Clip(n, c) for n, c in zip(names, clips)]


def fit_length(wav: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis to ``length`` (resampling can differ by a sample)."""
    if wav.shape[-1] >= length:
        return wav[..., :length]
    return np.pad(wav, [(0, 0)] * (wav.ndim - 1) + [(0, length - wav.shape[-1])])


def score(
    systems: dict[str, System],
    clips: list[Clip],
    degrade: Callable[[Clip], np.ndarray],
    metric: Metric,
    keep_outputs: bool = False,
) -> list[Row]:
    """Run each system on each clip's degraded input; average the metrics over clips."""
    inputs = {c.name: degrade(c) for c in clips}
    rows = []
    for name, system in systems.items():
        per_clip, outputs = [], {}
        for clip in clips:
            est = fit_length(system(clip, inputs[clip.name]), clip.wav.shape[-1])
            per_clip.append(metric(est, clip.wav))
            if keep_outputs:
                outputs[clip.name] = est
        rows.append(Row(name, {k: float(np.mean([m[k] for m in per_clip])) for k in per_clip[0]}, outputs=outputs))
    return rows


# -- bandwidth extension ----------------------------------------------------------------------------


def upsample_systems(pipeline: Pipeline, rate: int, models: list[str], raw_model: str | None) -> dict[str, System]:
    """Every bandwidth-extension row: ceilings, classical baselines, latent modules, raw baselines."""
    from reencoder_cli.dsp.baselines import sinc_upsample

    def ae(x: np.ndarray) -> np.ndarray:
        return pipeline.decode(pipeline.encode(x, SAMPLE_RATE))

    def latent(op: str, keep: bool) -> System:
        return lambda clip, low: pipeline.run(low, rate, [op], keep_lowband=keep).wav

    systems: dict[str, System] = {
        "AE reconstruction (ceiling)": lambda clip, low: ae(clip.wav),
        "sinc only": lambda clip, low: sinc_upsample(low, rate),
        "AE of the sinc input": lambda clip, low: ae(sinc_upsample(low, rate)),
        "SBR (classical)": lambda clip, low: baselines.spectral_band_replication(sinc_upsample(low, rate), rate),
    }
    for model in models:
        arch = model_arch(model)
        variants = (
            [(f"{model} flow {s} step{'s' if s > 1 else ''}", f"upsample:model={model},steps={s}") for s in (1, 4)]
            if arch == "flow"
            else [(model, f"upsample:model={model}")]
        )
        for label, op in variants:
            systems[f"{label} (pure latent)"] = latent(op, False)
            systems[f"{label} + keep-lowband"] = latent(op, True)
    if raw_model:
        from reencoder_cli.io.weights import load_model
        from reencoder_cli.models.rawbwe import ARCH, RawBWE, apply_raw
        from reencoder_cli.models.registry import model_factories

        raw = load_model(raw_model, model_factories(), expect_arch=ARCH)[0]
        assert isinstance(raw, RawBWE)
        systems[f"{raw_model} (raw audio)"] = lambda clip, low: apply_raw(raw, sinc_upsample(low, rate), rate)
        systems[f"{raw_model} on AE of sinc (transmission)"] = lambda clip, low: apply_raw(
            raw, ae(sinc_upsample(low, rate)), rate
        )
    return systems


def model_arch(name: str) -> str:
    """The arch of a weights name (read from its header only)."""
    from reencoder_cli.io.modelfile import read_meta
    from reencoder_cli.io.weights import resolve

    return read_meta(resolve(name)).arch


def noise_fill_row(clips: list[Clip], rate: int, metric: Metric = band_metrics) -> Row:
    """Sinc + white noise above the input's Nyquist, at the level with the best mean high-band LSD.

    The search scores each level by high-band LSD alone (cheap); the chosen level then
    gets the full metrics like every other row.
    """
    from reencoder_cli.dsp.baselines import sinc_upsample
    from reencoder_cli.eval.metrics import lsd, split_bands

    sincs = {c.name: sinc_upsample(audio.resample(c.wav, SAMPLE_RATE, rate), rate) for c in clips}
    refs_high = {c.name: split_bands(c.wav)[1] for c in clips}

    def lsd_high(level: float) -> float:
        return float(
            np.mean(
                [
                    lsd(
                        split_bands(fit_length(baselines.noise_fill(sincs[c.name], rate, level), c.wav.shape[-1]))[1],
                        refs_high[c.name],
                    )
                    for c in clips
                ]
            )
        )

    best = min(baselines.noise_fill_levels(), key=lsd_high)
    row = score(
        {"": lambda c, low: baselines.noise_fill(sincs[c.name], rate, best)},
        clips,
        lambda c: audio.resample(c.wav, SAMPLE_RATE, rate),
        metric,
    )[0]
    return Row(f"sinc + noise fill ({best:+.0f} dB)", row.metrics)


def evaluate_upsample(
    clips: list[Clip],
    rate: int,
    pipeline: Pipeline,
    models: list[str],
    raw_model: str | None = None,
    keep_outputs: bool = False,
    metric: Metric = band_metrics,
) -> list[Row]:
    """All bandwidth-extension rows for references ``clips`` degraded to ``rate``."""
    systems = upsample_systems(pipeline, rate, models, raw_model)
    rows = score(systems, clips, lambda c: audio.resample(c.wav, SAMPLE_RATE, rate), metric, keep_outputs)
    rows.insert(2, noise_fill_row(clips, rate, metric))
    return rows


# -- mono to stereo -----------------------------------------------------------------------------------

# a reference whose side is further below its mid than this has no stereo image to score
# (a mono recording stored as two equal channels: its side distances divide by nothing)
STEREO_IMAGE_DB = -40.0


def stereo_clips(clips: list[Clip]) -> list[Clip]:
    """The clips with a stereo image: two channels, side power at least ``STEREO_IMAGE_DB`` re the mid."""
    return [c for c in clips if c.wav.shape[0] == 2 and post.side_to_mid_db(c.wav) >= STEREO_IMAGE_DB]


def evaluate_upmix(
    clips: list[Clip],
    pipeline: Pipeline,
    model: str,
    seed: int = 0,
    keep_outputs: bool = False,
    metric: Metric = stereo_metrics,
) -> list[Row]:
    """Stereo rows: dual mono, pseudo-stereo, AE ceiling, ours with random and oracle style,
    on the ``stereo_clips``. The random style of the i-th clip is ``seed + i``'s, so the rows
    average over draws of the prior rather than score one."""
    stereo = stereo_clips(clips)
    seeds = {c.name: seed + i for i, c in enumerate(stereo)}

    def ours(
        clip: Clip, mono: np.ndarray, oracle: bool, side: str | None, temperature: float = UPMIX_TEMPERATURE
    ) -> np.ndarray:
        """side: how keep-mid makes the side, None for the pure latent result."""
        with tempfile.TemporaryDirectory() as tmp:
            op = f"upmix:model={model},seed={seeds[clip.name]},temperature={temperature}"
            op += f",side={side}" if side else ""
            if oracle:
                ref = Path(tmp) / "ref.wav"
                audio_write.write_audio(ref, clip.wav, SAMPLE_RATE, "FLOAT")
                op += f",width_from={ref}"
            return pipeline.run(mono, SAMPLE_RATE, [op], keep_mid=side is not None).wav

    def ae(wav: np.ndarray) -> np.ndarray:
        return fit_length(pipeline.decode(pipeline.encode(wav, SAMPLE_RATE)), wav.shape[-1])

    def ae_side(clip: Clip, mono: np.ndarray) -> np.ndarray:
        return post.from_mid_side(mono, ae(post.mid_side(clip.wav)[1]))

    systems: dict[str, System] = {
        "dual mono": lambda c, m: baselines.dual_mono(m),
        "pseudo-stereo (classical)": lambda c, m: baselines.pseudo_stereo(m),
        # the parametric side of a model that places nothing: the input's quadrature copy at --min-side
        f"quadrature ambience at {UPMIX_MIN_SIDE_DB:g} dB (classical)": lambda c, m: post.parametric_stereo(
            m, baselines.dual_mono(m)
        ),
        "AE reconstruction (ceiling)": lambda c, m: ae(c.wav),
        "AE of L and R + keep-mid, decoded side (ceiling)": lambda c, m: post.keep_mid(m, ae(c.wav)),
        "AE of L and R + keep-mid, parametric side (ceiling)": lambda c, m: post.parametric_stereo(m, ae(c.wav)),
        "AE of the side + keep-mid (side-latent design)": ae_side,
    }
    for style, oracle in (("random", False), ("oracle", True)):
        systems[f"{model} {style} style (pure latent)"] = functools.partial(ours, oracle=oracle, side=None)
        for side in reversed(UPMIX_SIDES):
            systems[f"{model} {style} style + keep-mid, {side} side"] = functools.partial(
                ours, oracle=oracle, side=side
            )
        if not oracle:  # the default side with the full prior's spread
            systems[f"{model} {style} style at temperature 1 + keep-mid, {UPMIX_SIDE} side"] = functools.partial(
                ours, oracle=False, side=UPMIX_SIDE, temperature=1.0
            )
    return score(systems, stereo, lambda c: audio.to_mono(c.wav), metric, keep_outputs)


def style_mix_correlation(
    clips: list[Clip],
    pipeline: Pipeline,
    model: str,
    lambdas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
    segment: float = 1.0,
) -> list[dict[str, float]]:
    """The paper's Fig. 3 experiment: does ``--style-mix`` steer the stereo image toward the reference?

    For each lambda, every clip is upmixed from its mono downmix with the style taken
    ``lambda`` of the way from a random one (seed = clip index) to the clip's own, and the
    left/right energy ratio (dB) of output and reference is measured per ``segment``
    seconds. Returns per lambda the Pearson correlation of the two ratios over all
    segments, and the mean absolute ratio error.
    """
    stereo = stereo_clips(clips)
    hop = round(segment * SAMPLE_RATE)

    def ratios(wav: np.ndarray) -> np.ndarray:
        n = wav.shape[-1] // hop
        energy = (wav[:, : n * hop].reshape(2, n, hop) ** 2).mean(-1) + 1e-10
        return 10 * np.log10(energy[0] / energy[1])

    table = []
    with tempfile.TemporaryDirectory() as tmp:
        refs = []
        for i, clip in enumerate(stereo):
            path = Path(tmp) / f"ref{i}.wav"
            audio_write.write_audio(path, clip.wav, SAMPLE_RATE, "FLOAT")
            refs.append(path)
        for lam in lambdas:
            ref_r, out_r = [], []
            for i, (clip, path) in enumerate(zip(stereo, refs)):
                op = f"upmix:model={model},seed={i},width_from={path},style_mix={lam}"
                out = pipeline.run(audio.to_mono(clip.wav), SAMPLE_RATE, [op], keep_mid=False).wav
                ref_r.append(ratios(clip.wav))
                out_r.append(ratios(fit_length(out, clip.wav.shape[-1])))
            a, b = np.concatenate(ref_r), np.concatenate(out_r)
            table.append(
                {
                    "lambda": lam,
                    "correlation": float(np.corrcoef(a, b)[0, 1]),
                    "mean_abs_error_db": float(np.abs(a - b).mean()),
                    "segments": float(len(a)),
                }
            )
    return table
