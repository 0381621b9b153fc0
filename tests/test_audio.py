"""Contracts of ``reencoder_cli.io.audio``: round trips, refusals, resampling quality, safe writes."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from reencoder_cli.errors import AudioError, OutputError, UsageError
from reencoder_cli.io.audio import (
    AudioReader,
    SourceMeta,
    read_audio,
    resample,
    resampled_length,
    to_mono,
)
from reencoder_cli.io.audio_write import AudioWriter, WriteReport, write_audio

SR = 44100
ROOT = Path(__file__).resolve().parents[1]


def noise(channels: int, frames: int, peak: float = 0.9, seed: int = 0) -> np.ndarray:
    """Uniform noise: (C, T) float32 within +/-peak."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-peak, peak, size=(channels, frames)).astype(np.float32)


def sine(freq: float, sr: int, seconds: float = 1.0) -> np.ndarray:
    """A 0.5-amplitude sine: (1, T) float32."""
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None]


def wav_bytes(wav: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> bytes:
    """A complete WAV file in memory; wav: (C, T)."""
    buffer = io.BytesIO()
    sf.write(buffer, wav.T, sr, format="WAV", subtype=subtype)
    return buffer.getvalue()


def leftovers(folder: Path) -> list[str]:
    """Names in a folder, hidden temporary files included."""
    return sorted(os.listdir(folder))


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(
    ("ext", "subtype", "tol"),
    [
        ("wav", "PCM_16", 1.5 / 2**15),  # rounding (half a step) and TPDF dither (one step)
        ("wav", "PCM_24", 1.0 / 2**23),
        ("wav", "FLOAT", 0.0),
        ("flac", "PCM_16", 1.5 / 2**15),
        ("flac", "PCM_24", 1.0 / 2**23),
    ],
)
def test_round_trip(tmp_path: Path, channels: int, ext: str, subtype: str, tol: float) -> None:
    wav = noise(channels, 12347)
    path = tmp_path / f"x.{ext}"
    report = write_audio(path, wav, SR, subtype=subtype)
    back, sr = read_audio(path)
    assert sr == SR
    assert back.dtype == np.float32 and back.shape == (channels, 12347)
    assert np.max(np.abs(back - wav)) <= tol
    assert report == WriteReport(clipped_samples=0, peak=pytest.approx(float(np.abs(wav).max())), subtype=subtype)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames, info.format, info.subtype) == (
        SR,
        channels,
        12347,
        ext.upper(),
        subtype,
    )


@pytest.mark.parametrize(
    ("source", "ext", "expected"),
    [
        (None, "wav", "PCM_16"),
        ("PCM_16", "flac", "PCM_16"),
        ("PCM_U8", "wav", "PCM_16"),
        ("VORBIS", "wav", "PCM_16"),
        ("PCM_24", "wav", "PCM_24"),
        ("PCM_24", "flac", "PCM_24"),
        ("PCM_32", "flac", "PCM_24"),
        ("FLOAT", "wav", "FLOAT"),
        ("DOUBLE", "aiff", "FLOAT"),
        ("FLOAT", "flac", "PCM_24"),
        ("PCM_24", "ogg", "VORBIS"),
    ],
)
def test_default_subtype_keeps_the_input_precision(tmp_path: Path, source: str | None, ext: str, expected: str) -> None:
    path = tmp_path / f"d.{ext}"
    assert write_audio(path, noise(1, 1000), SR, meta=SourceMeta(source)).subtype == expected
    assert sf.info(path).subtype == expected


