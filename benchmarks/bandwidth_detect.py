"""How well ``--from-rate auto`` finds the band a file's content fills, on validation music.

Each validation track's middle (``--seconds``, stereo) is scored as it is (the sources are
lossy: Vorbis and Opus cut between 16 and 20 kHz) and after a round trip through each
input rate of the bandwidth module (soxr, as a resampler would leave it). A round trip is
found when the detected rate is the rate it went through. Through Opus (opus-tools, when
installed) the band is the encoder's choice, so those rows only report what was found.

    python benchmarks/bandwidth_detect.py --cache data/cache --seconds 30
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soxr

from reencoder_cli.audio import opus_encode, read_audio
from reencoder_cli.bandwidth import Spectrum
from reencoder_cli.data import load_manifest
from reencoder_cli.dataset import validation_clips

RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000)
OPUS_KBPS = (16, 32, 64)
SR = 44100


def detect(wav: np.ndarray) -> tuple[int, float]:
    """Detected rate of (C, T) audio and the seconds it took."""
    start = time.perf_counter()
    spectrum = Spectrum(SR)
    for i in range(0, wav.shape[1], 65536):
        spectrum.add(wav[:, i : i + 65536])
    return spectrum.content_rate(), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("data/cache"))
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    clips = validation_clips(args.cache, load_manifest(args.cache, "valid"), args.seconds, per_track=1)
    seconds, audio = 0.0, 0.0
    as_is: Counter[str] = Counter()
    print(f"{len(clips)} validation clips of {args.seconds:.0f} s\n")
    print("| through | found | detected rates (count) |\n|---|---|---|")
    for rate in RATES:
        found: Counter[int] = Counter()
        for clip in clips:
            limited = np.stack([soxr.resample(soxr.resample(c, SR, rate, "VHQ"), rate, SR, "VHQ") for c in clip])
            detected, took = detect(limited.astype(np.float32))
            found[detected] += 1
            seconds, audio = seconds + took, audio + clip.shape[1] / SR
        rows = ", ".join(f"{r} ({n})" for r, n in sorted(found.items()))
        print(f"| {rate} Hz | {found[rate]}/{len(clips)} | {rows} |")
    for clip in clips:
        detected, took = detect(clip)
        as_is["full band" if detected == SR else f"{detected}"] += 1
        seconds, audio = seconds + took, audio + clip.shape[1] / SR
    rows = ", ".join(f"{r} ({n})" for r, n in sorted(as_is.items()))
    print(f"| none (the lossy sources as decoded) | - | {rows} |")
    for kbps in OPUS_KBPS if shutil.which("opusenc") else ():
        through: Counter[str] = Counter()
        with tempfile.TemporaryDirectory() as tmp:
            for i, clip in enumerate(clips):
                opus_encode(clip, SR, f"{tmp}/{i}.opus", kbps)
                decoded, rate = read_audio(f"{tmp}/{i}.opus")
                wav = np.stack([soxr.resample(c, rate, SR, "VHQ") for c in decoded]).astype(np.float32)
                detected, took = detect(wav)
                through["full band" if detected == SR else f"{detected}"] += 1
                seconds, audio = seconds + took, audio + clip.shape[1] / SR
        rows = ", ".join(f"{r} ({n})" for r, n in sorted(through.items()))
        print(f"| Opus {kbps} kbps (stereo) | - | {rows} |")
    print(f"\ndetection: {audio / seconds:.0f}x real time on this machine (numpy FFT, one thread of work)")


if __name__ == "__main__":
    main()
