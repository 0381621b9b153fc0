"""Rendered MIDI: music21 corpus pieces played by fluidsynth with random instruments, panning and reverb.

Rendered MIDI is full-band to 22 kHz and its stereo image is known (each part's pan is
chosen here), which the lossy Debian sources cannot give. Needs the optional ``data``
extra (music21, mido) and the ``fluidsynth`` program.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.errors import DataError

if TYPE_CHECKING:
    from mido import MidiFile

PACKAGES = ("fluidsynth", "musescore-general-soundfont-lossless", "fluid-soundfont-gm")
SOUNDFONTS = (
    "/usr/share/sounds/sf2/MuseScore_General_Full.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
COMPOSERS = (
    "bach",
    "beethoven",
    "mozart",
    "haydn",
    "monteverdi",
    "palestrina",
    "trecento",
    "josquin",
    "schumann_robert",
    "schumann_clara",
    "joplin",
    "handel",
    "corelli",
    "schubert",
    "chopin",
    "verdi",
    "weber",
    "cpebach",
    "beach",
    "luca",
    "ciconia",
)
# General MIDI programs that suit arbitrary polyphonic parts (no percussion, no effects).
PROGRAMS = (
    *range(0, 8),
    *range(8, 14),
    *range(16, 24),
    *range(24, 32),
    *range(32, 40),
    *range(40, 52),
    *range(52, 55),
    *range(56, 64),
    *range(64, 72),
    *range(72, 80),
    *range(80, 88),
    *range(88, 96),
    104,
    105,
    106,
    107,
    108,
    109,
    110,
    111,
)
DRUM_CHANNEL = 9
MAX_SECONDS = 120


def find_soundfont(preferred: str | None = None) -> str:
    """The soundfont to render with: ``preferred`` or the best installed one."""
    for candidate in (preferred, *SOUNDFONTS):
        if candidate and Path(candidate).exists():
            return candidate
    raise DataError("no General MIDI soundfont found; install musescore-general-soundfont-lossless")


def tools(soundfont: str | None = None) -> dict[str, str]:
    """What a render depends on beyond the seed, for the manifest: renders differ between versions.

    Returns:
        The versions of music21, mido and fluidsynth and the soundfont's path ("missing" where absent).
    """
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for package in ("music21", "mido"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "missing"
    program = shutil.which("fluidsynth")
    lines = (
        subprocess.run([program, "--version"], capture_output=True, text=True).stdout.splitlines() if program else []
    )
    found["fluidsynth"] = lines[0] if lines else "missing"
    try:
        found["soundfont"] = find_soundfont(soundfont)
    except DataError:
        found["soundfont"] = "missing"
    return found


def corpus_pieces(count: int, seed: int = 0) -> list[Path]:
    """A fixed, seeded choice of ``count`` polyphonic pieces, composers taken in turn for variety."""
    from music21 import corpus

    rng = np.random.default_rng(seed)
    paths = corpus.getPaths()
    queues = [sorted(p for p in paths if f"/corpus/{c}/" in str(p)) for c in COMPOSERS]
    for queue in queues:
        rng.shuffle(queue)
    chosen: list[Path] = []
    while len(chosen) < count and any(queues):
        chosen += [q.pop() for q in queues if q][: count - len(chosen)]
    return sorted(chosen)


def randomize_midi(source: Path, dest: Path, rng: np.random.Generator) -> None:
    """Rewrite a MIDI file with a random program, pan, reverb and velocity per channel and a tempo change."""
    import mido

    mid = mido.MidiFile(str(source))
    channels = sorted({m.channel for t in mid.tracks for m in t if m.type == "note_on"})
    free = [c for c in range(16) if c not in channels and c != DRUM_CHANNEL]
    remap = {c: (free.pop(0) if c == DRUM_CHANNEL and free else c) for c in channels}
    velocity = {c: rng.uniform(0.55, 1.1) for c in remap.values()}
    tempo_scale = rng.uniform(0.8, 1.25)
    for track in mid.tracks:
        kept, carried = [], 0  # delta times of dropped messages move to the next kept one
        for msg in track:
            if msg.type == "program_change" or (msg.type == "control_change" and msg.control in (10, 91, 93)):
                carried += msg.time
                continue
            msg, carried = msg.copy(time=msg.time + carried), 0
            if hasattr(msg, "channel"):
                msg = msg.copy(channel=remap.get(msg.channel, msg.channel))
            if msg.type == "note_on" and msg.velocity:
                msg = msg.copy(velocity=int(np.clip(msg.velocity * velocity[msg.channel], 1, 127)))
            if msg.type == "set_tempo":
                msg = msg.copy(tempo=int(msg.tempo / tempo_scale))
            kept.append(msg)
        track[:] = kept
    setup = mido.MidiTrack()
    for channel in remap.values():
        pan = int(np.clip(64 + rng.normal(0, 35), 0, 127))
        setup.append(mido.Message("program_change", channel=channel, program=int(rng.choice(PROGRAMS))))
        setup.append(mido.Message("control_change", channel=channel, control=10, value=pan))
        setup.append(mido.Message("control_change", channel=channel, control=91, value=int(rng.integers(10, 90))))
        setup.append(mido.Message("control_change", channel=channel, control=93, value=int(rng.integers(0, 30))))
    mid.tracks.insert(0, setup)
    truncate(mid, MAX_SECONDS + 2.0).save(str(dest))


def truncate(mid: MidiFile, seconds: float) -> MidiFile:
    """A type-0 copy of a MIDI file cut at ``seconds``, at a fixed tempo, ending with all notes off.

    Bounding the length here bounds what fluidsynth renders: some scores' timing makes it
    write for hours of (silent) audio otherwise.
    """
    import mido

    ticks_per_second = 960  # 480 ticks per beat at 120 beats per minute
    out = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)])
    out.tracks.append(track)
    elapsed, last_tick, channels = 0.0, 0, set()
    for msg in mid:  # merged tracks, delta times in seconds (tempo changes applied)
        elapsed += msg.time
        if elapsed > seconds:
            break
        if msg.is_meta and msg.type in ("set_tempo", "end_of_track"):
            continue
        tick = round(elapsed * ticks_per_second)
        track.append(msg.copy(time=tick - last_tick))
        last_tick = tick
        channels |= {msg.channel} if hasattr(msg, "channel") else set()
    track += [mido.Message("control_change", channel=c, control=123, value=0) for c in sorted(channels)]
    return out


def score_to_midi(score: Path, dest: Path, timeout: float = 120.0) -> None:
    """Convert a corpus score to MIDI with music21, in a subprocess: some scores hang the parser."""
    code = "import sys; from music21 import converter; converter.parse(sys.argv[1]).write('midi', fp=sys.argv[2])"
    subprocess.run(
        [sys.executable, "-c", code, str(score), str(dest)], check=True, capture_output=True, timeout=timeout
    )


def render(midi_path: Path, soundfont: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render a MIDI file with fluidsynth. Returns ``(T, 2)`` float32."""
    import soundfile as sf

    if shutil.which("fluidsynth") is None:
        raise DataError("fluidsynth not found; install the fluidsynth package")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "render.wav"
        subprocess.run(
            [
                "fluidsynth",
                "-ni",
                "-q",
                "-g",
                "0.5",
                "-r",
                str(sample_rate),
                "-R",
                "1",
                "-C",
                "1",
                "-F",
                str(out),
                "-T",
                "wav",
                "-O",
                "float",
                soundfont,
                str(midi_path),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wav, _ = sf.read(out, dtype="float32", always_2d=True, frames=MAX_SECONDS * sample_rate)
    return wav
