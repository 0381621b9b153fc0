"""Where the autoencoder's reconstruction is off, spectrally: level per band, harmonic detail.

The distances of ``reencoder eval --task reconstruct`` say how far the reconstruction is;
this says in which way, on validation clips (mono downmix), next to Opus at 32 kbps:

- level per band: median over clips of ``10 log10(E_out / E_in)``; a decoder that plays
  quiet or muffled shows negative dB, growing with frequency;
- harmonic contrast below 1 kHz: in each loud frame of a 1024-point STFT (hop 256), the
  peak-to-mean ratio of the magnitudes from 86 to 1030 Hz, where the partials of notes are
  resolved; a decoder that blurs them into a smooth envelope scores lower than its input.
  Also the correlation between input and output log spectra there (1 = same shape).

    python benchmarks/spectral_detail.py --weights autoencoder --cache data/cache --clips 21
    python benchmarks/spectral_detail.py --weights runs/ae/autoencoder.safetensors
"""

from __future__ import annotations

import numpy as np
import torch
from common import autoencoder_and_clips, clip_parser

EDGES = (0, 250, 1000, 4000, 8000, 11025, 16000, 22050)
LOW_BINS = slice(2, 25)  # 86-1030 Hz at 43 Hz per bin
LOUD = 0.1  # frames within 10 dB of the clip's loudest (in low-band energy)


def band_levels(out: np.ndarray, ref: np.ndarray, sample_rate: int = 44100) -> list[float]:
    """dB of ``out`` relative to ``ref`` in each band of ``EDGES``: (T,), (T,) -> one value per band."""
    freqs = np.fft.rfftfreq(ref.shape[-1], 1 / sample_rate)
    power_out, power_ref = (np.abs(np.fft.rfft(x)) ** 2 for x in (out, ref))
    bands = [(freqs >= lo) & (freqs < hi) for lo, hi in zip(EDGES[:-1], EDGES[1:])]
    return [float(10 * np.log10(power_out[b].sum() / max(power_ref[b].sum(), 1e-20))) for b in bands]


def harmonic_detail(out: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """Low-band peak-to-mean ratio of ``ref`` and ``out``, and their log-spectral correlation.

    out, ref: (T,) -> means over the loud frames of ref.
    """
    window = torch.hann_window(1024)
    mags = [
        torch.stft(torch.from_numpy(x), 1024, 256, window=window, return_complex=True).abs()[LOW_BINS].numpy()
        for x in (ref.astype(np.float32), out.astype(np.float32))
    ]
    frames = min(m.shape[1] for m in mags)
    ref_mag, out_mag = (m[:, :frames] for m in mags)
    energy = (ref_mag**2).sum(0)
    loud = energy > LOUD * energy.max()
    contrast = [float((m.max(0) / np.maximum(m.mean(0), 1e-12))[loud].mean()) for m in (ref_mag, out_mag)]
    logs = [np.log(np.maximum(m[:, loud], 1e-5)) for m in (ref_mag, out_mag)]
    logs = [x - x.mean(0) for x in logs]
    norms = np.linalg.norm(logs[0], axis=0) * np.linalg.norm(logs[1], axis=0)
    corr = (logs[0] * logs[1]).sum(0) / np.maximum(norms, 1e-12)
    return contrast[0], contrast[1], float(corr.mean())


def main() -> None:
    from reencoder_cli.eval.reconstruct import opus_round_trip

    ae, clips = autoencoder_and_clips(clip_parser(__doc__).parse_args())
    rows: dict[str, tuple[list, list]] = {"autoencoder": ([], []), "Opus 32 kbps": ([], [])}
    for clip in clips:
        x = clip.wav.mean(axis=0, keepdims=True).astype(np.float32)
        with torch.no_grad():
            y = ae.decode(ae.encode(torch.from_numpy(x)))[..., : x.shape[-1]].numpy()
        for name, out in (("autoencoder", y), ("Opus 32 kbps", opus_round_trip(x, 32))):
            if out is not None:
                rows[name][0].append(band_levels(out[0], x[0]))
                rows[name][1].append(harmonic_detail(out[0], x[0]))
    rows = {k: v for k, v in rows.items() if v[0]}
    n = len(rows["autoencoder"][0])
    print(f"Level per band, dB (median of {n} clips)\n")
    print("| system | " + " | ".join(f"{lo}-{hi}" for lo, hi in zip(EDGES[:-1], EDGES[1:])) + " |")
    print("|---" * len(EDGES) + "|")
    for name, (levels, _) in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:+.1f}" for v in np.median(levels, axis=0)) + " |")
    print(f"\nHarmonic detail, 86-1030 Hz (mean of {n} clips)\n")
    print("| system | peak/mean, input | peak/mean, output | log-spectrum correlation |")
    print("|---|---|---|---|")
    for name, (_, detail) in rows.items():
        ref_c, out_c, corr = np.mean(detail, axis=0)
        print(f"| {name} | {ref_c:.2f} | {out_c:.2f} | {corr:.2f} |")


if __name__ == "__main__":
    main()
