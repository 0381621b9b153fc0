"""The music cache's rendered MIDI: one track per piece."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reencoder_cli import midi


def test_render_corpus_keeps_one_track_per_piece(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # music21's corpus holds some pieces twice (a score and its analysis): one track each, not two
    pieces = [Path("/corpus/monteverdi/madrigal.4.10.mxl"), Path("/corpus/monteverdi/madrigal.4.10.rntxt")]
    pieces.append(Path("/corpus/bach/bwv66.6.mxl"))
    rendered: list[str] = []
    monkeypatch.setattr(midi, "corpus_pieces", lambda count, seed: pieces)
    monkeypatch.setattr(midi, "find_soundfont", lambda preferred: "font.sf2")
    monkeypatch.setattr(midi, "score_to_midi", lambda score, dest: rendered.append(score.suffix))
    monkeypatch.setattr(midi, "randomize_midi", lambda source, dest, rng: None)
    monkeypatch.setattr(midi, "render", lambda path, font: np.full((4410, 2), 0.1, np.float32))
    done = midi.render_corpus(tmp_path, 3, None, print)
    assert [name for name, _ in done] == ["bach_bwv66.6", "monteverdi_madrigal.4.10"]
    assert rendered == [".mxl", ".mxl"] and all(path.exists() for _, path in done)


def test_manifest_records_the_renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reencoder_cli.data import Track, load_manifest, write_manifest

    monkeypatch.setattr(midi.shutil, "which", lambda program: None)  # no fluidsynth on this machine
    renderer = midi.tools("/no/such/font.sf2")
    assert renderer["fluidsynth"] == "missing" and set(renderer) == {"music21", "mido", "fluidsynth", "soundfont"}
    track = Track("midi", "bach_x", "midi/bach_x.npy", 1.5, "train")
    write_manifest(tmp_path, [track], renderer)
    assert json.loads((tmp_path / "manifest.json").read_text())["midi_renderer"] == renderer
    assert load_manifest(tmp_path) == [track]


def test_a_song_of_stems_is_one_track_summed_from_its_parts(tmp_path: Path) -> None:
    import soundfile as sf

    from reencoder_cli.data import Source, decode_stereo, source_files

    t = np.arange(44100) / 44100
    for song, freq in (("b_song", 220.0), ("a_song", 330.0)):
        (tmp_path / song).mkdir()
        sf.write(tmp_path / song / "song.ogg", np.stack([0.3 * np.sin(2 * np.pi * freq * t)] * 2, 1), 44100)
        sf.write(tmp_path / song / "guitar.ogg", 0.2 * np.sin(2 * np.pi * 2 * freq * t[:22050]), 44100)  # mono, shorter
    source = Source("band", "pkg", str(tmp_path), "*/song.ogg", parts=("guitar.ogg",))
    tracks = list(source_files(source))
    assert [name for name, _ in tracks] == ["a_song", "b_song"]  # one per song, sorted: stems stay together
    wav = decode_stereo(tracks[0][1]()).astype(np.float32) / 32768
    song = 0.3 * np.sin(2 * np.pi * 330.0 * t)
    guitar = np.concatenate([0.2 * np.sin(2 * np.pi * 660.0 * t[:22050]), np.zeros(22050)])
    assert wav.shape == (44100, 2)
    for channel in range(2):  # the sum of both parts, within Vorbis' error
        assert np.corrcoef(wav[:, channel], song + guitar)[0, 1] > 0.99
