"""The music cache's rendered MIDI: one track per piece."""

from __future__ import annotations

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