def test_16_bit_output_is_dithered_reproducibly(tmp_path: Path) -> None:
    step = 2.0**-15
    t = np.arange(SR * 2) / SR
    quiet = (0.4 * step * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None]  # below half a step
    write_audio(tmp_path / "plain.wav", quiet, SR, dither=False)
    assert not read_audio(tmp_path / "plain.wav")[0].any()  # rounded away: the tone is lost
    write_audio(tmp_path / "dithered.wav", quiet, SR)
    back = read_audio(tmp_path / "dithered.wav")[0]
    assert set(np.unique(np.round(back / step)).tolist()) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    amplitude = 2 * np.mean(back[0] * np.sin(2 * np.pi * 1000 * t))
    assert amplitude == pytest.approx(0.4 * step, rel=0.15)  # the tone survives in the noise
    with AudioWriter(tmp_path / "blocks.wav", SR, 1) as writer:
        for start in range(0, quiet.shape[1], 1000):
            writer.write(quiet[:, start : start + 1000])
        writer.commit()
    np.testing.assert_array_equal(read_audio(tmp_path / "blocks.wav")[0], back)  # same noise, however cut
    write_audio(tmp_path / "deep.wav", quiet, SR, subtype="PCM_24")
    assert np.abs(read_audio(tmp_path / "deep.wav")[0] - quiet).max() < 2.0**-23  # 24 bits: no dither


def test_explicit_subtype_wins_over_the_input(tmp_path: Path) -> None:
    write_audio(tmp_path / "d.wav", noise(1, 100), SR, subtype="PCM_16", meta=SourceMeta("FLOAT"))
    assert sf.info(tmp_path / "d.wav").subtype == "PCM_16"


def test_tags_travel_from_reader_to_writer(tmp_path: Path) -> None:
    with sf.SoundFile(tmp_path / "in.flac", "w", SR, 2, "PCM_24") as f:
        f.title, f.artist, f.software = "Song", "Band", "another tool"
        f.write(noise(2, 1000).T)
    with AudioReader(tmp_path / "in.flac") as reader:
        meta, wav = reader.meta, reader.read()
    assert meta == SourceMeta("PCM_24", (("artist", "Band"), ("title", "Song")))  # software is the writer's own
    for ext in ("wav", "flac"):
        write_audio(tmp_path / f"out.{ext}", wav, SR, meta=meta)
        with sf.SoundFile(tmp_path / f"out.{ext}") as f:
            assert (f.subtype, f.title, f.artist) == ("PCM_24", "Song", "Band")
            assert f.software.startswith("reencoder ")
    write_audio(tmp_path / "out.au", wav, SR, meta=meta)  # AU holds no text: written without tags
    assert read_audio(tmp_path / "out.au")[0].shape == (2, 1000)


def test_one_sample_file(tmp_path: Path) -> None:
    wav = np.array([[0.25], [-0.5]], dtype=np.float32)
    write_audio(tmp_path / "one.wav", wav, SR, subtype="FLOAT")
    back, _ = read_audio(tmp_path / "one.wav")
    np.testing.assert_array_equal(back, wav)


def test_format_argument_wins_over_temp_suffix_and_extension(tmp_path: Path) -> None:
    path = tmp_path / "song.data"
    write_audio(path, noise(2, 500), SR, format="flac")
    assert sf.info(path).format == "FLAC"


def test_read_from_stream() -> None:
    wav = noise(2, 999)
    stream = io.BytesIO(wav_bytes(wav, subtype="FLOAT"))
    back, sr = read_audio(stream)
    assert sr == SR
    np.testing.assert_array_equal(back, wav)


# --- clipping -------------------------------------------------------------------------------


def test_float_keeps_peak_beyond_one(tmp_path: Path) -> None:
    wav = noise(2, 1000, peak=0.5)
    wav[1, 10] = 1.5
    wav[0, 20] = -1.25
    report = write_audio(tmp_path / "hot.wav", wav, SR, subtype="FLOAT")
    back, _ = read_audio(tmp_path / "hot.wav")
    assert report == WriteReport(clipped_samples=0, peak=1.5, subtype="FLOAT")
    assert back[1, 10] == 1.5 and back[0, 20] == -1.25


