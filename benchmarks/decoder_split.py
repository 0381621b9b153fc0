"""Which half of the decoder's spectrum costs more: its magnitudes or its phases?

The decoder predicts an STFT (magnitude and phase per bin and frame, ``decode_spectrum``)
and inverts it. On validation clips (mono downmix) this scores, with the distances of
``reencoder eval --task reconstruct``:

- the decoder as shipped;
- its magnitudes with the input's true phases (what a perfect phase would give);
- the input's true magnitudes with its phases (what perfect magnitudes would give);
- its magnitudes after ``--griffin-lim`` iterations of Griffin-Lim started from its phases
  (whether making the STFT consistent helps).

    python benchmarks/decoder_split.py --cache data/cache --clips 21
"""

from __future__ import annotations

import numpy as np
import torch
from common import autoencoder_and_clips, clip_parser


def rows(ae: torch.nn.Module, wav: torch.Tensor, iterations: int) -> dict[str, torch.Tensor]:
    """Waveforms for each row from one clip: wav (T,) -> name -> (T,)."""
    length = wav.shape[-1]
    with torch.inference_mode():
        z = ae.encode(wav[None])
        mag, phase = ae.decode_spectrum(z)
        padded = torch.nn.functional.pad(wav[None], (0, z.shape[-1] * ae.hop - length))
        true = ae.stft(padded)
        out = {
            "decoder": ae.istft(torch.polar(mag, phase)),
            "its magnitudes, true phases": ae.istft(torch.polar(mag, true.angle())),
            "true magnitudes, its phases": ae.istft(torch.polar(true.abs(), phase)),
        }
        y = out["decoder"]
        for _ in range(iterations):
            spec = ae.stft(y)
            y = ae.istft(mag * spec / spec.abs().clamp_min(1e-9))
        if iterations:
            out[f"its magnitudes, {iterations} Griffin-Lim iterations"] = y
    return {k: v[0, :length] for k, v in out.items()}


def main() -> None:
    from reencoder_cli.eval.metrics import lsd, mel_distance, stft_distance
    from reencoder_cli.io import audio

    parser = clip_parser(__doc__)
    parser.add_argument("--griffin-lim", type=int, default=1, help="iterations (0: no such row)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    ae, clips = autoencoder_and_clips(args)
    scores: dict[str, list[tuple[float, float, float]]] = {}
    for clip in clips:
        ref = audio.to_mono(clip.wav)[0]
        for name, est in rows(ae, torch.from_numpy(ref).float(), args.griffin_lim).items():
            e = est.numpy()
            scores.setdefault(name, []).append((stft_distance(e, ref), mel_distance(e, ref), lsd(e, ref)))
    print(f"**decoder split: {len(next(iter(scores.values())))} clips x {args.seconds:g} s**\n")
    print("| decoder output | STFT-D | mel-D | LSD |\n|---|---|---|---|")
    for name, values in scores.items():
        stft, mel, spectral = np.mean(values, axis=0)
        print(f"| {name} | {stft:.3f} | {mel:.3f} | {spectral:.3f} |")


if __name__ == "__main__":
    main()
