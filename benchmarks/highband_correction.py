"""Can a level correction of `upsample`'s drawn high band, fitted on training music, reach the bars?

`highband_level.py` shows the module's band a few dB loud as the log-spectral distance sees it
(the mean of log power); its power is a few dB quiet: the band is smoother in time and
frequency than the music's. This fits two corrections on one clip per training track and
scores them on the validation clips of `reencoder eval --task upsample` (keep-lowband, the
default), each a gain on the output's STFT (2048/512, Hann) above the input's Nyquist:

- static: minus ``alpha`` times the mean log-power difference per bin (training clips,
  frames with sound), smoothed over 16 bins; and the power difference (sum of power) instead;
- per frame: the difference of the frames' mean high-band log power (reference minus
  output) regressed on the output's own frame level and the input's top octave
  (Nyquist/2 to Nyquist) frame level, each re its clip mean, with and without the
  constant term.

    python benchmarks/highband_correction.py --cache data/cache
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.data.crops import long_enough, validation_clips
from reencoder_cli.data.music import load_manifest
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.eval import evaluate as ev
from reencoder_cli.eval.metrics import LSD_HOP, LSD_N_FFT, band_metrics
from reencoder_cli.io import audio

SILENT_LOG10_POWER = -8.0  # frames whose reference band mean is under this take no part in a fit
SMOOTH_BINS = 16
KEYS = ("mel", "stft_high", "lsd_high")


def spectrum(wav: np.ndarray) -> torch.Tensor:
    """(C, T) -> complex STFT (C, bins, frames), the LSD's."""
    x = torch.as_tensor(np.ascontiguousarray(wav), dtype=torch.float32)
    return torch.stft(x, LSD_N_FFT, LSD_HOP, window=torch.hann_window(LSD_N_FFT), return_complex=True)


def log_power(wav: np.ndarray) -> torch.Tensor:
    """(C, T) -> log10 power of the channels' mean power, (bins, frames)."""
    return torch.log10(spectrum(wav).abs().square().mean(0) + 1e-10)


def with_gain(wav: np.ndarray, gain_db: torch.Tensor) -> np.ndarray:
    """Scale each STFT cell by ``gain_db`` (bins, 1) or (bins, frames); (C, T) -> (C, T)."""
    spec = spectrum(wav) * 10 ** (gain_db / 20)
    window = torch.hann_window(LSD_N_FFT)
    return torch.istft(spec, LSD_N_FFT, LSD_HOP, window=window, length=wav.shape[-1]).numpy()


def frame_features(out_lp: torch.Tensor, nyquist: int) -> torch.Tensor:
    """(bins, frames) log10 power -> (frames, 3): 1, the band's and the top octave's frame level re their mean (dB)."""
    band = 10 * out_lp[nyquist:].mean(0)
    octave = 10 * out_lp[nyquist // 2 : nyquist].mean(0)
    return torch.stack([torch.ones_like(band), band - band.mean(), octave - octave.mean()], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="data/cache", help="music cache (`make data`)")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rate", type=int, default=22050, help="input rate")
    parser.add_argument("--model", default="bwe-s-l1")
    args = parser.parse_args()

    cache = Path(args.cache)
    pipeline = Pipeline(device="cpu")
    nyquist = round((LSD_N_FFT // 2) * args.rate / SAMPLE_RATE)

    def upsample(wav: np.ndarray) -> np.ndarray:
        low = audio.resample(wav, SAMPLE_RATE, args.rate)
        out = pipeline.run(low, args.rate, [f"upsample:model={args.model}"]).wav
        return ev.fit_length(out, wav.shape[-1])

    train_tracks = long_enough(cache, load_manifest(cache, "train"), args.seconds)
    train = validation_clips(cache, train_tracks, args.seconds, 1)
    log_diff, power_out, power_ref, features, targets = [], [], [], [], []
    for wav in train:
        out_lp, ref_lp = log_power(upsample(wav)), log_power(wav)
        heard = ref_lp[nyquist:].mean(0) > SILENT_LOG10_POWER
        if not heard.any():
            continue
        log_diff.append(10 * (out_lp - ref_lp)[:, heard].mean(1))
        power_out.append((10**out_lp)[:, heard].sum(1))
        power_ref.append((10**ref_lp)[:, heard].sum(1))
        features.append(frame_features(out_lp, nyquist)[heard])
        targets.append(10 * (ref_lp - out_lp)[nyquist:].mean(0)[heard])
    log_bias = torch.stack(log_diff).mean(0)
    power_bias = 10 * torch.log10(torch.stack(power_out).sum(0) / torch.stack(power_ref).sum(0))
    coef = torch.linalg.lstsq(torch.cat(features), torch.cat(targets)[:, None]).solution[:, 0]

    def smoothed(bias: torch.Tensor) -> torch.Tensor:
        kernel = torch.ones(1, 1, SMOOTH_BINS) / SMOOTH_BINS
        pad = (SMOOTH_BINS // 2, SMOOTH_BINS - 1 - SMOOTH_BINS // 2)
        padded = torch.nn.functional.pad(bias[None, None], pad, "replicate")
        out = torch.nn.functional.conv1d(padded, kernel)[0, 0]
        out[:nyquist] = 0.0
        return out[:, None]

    def per_frame(weights: torch.Tensor) -> Callable[[np.ndarray], torch.Tensor]:
        def gain(out: np.ndarray) -> torch.Tensor:
            g = torch.zeros_like(log_power(out))
            g[nyquist:] = (frame_features(log_power(out), nyquist) @ weights)[None]
            return g

        return gain

    corrections: dict[str, Callable[[np.ndarray], torch.Tensor]] = {
        "none (the default output)": lambda out: torch.zeros(1),
        "static, half the log difference": lambda out: -0.5 * smoothed(log_bias),
        "static, the log difference": lambda out: -smoothed(log_bias),
        "static, the power difference": lambda out: -smoothed(power_bias),
        "per frame, fitted": per_frame(coef),
        "per frame, fitted, no constant": per_frame(coef * torch.tensor([0.0, 1.0, 1.0])),
    }
    clips = ev.cache_clips(cache, args.seconds, 1)
    outs = [upsample(c.wav) for c in clips]

    quarters = torch.chunk(torch.arange(nyquist, LSD_N_FFT // 2 + 1), 4)
    print(
        f"**{args.model} from {args.rate} Hz: fitted on {len(train)} training clips, "
        f"scored on {len(clips)} validation clips of {args.seconds:g} s**\n"
    )
    print(
        "Output re reference per quarter of the high band, training clips (dB): log power "
        + " / ".join(f"{float(log_bias[q].mean()):+.1f}" for q in quarters)
        + "; power "
        + " / ".join(f"{float(power_bias[q].mean()):+.1f}" for q in quarters)
    )
    fit = f"{float(coef[0]):+.2f}, {float(coef[1]):+.3f} x own level, {float(coef[2]):+.3f} x top octave"
    print(f"Per-frame fit (dB): {fit}\n")
    print("| correction | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 1) + "|")
    for name, gain in corrections.items():
        scores = [band_metrics(with_gain(out, gain(out)), c.wav) for out, c in zip(outs, clips)]
        print(f"| {name} | " + " | ".join(f"{np.mean([s[k] for s in scores]):.3f}" for k in KEYS) + " |", flush=True)


if __name__ == "__main__":
    main()
