"""The music cache's rendered MIDI: one track per piece."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reencoder_cli.data import midi, music


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
    done = music.render_corpus(tmp_path, 3, None, print)
    assert [name for name, _ in done] == ["bach_bwv66.6", "monteverdi_madrigal.4.10"]
    assert rendered == [".mxl", ".mxl"] and all(path.exists() for _, path in done)


def test_manifest_records_the_renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reencoder_cli.data.music import Track, load_manifest, write_manifest

    monkeypatch.setattr(midi.shutil, "which", lambda program: None)  # no fluidsynth on this machine
    renderer = midi.tools("/no/such/font.sf2")
    assert renderer["fluidsynth"] == "missing" and set(renderer) == {"music21", "mido", "fluidsynth", "soundfont"}
    track = Track("midi", "bach_x", "midi/bach_x.npy", 1.5, "train")
    write_manifest(tmp_path, [track], renderer)
    assert json.loads((tmp_path / "manifest.json").read_text())["midi_renderer"] == renderer
    assert load_manifest(tmp_path) == [track]


def test_a_song_of_stems_is_one_track_summed_from_its_parts(tmp_path: Path) -> None:
    import soundfile as sf

    from reencoder_cli.data.music import MusicPackage, decode_stereo, source_files

    t = np.arange(44100) / 44100
    for song, freq in (("b_song", 220.0), ("a_song", 330.0)):
        (tmp_path / song).mkdir()
        sf.write(tmp_path / song / "song.ogg", np.stack([0.3 * np.sin(2 * np.pi * freq * t)] * 2, 1), 44100)
        sf.write(tmp_path / song / "guitar.ogg", 0.2 * np.sin(2 * np.pi * 2 * freq * t[:22050]), 44100)  # mono, shorter
    source = MusicPackage("band", "pkg", str(tmp_path), "*/song.ogg", parts=("guitar.ogg",))
    tracks = list(source_files(source))
    assert [name for name, _ in tracks] == ["a_song", "b_song"]  # one per song, sorted: stems stay together
    wav = decode_stereo(tracks[0][1]()).astype(np.float32) / 32768
    song = 0.3 * np.sin(2 * np.pi * 330.0 * t)
    guitar = np.concatenate([0.2 * np.sin(2 * np.pi * 660.0 * t[:22050]), np.zeros(22050)])
    assert wav.shape == (44100, 2)
    for channel in range(2):  # the sum of both parts, within Vorbis' error
        assert np.corrcoef(wav[:, channel], song + guitar)[0, 1] > 0.99


def test_device_crops_come_from_the_tracks_weighted_by_length_and_skip_silence(tmp_path: Path) -> None:
    import torch

    from reencoder_cli.data.crops import DeviceCrops
    from reencoder_cli.data.music import Track, save_npy_atomic

    # each track holds its own constant level in L and another in R; one track is near-silent
    levels = {"a": (0.1, 0.2), "b": (0.3, 0.4), "quiet": (1e-4, 1e-4)}
    seconds = {"a": 1.0, "b": 3.0, "quiet": 2.0}
    tracks = []
    for name, (left, right) in levels.items():
        n = round(seconds[name] * 44100)
        save_npy_atomic(tmp_path / f"{name}.npy", (np.array([[left, right]] * n) * 32768).astype(np.int16))
        tracks.append(Track("src", name, f"{name}.npy", seconds[name], "train"))
    crops = DeviceCrops(tmp_path, tracks, 8192, seed=0, device=torch.device("cpu"))
    wav = crops.mono(4000)
    assert wav.shape == (4000, 8192) and wav.dtype == torch.float32
    assert torch.equal(wav, wav[:, :1].expand_as(wav))  # every crop lies inside one track
    values = wav[:, 0].numpy()
    expected = {0.1: "a", 0.2: "a", 0.15: "a", 0.3: "b", 0.4: "b", 0.35: "b"}  # L, R or mid
    found = {v: np.isclose(values, v, atol=1e-4).mean() for v in expected}
    starts = {name: round(s * 44100) - 8192 for name, s in seconds.items()}
    p_quiet = starts["quiet"] / sum(starts.values())  # a third of the start positions
    assert abs((1 - sum(found.values())) - p_quiet**2) < 0.02  # quiet only when its stand-in is quiet too
    b_share = sum(share for v, share in found.items() if expected[v] == "b") / sum(found.values())
    assert abs(b_share - starts["b"] / (starts["a"] + starts["b"])) < 0.03  # weighted by start positions
    assert all(share > 0.05 for share in found.values())  # left, right and mid all drawn
