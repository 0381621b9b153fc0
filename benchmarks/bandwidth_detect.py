"""How well ``--from-rate auto`` finds the band a file's content fills, on validation music.

Each validation track's middle (``--seconds``, stereo) is scored as it is (the sources are
lossy: Vorbis and Opus cut between 16 and 20 kHz) and after a round trip through each
input rate of the bandwidth module (soxr, as a resampler would leave it). A round trip is
found when the detected rate is the rate it went through. Through Opus (opus-tools, when
installed) the band is the encoder's choice, so those rows only report what was found.

A second table counts false positives, the figure that decides whether detection is
``upsample``'s default: every 10-s segment of every validation track, stored at each rate
from 16 to 32 kHz (soxr, as a resampler leaves a file: its content then fills the file's
band) and, for the rendered MIDI tracks, full-band at 44.1 kHz as rendered; a false positive
is a band edge found below the file's own Nyquist frequency.

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

from reencoder_cli.data.crops import validation_clips
from reencoder_cli.data.music import load_manifest
from reencoder_cli.dsp.bandwidth import Spectrum
from reencoder_cli.io.audio import read_audio
from reencoder_cli.io.audio_write import opus_encode

RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000)
FULL_BAND_RATES = (16000, 22050, 24000, 32000)
SEGMENT = 10.0
OPUS_KBPS = (16, 32, 64)
SR = 44100


def detect(wav: np.ndarray, rate: int = SR) -> tuple[int, float]:
    """Detected rate of (C, T) audio at ``rate`` and the seconds it took."""
    start = time.perf_counter()
    spectrum = Spectrum(rate)
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
    false_positives(args.cache)


def false_positives(cache: Path) -> None:
    """The false-positive table: band edges found in content that fills its file's band."""
    tracks = load_manifest(cache, "valid")
    print(
        f"\n| {SEGMENT:.0f}-s segments of the {len(tracks)} validation tracks, stored at | segments | "
        "band edge found (false positive) | rate |\n|---|---|---|---|"
    )
    total = wrong = 0
    for rate in (*FULL_BAND_RATES, SR):
        count = found = 0
        for track in tracks if rate != SR else [t for t in tracks if t.source == "midi"]:
            wav = np.load(cache / track.path, mmap_mode="r")
            step = round(SEGMENT * SR)
            for start in range(0, wav.shape[0] - step + 1, step):
                clip = np.asarray(wav[start : start + step], dtype=np.float32).T / 32768.0
                if rate != SR:
                    clip = np.stack([soxr.resample(c, SR, rate, "VHQ") for c in clip]).astype(np.float32)
                detected, _ = detect(clip, rate)
                count, found = count + 1, found + (detected < rate)
        what = "rendered MIDI, as rendered" if rate == SR else "every source, resampled"
        print(f"| {rate} Hz ({what}) | {count} | {found} | {found / max(1, count):.2%} |")
        total, wrong = total + count, wrong + found
    print(f"| all | {total} | {wrong} | {wrong / max(1, total):.2%} |")


if __name__ == "__main__":
    main()