def test_pcm16_limits_and_counts_exactly(tmp_path: Path) -> None:
    wav = 1.5 * np.sin(np.linspace(0, 20 * np.pi, 4001, dtype=np.float32))[None]
    wav = np.concatenate([wav, -wav]).astype(np.float32)
    expected = int(np.count_nonzero(np.abs(wav) > 1.0))
    assert 0 < expected < wav.size
    report = write_audio(tmp_path / "hot.wav", wav, SR, subtype="PCM_16")
    back, _ = read_audio(tmp_path / "hot.wav")
    assert report.clipped_samples == expected
    assert report.peak == pytest.approx(1.5, abs=1e-4)
    assert np.abs(back).max() <= 1.0
    inside = np.abs(wav) <= 1.0
    assert np.max(np.abs(back[inside] - wav[inside])) <= 1.5 / 2**15  # rounding and dither


# --- write argument checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("x.flac", {"subtype": "FLOAT"}),
        ("x.wav", {"subtype": "PCM_8"}),
        ("x.xyz", {}),
        ("noext", {}),
        ("x.wav", {"format": "nope"}),
    ],
)
def test_bad_write_arguments_are_usage_errors(tmp_path: Path, name: str, kwargs: dict) -> None:
    with pytest.raises(UsageError, match=name):
        write_audio(tmp_path / name, noise(1, 10), SR, **kwargs)
    assert leftovers(tmp_path) == []


def test_missing_folder_is_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_audio(tmp_path / "missing" / "x.wav", noise(1, 10), SR)


# --- refusals on read -------------------------------------------------------------------------


def _refused(path: Path, match: str) -> None:
    with pytest.raises(AudioError, match=match) as caught:
        read_audio(path)
    assert str(caught.value).startswith(str(path) + ": ")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    _refused(path, "not a readable audio file")


