"""What a sox or ffmpeg user expects at the edges: races, signals, pipes, bad latents, early option checks."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import music
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

from reencoder_cli.cli import app

runner = CliRunner()
CLI = [sys.executable, "-m", "reencoder_cli"]


def cli(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args])


def long_input(path: Path, seconds: int = 200) -> Path:
    """A long 22.05 kHz stereo file: long enough to act on a run while it works."""
    with sf.SoundFile(path, "w", 22050, 2) as f:
        for i in range(seconds // 10):
            f.write(music(10.0, 22050, channels=2, seed=i).T)
    return path


def wait_for(predicate: object, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and not predicate():  # type: ignore[operator]
        assert proc.poll() is None, "the run finished first: make the input longer"
        time.sleep(0.05)
    assert predicate(), "timed out"  # type: ignore[operator]


@pytest.fixture
def scratch(weights_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "scratch"
    monkeypatch.setenv("REENCODER_TMPDIR", str(folder))
    return folder


# -- 1: outputs are never replaced behind the user's back ---------------------------------------------


def test_a_file_that_appears_at_the_output_during_a_run_is_kept(scratch: Path, tmp_path: Path) -> None:
    src = long_input(tmp_path / "long.wav")
    out = tmp_path / "o" / "x.wav"
    out.parent.mkdir()
    proc = subprocess.Popen([*CLI, "upsample", src, out, "-q"], stderr=subprocess.PIPE)
    wait_for(lambda: any(p.name.startswith(".x.wav.") for p in out.parent.iterdir()), proc)
    out.write_text("precious")
    assert proc.wait(timeout=600) == 1
    assert "exists" in proc.stderr.read().decode()
    assert out.read_text() == "precious"
    assert [p.name for p in out.parent.iterdir()] == ["x.wav"]  # no temporary left either


def test_two_identical_batches_make_each_file_once_and_the_loser_says_exists(scratch: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        sf.write(src / f"f{i}.wav", music(1.0, 22050, seed=i).T, 22050)
    cmd = [*CLI, "upsample", src, "-o", tmp_path / "out", "--json", "-q"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    records = [json.loads(line) for proc in procs for line in proc.communicate(timeout=600)[0].splitlines()]
    by_file: dict[str, list[str]] = {}
    for record in records:
        by_file.setdefault(Path(record["output"]).name, []).append(record["status"])
        assert record["status"] == "done" or "exists" in record["error"]
    assert sorted(by_file) == [f"f{i}.wav" for i in range(6)]
    assert all(sorted(statuses) == ["done", "failed"] for statuses in by_file.values())  # each made exactly once
    assert all(sf.info(p).frames == 44100 for p in (tmp_path / "out").iterdir())


# -- 2, 3: latent files are checked before they are trusted -------------------------------------------


def _latent(folder: Path) -> Path:
    sf.write(folder / "in.wav", music(2.0, 44100).T, 44100)
    assert cli("encode", folder / "in.wav", folder / "in.latent").exit_code == 0
    return folder / "in.latent"


def _rewrite(path: Path, dest: Path, z: torch.Tensor | None = None, **meta: str) -> Path:
    with safe_open(str(path), framework="pt") as fh:
        old, tensor = fh.metadata(), fh.get_tensor("z")
    save_file({"z": tensor if z is None else z}, str(dest), metadata={**old, **meta})
    return dest


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_latent_with_nan_or_inf_is_refused_like_such_audio(scratch: Path, tmp_path: Path, value: float) -> None:
    path = _latent(tmp_path)
    with safe_open(str(path), framework="pt") as fh:
        z = fh.get_tensor("z")
    z[..., 10:20] = value
    bad = _rewrite(path, tmp_path / "bad.latent", z)
    for subtype in ("FLOAT", "PCM_16"):
        result = cli("decode", bad, tmp_path / f"out{subtype}.wav", "--subtype", subtype)
        assert result.exit_code == 1 and "contains NaN/Inf values" in result.stderr
        assert "Traceback" not in result.stderr and "RuntimeWarning" not in result.stderr
        assert not (tmp_path / f"out{subtype}.wav").exists()
    assert cli("probe", bad).exit_code == 1


@pytest.mark.parametrize(
    "meta,message",
    [
        ({"length": "999999999999"}, "does not fit its"),
        ({"length": "0"}, "does not fit its"),
        ({"hop": "0"}, "does not fit its"),
        ({"channels": "2"}, "for 2 channel"),
        ({"sample_rate": "-44100"}, "is not a sample rate"),
        ({"source_rate": "0"}, "is not a sample rate"),
    ],
)
def test_latent_metadata_that_does_not_fit_is_refused(
    scratch: Path, tmp_path: Path, meta: dict[str, str], message: str
) -> None:
    bad = _rewrite(_latent(tmp_path), tmp_path / "bad.latent", **meta)
    for command in (("probe", bad), ("decode", bad, tmp_path / "out.wav")):
        result = cli(*command)
        assert result.exit_code == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "out.wav").exists()


def test_latent_files_follow_the_umask_as_audio_does(scratch: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = _latent(tmp_path)
        assert cli("decode", path, tmp_path / "out.wav").exit_code == 0
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == (tmp_path / "out.wav").stat().st_mode & 0o777 == 0o644


# -- 4: options are checked before anything is read or loaded ----------------------------------------


@pytest.mark.parametrize(
    "options,message",
    [
        (["--chunk-seconds", "0"], "--chunk-seconds"),
        (["--chunk-seconds", "-3"], "--chunk-seconds"),
        (["--chunk-seconds", "0.01"], "--chunk-seconds"),
        (["--chunk-seconds", "nan"], "--chunk-seconds"),
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "-2"], "--batch-size"),
        (["--seed", "18446744073709551616"], "--seed"),
        (["--seed", "-1"], "--seed"),
        (["--device", "tpu"], "tpu"),
        (["--format", "xyz"], "--format xyz"),
        (["--subtype", "PCM_99"], "--subtype PCM_99"),
    ],
)
def test_bad_options_are_usage_errors_before_any_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str], message: str
) -> None:
    monkeypatch.setenv("REENCODER_WEIGHTS_DIR", str(tmp_path / "no-weights"))  # loading anything would fail
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        sf.write(src / f"f{i}.wav", music(0.5, 22050, seed=i).T, 22050)
    result = cli("upsample", src, "-o", tmp_path / "out", *options)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "options,message",
    [
        (["--style-mix", "0.5"], "needs width_from"),
        (["--width-from", "missing.wav"], "missing.wav: no such file"),
    ],
)
def test_upmix_style_options_are_checked_before_any_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str], message: str
) -> None:
    monkeypatch.setenv("REENCODER_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    sf.write(tmp_path / "m.wav", music(0.5, 44100).T, 44100)
    result = cli("upmix", tmp_path / "m.wav", tmp_path / "o.wav", *options)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.stderr


def test_existing_outputs_are_refused_before_the_models_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REENCODER_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    sf.write(tmp_path / "in.wav", music(0.5, 22050).T, 22050)
    (tmp_path / "out.wav").write_text("precious")
    result = cli("upsample", tmp_path / "in.wav", tmp_path / "out.wav")
    assert result.exit_code == 1 and "exists" in result.stderr and "weights" not in result.stderr
    assert (tmp_path / "out.wav").read_text() == "precious"
    assert cli("upsample", tmp_path / "in.wav", tmp_path / "out.wav", "--skip-existing").exit_code == 0


# -- 5: a closed pipe stops the job ----------------------------------------------------------------------


def test_a_closed_output_pipe_stops_the_job_and_fails(scratch: Path, tmp_path: Path) -> None:
    src = long_input(tmp_path / "long.wav", 120)
    shell = f"{' '.join(map(str, CLI))} upsample {src} - | head -c 100 > {tmp_path / 'head'}"
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {shell}"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    assert "the reader closed the pipe; stopped" in done.stderr
    assert not [line for line in done.stderr.splitlines() if line.startswith("done ")]
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "head").read_bytes()[:4] == b"RIFF"


def test_wav_to_stdout_streams_the_same_samples_as_a_file(scratch: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "in.wav", music(3.0, 22050, channels=2).T, 22050)
    for subtype in ("PCM_16", "PCM_24", "FLOAT"):
        piped = subprocess.run(
            [*CLI, "upsample", tmp_path / "in.wav", "-", "--subtype", subtype, "-q"], capture_output=True, timeout=600
        )
        assert piped.returncode == 0, piped.stderr
        (tmp_path / "piped.wav").write_bytes(piped.stdout)
        assert cli("upsample", tmp_path / "in.wav", tmp_path / "file.wav", "--subtype", subtype, "--overwrite")
        a, rate = sf.read(tmp_path / "piped.wav", always_2d=True)
        b, _ = sf.read(tmp_path / "file.wav", always_2d=True)
        assert rate == 44100 and a.shape == b.shape == (3 * 44100, 2)
        assert np.array_equal(a, b), subtype


# -- 6: signals remove every temporary ---------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_leave_no_temporary(scratch: Path, tmp_path: Path, signum: int) -> None:
    src = long_input(tmp_path / "long.wav")
    out = tmp_path / "o" / "x.wav"
    out.parent.mkdir()
    proc = subprocess.Popen([*CLI, "upsample", src, out, "-q"], stderr=subprocess.PIPE)
    wait_for(lambda: scratch.exists() and any(scratch.iterdir()), proc)  # the 44.1 kHz reference copy
    wait_for(lambda: any(out.parent.iterdir()), proc)  # the output's own temporary
    proc.send_signal(signum)
    assert proc.wait(timeout=120) == 128 + signum
    assert f"stopped by {signal.Signals(signum).name}" in proc.stderr.read().decode()
    assert not list(out.parent.iterdir()) and not list(scratch.iterdir())


def test_env_says_where_the_scratch_files_go(scratch: Path) -> None:
    result = cli("env")
    assert result.exit_code == 0 and f"scratch: {scratch}" in result.stdout


# -- 7: file-system failures name the output and the batch goes on ----------------------------------------


def test_a_full_disk_is_one_line_naming_the_output_and_the_batch_goes_on(
    scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reencoder_cli.engine import stream

    append = stream.ReferenceStore.append

    def full(self: stream.ReferenceStore, block: np.ndarray) -> None:
        if self.length > 44100:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/scratch/.reencoder-ref.1.x.tmp")
        append(self, block)

    monkeypatch.setattr(stream.ReferenceStore, "append", full)
    for name, seconds in (("a_long.wav", 6.0), ("b_short.wav", 0.5)):
        sf.write(tmp_path / name, music(seconds, 22050).T, 22050)
    result = cli("upsample", tmp_path / "a_long.wav", tmp_path / "b_short.wav", "-o", tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed")]
    assert failed == [
        f"failed {tmp_path / 'out' / 'a_long.wav'}: cannot write: No space left on device "
        "(/scratch/.reencoder-ref.1.x.tmp)"
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b_short.wav"]


def test_an_unwritable_scratch_folder_is_one_line(
    tmp_path: Path, weights_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("REENCODER_TMPDIR", str(tmp_path / "file" / "scratch"))
    sf.write(tmp_path / "in.wav", music(0.5, 22050).T, 22050)
    result = cli("upsample", tmp_path / "in.wav", tmp_path / "out.wav")
    assert result.exit_code == 1 and "scratch folder" in result.stderr and "REENCODER_TMPDIR" in result.stderr
    assert "internal error" not in result.stderr


# -- 8: the smaller ones --------------------------------------------------------------------------------


def test_a_name_template_cannot_leave_the_output_folder(tmp_path: Path) -> None:
    sf.write(tmp_path / "in.wav", music(0.5, 22050).T, 22050)
    for name in ("../../x_{stem}.wav", "/tmp/x_{stem}.wav", "sub/../../{stem}.wav"):
        result = cli("upsample", tmp_path / "in.wav", "-o", tmp_path / "o" / "p", "--name", name)
        assert result.exit_code == 2 and "outside the output folder" in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_folder_without_audio_is_reported_not_dropped(scratch: Path, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "empty" / "sub" / "deep.wav", music(0.5, 22050).T, 22050)
    sf.write(tmp_path / "in.wav", music(0.5, 22050).T, 22050)
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'in.wav'}\n{tmp_path / 'empty'}\n")
    result = cli("upsample", "--files-from", tmp_path / "list.txt", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"{tmp_path / 'empty'}: a folder with no audio file in it (-r/--recursive" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["in.wav"]


def test_a_junk_mp3_is_one_line_of_ours(scratch: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    done = subprocess.run([*CLI, "upsample", junk, tmp_path / "o.wav"], capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("0 done")]
    assert done.returncode == 1 and len(lines) == 1, done.stderr  # libmpg123 prints nothing of its own
    assert "not a readable audio file" in lines[0] and "possibly a pipe" not in lines[0]


def test_a_slurm_task_outside_its_array_names_the_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sf.write(tmp_path / "in.wav", music(0.5, 22050).T, 22050)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "6")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    result = cli("upsample", tmp_path / "in.wav", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "SLURM_ARRAY_TASK_ID=6, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_COUNT=2" in result.stderr
    assert "6/2" not in result.stderr and "7/2" not in result.stderr


# -- 10: more than two channels ----------------------------------------------------------------------


def test_downmix_follows_itu_for_5_1_and_reports_it(scratch: Path, tmp_path: Path) -> None:
    from reencoder_cli.io.audio import downmix_matrix

    # 5.1 in WAV order: L R C LFE Ls Rs; each channel its own tone, so the mix can be read back
    m = downmix_matrix(6, "stereo")
    c = 1 / np.sqrt(2)
    assert np.allclose(m, [[1, 0, c, 0, c, 0], [0, 1, c, 0, 0, c]])
    assert np.allclose(downmix_matrix(6, "mono"), m.mean(axis=0, keepdims=True))
    six = 0.1 * music(1.0, 44100, channels=2, seed=1)[[0, 1, 0, 1, 1, 0]]
    sf.write(tmp_path / "six.wav", six.T, 44100)
    assert "6 channels" in cli("run", tmp_path / "six.wav", tmp_path / "o.wav", "--op", "gain:db=0").stderr
    result = cli("run", tmp_path / "six.wav", tmp_path / "o.wav", "--op", "gain:db=0", "--downmix", "stereo", "--json")
    record = json.loads(result.stdout)
    assert result.exit_code == 0 and record["channels"] == 2
    assert "6 channels downmixed to stereo (ITU-R BS.775)" in record["notes"]
    assert cli("probe", tmp_path / "six.wav").exit_code == 0  # probe describes any readable file
    sf.write(tmp_path / "nine.wav", np.zeros((4410, 9)), 44100)
    result = cli("run", tmp_path / "nine.wav", tmp_path / "n.wav", "--op", "gain:db=0", "--downmix", "mono")
    assert result.exit_code == 1 and "no downmix known" in result.stderr
    assert cli("upsample", tmp_path / "six.wav", tmp_path / "x.wav", "--downmix", "5.1").exit_code == 2


def test_probe_describes_a_file_with_nan_samples(tmp_path: Path) -> None:
    wav = music(1.0, 44100)
    wav[0, 100:110] = np.nan
    sf.write(tmp_path / "nan.wav", wav.T, 44100, subtype="FLOAT")
    result = cli("probe", tmp_path / "nan.wav", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["nonfinite"] == 10
    assert "10 NaN/Inf samples" in cli("probe", tmp_path / "nan.wav").stdout


# -- 11: peaks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option,level", [("--norm", -0.1), ("--norm=-6", -6.0)])
def test_norm_puts_the_peak_at_the_level(scratch: Path, tmp_path: Path, option: str, level: float) -> None:
    sf.write(tmp_path / "loud.wav", np.clip(4 * music(2.0, 22050), -1, 1).T, 22050)
    out = tmp_path / "o.wav"
    result = cli("upsample", tmp_path / "loud.wav", out, option, "--subtype", "FLOAT", "--json")
    assert result.exit_code == 0, result.stderr
    peak = 20 * np.log10(np.abs(sf.read(out)[0]).max())
    assert abs(peak - level) < 0.01
    assert any(n.startswith("normalised: gain") for n in json.loads(result.stdout)["notes"])
    assert cli("upsample", tmp_path / "loud.wav", tmp_path / "p.wav", "--norm=3").exit_code == 2


def test_the_clipping_warning_names_norm(scratch: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "hot.wav", np.sign(music(1.0, 44100)).T, 44100)
    result = cli("run", tmp_path / "hot.wav", tmp_path / "o.wav", "--op", "gain:db=6")
    assert "samples limited" in result.stderr and "--norm" in result.stderr


# -- 12: lossy in, lossless out -------------------------------------------------------------------------


def test_a_folder_of_lossy_files_becomes_flac_and_the_record_says_so(scratch: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "a.ogg", music(1.0, 22050).T, 22050, format="OGG", subtype="VORBIS")
    sf.write(src / "b.wav", music(1.0, 22050).T, 22050)
    result = cli("upsample", src, "-o", tmp_path / "out", "--json")
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert result.exit_code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.flac", "b.wav"]
    assert "lossy input written as FLAC (--format chooses)" in records["a.ogg"]["notes"]
    assert not any("FLAC" in n for n in records["b.wav"]["notes"])
    result = cli("upsample", src, "-o", tmp_path / "ogg", "--format", "ogg")
    assert sorted(p.name for p in (tmp_path / "ogg").iterdir()) == ["a.ogg", "b.ogg"]  # asked for: kept


# -- 13: the done line -----------------------------------------------------------------------------------


def test_the_done_line_names_the_model_after_the_notes(scratch: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "st.wav", music(1.0, 44100, channels=2).T, 44100)
    lines = cli("upmix", tmp_path / "st.wav", tmp_path / "o.wav").stderr.splitlines()
    assert lines[0] == "note: stereo input downmixed to mono for upmix"
    assert lines[1].startswith(f"done {tmp_path / 'st.wav'} -> {tmp_path / 'o.wav'} (stereo-s, keep_mid")


# -- 9: the content's band, not the file's rate -------------------------------------------------------


@pytest.mark.parametrize("batch", [[], ["--batch-size", "2"]])
def test_upsample_detects_the_content_band_by_default(scratch: Path, tmp_path: Path, batch: list[str]) -> None:
    import soxr

    narrow = music(2.0, 22050, channels=2)  # stored at 22.05 kHz, content cut at 4 kHz as an 8 kHz file's
    narrow = np.stack([soxr.resample(soxr.resample(c, 22050, 8000, "VHQ"), 8000, 22050, "VHQ") for c in narrow])
    sf.write(tmp_path / "narrow.wav", narrow.T, 22050)
    sf.write(tmp_path / "full.wav", music(2.0, 22050, channels=2).T, 22050)
    result = cli("upsample", tmp_path / "narrow.wav", tmp_path / "full.wav", "-o", tmp_path / "o", "--json", *batch)
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert result.exit_code == 0, result.stderr
    assert records["narrow.wav"]["ops"] == ["upsample:rate=8000"]
    assert records["narrow.wav"]["notes"] == ["content band-limited to 4000 Hz: upsampling from 8000 Hz"]
    assert records["full.wav"]["ops"] == ["upsample:rate=22050"] and not records["full.wav"]["notes"]
    given = cli("upsample", tmp_path / "narrow.wav", tmp_path / "g.wav", "--from-rate", "0", "--json")
    assert json.loads(given.stdout)["ops"] == ["upsample:rate=22050"]  # 0: the file's rate
