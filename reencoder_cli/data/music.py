"""Training music: Debian's music packages and rendered MIDI, decoded once into a crop-friendly cache.

The cache is a folder of ``.npy`` files, one per track, each ``(T, 2)`` int16 at 44.1 kHz
(memory-mapped for random crops), plus ``manifest.json`` listing every track with its
source, duration and split. The split is fixed: every 10th track of each Debian source, by
sorted name, and rendered pieces whose name hashes to 0 modulo 10, are validation, and
training never sees them.

Building is resumable: finished tracks are skipped, each one is written atomically.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.data import midi
from reencoder_cli.errors import DataError

VALIDATION_EVERY = 10


@dataclass(frozen=True)
class MusicPackage:
    """A Debian package of music and where its files are."""

    name: str
    package: str
    location: str  # a folder, or a zip archive (.pk3)
    pattern: str  # glob of the music files inside ``location``
    parts: tuple[str, ...] = ()  # files beside each match that are summed with it (a song's stems)


SOURCES: tuple[MusicPackage, ...] = (
    MusicPackage("wesnoth", "wesnoth-1.16-music", "/usr/share/games/wesnoth/1.16/data/core/music", "*.ogg"),
    MusicPackage("drascula", "drascula-music", "/usr/share/scummvm/drascula/audio", "*.ogg"),
    MusicPackage("warzone2100", "warzone2100-music", "/usr/share/games/warzone2100/music", "**/*.opus"),
    MusicPackage("nexuiz", "nexuiz-music", "/usr/share/games/nexuiz/data/music.pk3", "sound/cdtracks/*.ogg"),
    MusicPackage("planetblupi", "planetblupi-music-ogg", "/usr/share/planetblupi/music", "*.ogg"),
    MusicPackage("colobot", "colobot-common-sounds", "/usr/share/games/colobot/music", "*.ogg"),
    MusicPackage("supertux", "supertux-data", "/usr/share/games/supertux2/music", "**/*.ogg"),
    MusicPackage("freedroidrpg", "freedroidrpg-data", "/usr/share/freedroidrpg/data/sound/music", "*.ogg"),
    # band recordings: each song is the rest of the band plus its guitar stem, summed here
    *(
        MusicPackage(
            f"fretsonfire-{band}",
            f"fretsonfire-songs-{band}",
            f"/usr/share/games/fretsonfire/data/songs/{band}",
            "*/song.ogg",
            parts=("guitar.ogg",),
        )
        for band in ("muldjord", "sectoid")
    ),
)


@dataclass(frozen=True)
class Track:
    """One cached track. ``path`` is relative to the cache root."""

    source: str
    name: str
    path: str
    seconds: float
    split: str  # "train" | "valid"


def install_packages(packages: list[str], log: Callable[[str], None]) -> None:
    """Install the Debian packages that are missing (needs root and apt).

    Raises:
        DataError: no dpkg or apt-get here, or apt-get failed.
    """
    if shutil.which("dpkg") is None or shutil.which("apt-get") is None:
        raise DataError(f"no dpkg/apt-get here: install {' '.join(packages)} by hand, then run with --no-install")
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode]
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        if subprocess.run(command, env=env).returncode:
            raise DataError(
                f"{' '.join(command[:2])} failed (root and the package registry are needed); "
                f"install {' '.join(missing)} by hand, then run with --no-install"
            )


def split_of(index: int) -> str:
    """The fixed split of the ``index``-th track of a packaged source (a fixed set, sorted by name)."""
    return "valid" if index % VALIDATION_EVERY == 0 else "train"


def split_of_name(name: str) -> str:
    """The fixed split of a rendered piece, from a hash of its name: stable however many are rendered."""
    return "valid" if zlib.crc32(name.encode()) % VALIDATION_EVERY == 0 else "train"


def source_files(source: MusicPackage) -> Iterator[tuple[str, Callable[[], io.BytesIO | str | list[str]]]]:
    """Yield ``(name, open)`` for each file of ``source``, sorted; sub-folders join the name.

    A source with ``parts`` yields one track per match, named by its folder, whose ``open``
    gives the match and its parts (decoded and summed by ``decode_stereo``).
    """
    location = Path(source.location)
    if zipfile.is_zipfile(location):
        with zipfile.ZipFile(location) as zf:
            members = sorted(n for n in zf.namelist() if Path(n).match(source.pattern))
        for member in members:
            yield Path(member).stem, partial(_zip_member, location, member)
        return
    for path in sorted(location.glob(source.pattern)):
        if source.parts:
            files = [str(path), *(str(path.with_name(part)) for part in source.parts)]
            yield "_".join(path.parent.relative_to(location).parts), partial(list, files)
        else:
            yield "_".join(path.relative_to(location).with_suffix("").parts), partial(str, path)


def _zip_member(archive: Path, member: str) -> io.BytesIO:
    with zipfile.ZipFile(archive) as zf:
        return io.BytesIO(zf.read(member))


def decode_stereo(opened: io.BytesIO | str | list[str]) -> np.ndarray:
    """Decode a file, or the sum of a list of files, to ``(T, 2)`` int16 at 44.1 kHz (mono is
    duplicated, other rates resampled, a shorter part padded with silence)."""

    if isinstance(opened, list):
        parts = [decode_float(name) for name in opened]
        total = np.zeros((max(p.shape[0] for p in parts), 2), np.float32)
        for part in parts:
            total[: part.shape[0]] += part
        return to_int16(total)
    return to_int16(decode_float(opened))


def decode_float(opened: io.BytesIO | str) -> np.ndarray:
    """Decode one file to ``(T, 2)`` float32 at 44.1 kHz."""
    import soundfile as sf
    import soxr

    wav, rate = sf.read(opened, dtype="float32", always_2d=True)
    if wav.shape[1] == 1:
        wav = np.repeat(wav, 2, axis=1)
    wav = wav[:, :2]
    if rate != SAMPLE_RATE:
        wav = soxr.resample(wav, rate, SAMPLE_RATE, quality="VHQ")
    return wav


def to_int16(wav: np.ndarray) -> np.ndarray:
    """Float ``(T, C)`` in [-1, 1] to int16 (clipped)."""
    return (np.clip(wav, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)


def build_cache(
    root: Path,
    log: Callable[[str], None],
    *,
    midi_pieces: int = 200,
    soundfont: str | None = None,
    install: bool = True,
) -> list[Track]:
    """Install, decode and render everything into ``root``; write and return the manifest.

    Args:
        root: cache folder (created).
        log: receives one progress line at a time.
        midi_pieces: number of music21 corpus pieces to render with fluidsynth (0 = none).
        soundfont: a General MIDI ``.sf2``/``.sf3``; the best installed one when None.
        install: install the missing Debian packages first.
    """
    if install:
        install_packages([s.package for s in SOURCES] + list(midi.PACKAGES), log)
    tracks: list[Track] = []
    for source in SOURCES:
        for index, (name, opener) in enumerate(source_files(source)):
            rel = f"{source.name}/{name}.npy"
            if not (root / rel).exists():
                save_npy_atomic(root / rel, decode_stereo(opener()))
            seconds = np.load(root / rel, mmap_mode="r").shape[0] / SAMPLE_RATE
            tracks.append(Track(source.name, name, rel, seconds, split_of(index)))
        log(summary_line(source.name, [t for t in tracks if t.source == source.name]))
    renderer: dict[str, str] = {}
    if midi_pieces:
        rendered = render_corpus(root / "midi", midi_pieces, soundfont, log)
        for name, path in rendered:
            seconds = np.load(path, mmap_mode="r").shape[0] / SAMPLE_RATE
            tracks.append(Track("midi", name, str(path.relative_to(root)), seconds, split_of_name(name)))
        log(summary_line("midi", [t for t in tracks if t.source == "midi"]))
        renderer = midi.tools(soundfont)
        log("midi: rendered with " + ", ".join(f"{k} {v}" for k, v in renderer.items()))
    write_manifest(root, tracks, renderer)
    return tracks


def render_corpus(
    folder: Path, count: int, soundfont: str | None, log: Callable[[str], None], seed: int = 0
) -> list[tuple[str, Path]]:
    """Render ``count`` corpus pieces into ``folder`` as ``(T, 2)`` int16 ``.npy``; skip finished ones.

    Returns ``(name, path)`` per rendered piece, sorted by name, each name once (the first
    of two corpus files of one piece is kept). Pieces music21 cannot parse or fluidsynth
    cannot play are logged, marked with a ``.skip`` file and left out.
    """
    font = midi.find_soundfont(soundfont)
    done: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for index, piece in enumerate(midi.corpus_pieces(count, seed)):
        name = f"{piece.parent.name}_{piece.stem}"
        if name in seen:  # a second file of one piece (madrigal.4.10.mxl and .rntxt)
            continue
        dest = folder / f"{name}.npy"
        skipped = dest.with_suffix(".skip")  # a piece that failed once is not retried
        if skipped.exists():
            continue
        if not dest.exists():
            rng = np.random.default_rng([seed, index])
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    raw, played = Path(tmp) / "raw.mid", Path(tmp) / "played.mid"
                    midi.score_to_midi(piece, raw)
                    midi.randomize_midi(raw, played, rng)
                    wav = midi.render(played, font)
            except (subprocess.SubprocessError, OSError, ValueError, EOFError) as exc:  # odd scores fail in many ways
                reason = f"{type(exc).__name__}: {str(exc)[:80]}"
                log(f"midi: skipped {name}: {reason}")
                skipped.write_text(reason + "\n")
                continue
            peak = float(np.abs(wav).max())
            if peak < 1e-4:
                log(f"midi: skipped {name}: silent render")
                skipped.write_text("silent render\n")
                continue
            save_npy_atomic(dest, to_int16(wav / peak * 10 ** (rng.uniform(-9, -1) / 20)))
        done.append((name, dest))
        seen.add(name)
        if (index + 1) % 25 == 0:
            log(f"midi: {index + 1}/{count} pieces")
    return sorted(done)


def summary_line(source: str, tracks: list[Track]) -> str:
    """One line: hours of train and validation audio of a source."""
    hours = {s: sum(t.seconds for t in tracks if t.split == s) / 3600 for s in ("train", "valid")}
    return f"{source}: {len(tracks)} tracks, {hours['train']:.2f} h train, {hours['valid']:.2f} h valid"


def write_manifest(root: Path, tracks: list[Track], renderer: Mapping[str, str] | None = None) -> None:
    """Write ``root/manifest.json`` atomically, with the MIDI renderer's versions (``midi.tools``)."""
    tmp = root / ".manifest.json.tmp"
    manifest = {
        "sample_rate": SAMPLE_RATE,
        "midi_renderer": dict(renderer or {}),
        "tracks": [asdict(t) for t in tracks],
    }
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, root / "manifest.json")


def load_manifest(root: Path, split: str | None = None) -> list[Track]:
    """Tracks of the cache at ``root``, optionally only one split."""
    path = root / "manifest.json"
    if not path.exists():
        raise DataError(f"{path} not found: build the cache first (`make data`)")
    tracks = [Track(**t) for t in json.loads(path.read_text())["tracks"]]
    return [t for t in tracks if split is None or t.split == split]