def test_zero_frame_wav(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    path.write_bytes(wav_bytes(np.zeros((1, 0), np.float32)))
    _refused(path, r"empty \(0 samples\)")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "random.wav"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    _refused(path, "not a readable audio file")


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n" * 50)
    _refused(path, "not a readable audio file")


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(wav_bytes(noise(1, 1000))[:20])
    _refused(path, "not a readable audio file")


def test_missing_file(tmp_path: Path) -> None:
    _refused(tmp_path / "ghost.wav", "no such file")


def test_six_channels(tmp_path: Path) -> None:
    path = tmp_path / "surround.wav"
    path.write_bytes(wav_bytes(noise(6, 100)))
    _refused(path, r"\b6 channels")


def test_nan_samples(tmp_path: Path) -> None:
    wav = noise(2, 100)
    wav[1, 50] = np.nan
    path = tmp_path / "nan.wav"
    path.write_bytes(wav_bytes(wav, subtype="FLOAT"))
    _refused(path, "contains NaN/Inf samples")


def test_inf_samples_from_stream() -> None:
    wav = noise(1, 100)
    wav[0, 3] = np.inf
    with pytest.raises(AudioError, match="NaN/Inf"):
        read_audio(io.BytesIO(wav_bytes(wav, subtype="FLOAT")))


def test_header_claiming_ten_hours_reads_real_length(tmp_path: Path) -> None:
    data = bytearray(wav_bytes(noise(1, SR)))
    assert data[36:40] == b"data"
    claimed = SR * 3600 * 10 * 2  # 10 hours of mono PCM_16
    struct.pack_into("<I", data, 4, claimed + 36)
    struct.pack_into("<I", data, 40, claimed)
    path = tmp_path / "liar.wav"
    path.write_bytes(bytes(data))
    for source in (path, io.BytesIO(bytes(data))):
        start = time.perf_counter()
        wav, sr = read_audio(source)
        assert time.perf_counter() - start < 2.0
        assert sr == SR and wav.shape == (1, SR)


# --- resampling -----------------------------------------------------------------------------


def _peak_hz(wav: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(wav[0] * np.hanning(wav.shape[1])))
    return float(np.fft.rfftfreq(wav.shape[1], 1 / sr)[np.argmax(spectrum)])


def test_resample_keeps_frequency_and_length() -> None:
    wav = sine(1000, 48000)
    out = resample(wav, 48000, 44100)
    assert out.dtype == np.float32 and out.shape == (1, 44100)
    assert abs(_peak_hz(out, 44100) - 1000) <= 1.0


def test_resample_length_rule_stereo_odd_lengths() -> None:
    for frames, sr_in, sr_out in [
        (12347, 48000, 44100),
        (240, 48000, 44100),
        (1, 48000, 8000),
        (1, 16000, 44100),
        (7, 44100, 22050),
    ]:
        out = resample(noise(2, frames), sr_in, sr_out)
        expected = max(1, int(np.floor(frames * sr_out / sr_in + 0.5)))
        assert out.shape == (2, expected) == (2, resampled_length(frames, sr_in, sr_out))


def test_resample_upsampling_has_no_images() -> None:
    out = resample(sine(3000, 8000), 8000, SR)[0]
    spectrum = np.abs(np.fft.rfft(out * np.blackman(out.size)))
    freqs = np.fft.rfftfreq(out.size, 1 / SR)
    level = 20 * np.log10(spectrum[freqs > 4000].max() / spectrum.max())
    assert abs(freqs[np.argmax(spectrum)] - 3000) <= 2.0
    assert level < -60


def test_resample_identity_returns_same_array() -> None:
    wav = noise(2, 100)
    assert resample(wav, SR, SR) is wav


def test_resample_rejects_bad_rate() -> None:
    with pytest.raises(UsageError):
        resample(noise(1, 10), 0, SR)


def test_to_mono_averages_channels() -> None:
    wav = np.array([[1.0, 0.5, -1.0], [0.0, 0.5, 1.0]], dtype=np.float32)
    out = to_mono(wav)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(to_mono(wav[:1]), wav[:1])


# --- safe writes ------------------------------------------------------------------------------


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first block reaches the temporary file, the second fails: nothing is left behind."""
    from reencoder_cli.io.audio import BLOCK_FRAMES

    original = sf.SoundFile.write
    calls = []

    def half_write(self: sf.SoundFile, data: np.ndarray) -> None:
        calls.append(len(data))
        if len(calls) > 1:
            raise RuntimeError("disk vanished")
        original(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", half_write)
    with pytest.raises(RuntimeError, match="disk vanished"):
        write_audio(tmp_path / "out.wav", noise(2, 3 * BLOCK_FRAMES), SR)
    assert calls == [BLOCK_FRAMES, BLOCK_FRAMES]
    assert leftovers(tmp_path) == []


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.wav"
    write_audio(path, noise(1, 100), SR)
    before = path.read_bytes()

    def broken(self: sf.SoundFile, data: np.ndarray) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sf.SoundFile, "write", broken)
    with pytest.raises(KeyboardInterrupt):
        write_audio(path, noise(1, 100, seed=5), SR)
    assert leftovers(tmp_path) == ["out.wav"]
    assert path.read_bytes() == before


def test_written_file_is_not_private(tmp_path: Path) -> None:
    path = tmp_path / "shared.wav"
    write_audio(path, noise(1, 10), SR)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_stdout_through_non_seekable_pipe() -> None:
    snippet = (
        "import numpy as np\n"
        "from reencoder_cli.io.audio_write import write_audio\n"
        "wav = np.linspace(-0.5, 0.5, 2 * 3001, dtype=np.float32).reshape(2, 3001)\n"
        "write_audio('-', wav, 22050, subtype='FLOAT')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout[:4] == b"RIFF"
    back, sr = read_audio(io.BytesIO(proc.stdout))
    expected = np.linspace(-0.5, 0.5, 2 * 3001, dtype=np.float32).reshape(2, 3001)
    assert sr == 22050
    np.testing.assert_array_equal(back, expected)


def test_stdin_is_read_fully(monkeypatch: pytest.MonkeyPatch) -> None:
    wav = noise(2, 777)
    fake = io.TextIOWrapper(io.BytesIO(wav_bytes(wav, subtype="FLOAT")))
    monkeypatch.setattr(sys, "stdin", fake)
    back, _ = read_audio("-")
    np.testing.assert_array_equal(back, wav)
