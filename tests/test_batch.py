"""Batches and robustness: a corpus of bad inputs, kill -9, concurrent batches, input expansion, properties."""

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import music
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

from reencoder_cli.batch.jobs import InputFile, expand_inputs, output_name, plan_jobs, shard
from reencoder_cli.cli import app
from reencoder_cli.io.audio import resampled_length
from reencoder_cli.io.latentfile import Latent, save_latent
from reencoder_cli.io.modelfile import AEId

runner = CliRunner()


def corpus(folder: Path) -> dict[str, str]:
    """Generated inputs and the promise for each: 'ok' or a fragment of the error line."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    cases: dict[str, str] = {}

    def add(name: str, promise: str) -> Path:
        cases[name] = promise
        return folder / name

    add("empty.wav", "not a readable|empty").write_bytes(b"")
    sf.write(add("zero.wav", "empty"), np.zeros((0, 2)), 22050)
    sf.write(add("one.wav", "ok"), np.full((1, 2), 0.5), 22050)
    good = folder / "good.wav"
    sf.write(good, music(1.0, 22050, channels=2).T, 22050)
    add("truncated.wav", "not a readable").write_bytes(good.read_bytes()[:30])
    sf.write(folder / "flac_named_wav.wav", music(1.0, 22050).T, 22050, format="FLAC")
    cases["flac_named_wav.wav"] = "ok"  # libsndfile reads by content
    nan = music(0.5, 22050).T.copy()
    nan[100] = np.nan
    sf.write(add("nan.wav", "NaN"), nan, 22050, subtype="FLOAT")
    inf = music(0.5, 22050).T.copy()
    inf[7] = np.inf
    sf.write(add("inf.wav", "NaN/Inf"), inf, 22050, subtype="FLOAT")
    sf.write(add("dc.wav", "ok"), 0.4 + 0.1 * music(1.0, 22050).T, 22050)
    square = np.sign(np.sin(2 * np.pi * 440 * np.arange(22050) / 22050))[:, None]
    sf.write(add("square.wav", "ok"), square, 22050)
    sf.write(add("silence.wav", "ok"), np.zeros((22050, 1)), 22050)
    sf.write(add("rate8k.wav", "ok"), music(1.0, 8000).T, 8000)
    sf.write(add("rate192k.wav", "no band to extend"), music(0.5, 192000).T, 192000)
    sf.write(add("six.wav", "6 channels"), rng.standard_normal((1000, 6)) * 0.1, 22050)
    liar = add("ten_hours.wav", "ok")
    sf.write(liar, music(1.0, 22050).T, 22050, subtype="PCM_16")
    data = bytearray(liar.read_bytes())
    claimed = 10 * 3600 * 22050 * 2
    data[4:8] = struct.pack("<I", min(claimed + 36, 2**32 - 1))
    data[40:44] = struct.pack("<I", min(claimed, 2**32 - 1))
    liar.write_bytes(bytes(data))
    add("noise.bin.wav", "not a readable").write_bytes(rng.bytes(4096))
    add("junk.mp3", "not a readable audio file (no decoder").write_bytes(rng.bytes(20000))
    z = torch.zeros(1, 16, 5)
    z[0, 3, 2] = np.nan
    save_latent(add("nan.latent", "contains NaN/Inf values"), Latent(z, 5 * 1024, 22050, AEId("a", "0" * 64)))
    save_latent(folder / "liar.latent", Latent(torch.zeros(1, 16, 5), 5 * 1024, 22050, AEId("a", "0" * 64)))
    with safe_open(str(folder / "liar.latent"), framework="pt") as fh:
        meta, tensor = fh.metadata(), fh.get_tensor("z")
    save_file({"z": tensor}, str(add("liar.latent", "does not fit")), metadata={**meta, "length": "999999999999"})
    return cases


def test_bad_input_corpus(weights_env: Path, tmp_path: Path) -> None:
    cases = corpus(tmp_path / "in")
    start = time.perf_counter()
    result = runner.invoke(app, ["upsample", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--json"])
    assert time.perf_counter() - start < 300  # no hang
    assert result.exit_code == 1  # some failed, the rest finished
    assert "Traceback" not in result.stderr
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == set(cases) | {"good.wav"}
    for name, promise in cases.items():
        record, out = records[name], tmp_path / "out" / name
        if promise == "ok":
            assert record["status"] == "done", record
            info = sf.info(out)
            assert info.samplerate == 44100 and info.frames == resampled_length(
                sf.info(tmp_path / "in" / name).frames if name != "ten_hours.wav" else 22050,
                sf.info(tmp_path / "in" / name).samplerate,
                44100,
            )
        else:
            assert record["status"] == "failed" and any(p in record["error"] for p in promise.split("|")), record
            assert not out.exists()
    assert records["square.wav"]["clipped_samples"] >= 0
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary left


def test_kill_9_during_a_write_leaves_no_output(weights_env: Path, tmp_path: Path) -> None:
    long_input = tmp_path / "long.wav"
    with sf.SoundFile(long_input, "w", 22050, 2) as f:
        for i in range(20):
            f.write(music(10.0, 22050, channels=2, seed=i).T)
    out = tmp_path / "out" / "long.wav"
    out.parent.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reencoder_cli", "upsample", str(long_input), str(out), "-q", "--chunk-seconds", "5"],
        env=dict(os.environ),
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".long.wav.") for p in out.parent.iterdir()):
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be killed: make the input longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    leftovers = [p.name for p in out.parent.iterdir()]
    assert leftovers and all(n.startswith(".") and n.endswith(".tmp") for n in leftovers)
    # the next run in that folder sweeps the dead process's temporaries and writes a complete file
    short = tmp_path / "short.wav"
    sf.write(short, music(1.0, 22050).T, 22050)
    assert runner.invoke(app, ["upsample", str(short), str(out.parent / "short.wav")]).exit_code == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["short.wav"]


def test_two_concurrent_batches_into_one_folder(weights_env: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        sf.write(src / f"f{i}.wav", music(1.0, 22050, seed=i).T, 22050)
    cmd = [
        sys.executable,
        "-m",
        "reencoder_cli",
        "upsample",
        str(src),
        "-o",
        str(tmp_path / "out"),
        "-q",
        "--skip-existing",
    ]
    procs = [subprocess.Popen(cmd, env=dict(os.environ), stderr=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    outs = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in outs] == [f"f{i}.wav" for i in range(6)]
    for p in outs:
        assert sf.info(p).frames == 44100


def test_inputs_folders_globs_and_files_from(tmp_path: Path) -> None:
    (tmp_path / "a" / "sub").mkdir(parents=True)
    for name in ("a/x.wav", "a/y.flac", "a/sub/z.wav", "a/notes.txt", "a/.hidden.wav"):
        (tmp_path / name).write_bytes(b"")
    top = [Path(s.path).name for s in expand_inputs([str(tmp_path / "a")])]
    assert top == ["x.wav", "y.flac"]
    deep = expand_inputs([str(tmp_path / "a")], recursive=True)
    assert [str(s.rel) for s in deep] == ["sub/z.wav", "x.wav", "y.flac"]
    assert [Path(s.path).name for s in expand_inputs([str(tmp_path / "a" / "*.wav")])] == ["x.wav"]
    unmatched = str(tmp_path / "a" / "take [2].wav")  # no match: kept as given, to fail as a missing file
    assert [s.path for s in expand_inputs([unmatched])] == [unmatched]
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'a' / 'x.wav'}\n# comment\n\n{tmp_path / 'a' / 'x.wav'}\n")
    assert len(expand_inputs([], files_from=str(listing))) == 1  # duplicates removed
    import io

    assert len(expand_inputs([], files_from="-", stdin=io.StringIO(str(tmp_path / "a" / "y.flac")))) == 1


def test_output_names_mirror_folders_and_templates(tmp_path: Path) -> None:
    source = InputFile(str(tmp_path / "in" / "sub" / "song.mp3"), Path("sub/song.mp3"))
    assert output_name(source, "{stem}_44k.{ext}", None, "upsample", 3) == "song_44k.flac"  # lossy in: FLAC
    wav = InputFile(str(tmp_path / "in" / "take.wav"), Path("take.wav"))
    assert output_name(wav, "{stem}_44k.{ext}", None, "upsample", 3) == "take_44k.wav"
    assert output_name(source, "{stem}.{ext}", "flac", "upsample", 3) == "song.flac"
    assert output_name(source, "{parent}-{stem}-{op}-{seed}.wav", None, "upmix", 7) == "sub-song-upmix-7.wav"
    jobs = plan_jobs([source], None, str(tmp_path / "out"), "{stem}.{ext}", "wav", "upsample", 0)
    assert jobs[0].output == str(tmp_path / "out" / "sub" / "song.wav")


def test_shards_partition_the_list() -> None:
    jobs = plan_jobs(
        [InputFile(f"{i}.wav", Path(f"{i}.wav")) for i in range(10)], None, "o", "{stem}.{ext}", None, "x", 0
    )
    parts = [shard(jobs, i, 3) for i in range(3)]
    assert sorted(j.input for p in parts for j in p) == sorted(j.input for j in jobs)
    assert parts[0] == shard(jobs, 0, 3)  # deterministic


def test_shard_cli_and_slurm(weights_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        sf.write(src / f"f{i}.wav", music(0.3, 22050, seed=i).T, 22050)
    args = ["upsample", str(src), "-o", str(tmp_path / "out"), "-q"]
    assert runner.invoke(app, [*args, "--shard", "2/2"]).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f1.wav", "f3.wav"]
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    assert runner.invoke(app, args).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"f{i}.wav" for i in range(4)]
    assert runner.invoke(app, [*args, "--shard", "3/2"]).exit_code == 2


def test_skip_existing_and_fail_fast(weights_env: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a_bad.wav").write_bytes(b"junk")
    sf.write(src / "b.wav", music(0.3, 22050).T, 22050)
    out = tmp_path / "out"
    fast = runner.invoke(app, ["upsample", str(src), "-o", str(out), "--fail-fast", "--json"])
    assert fast.exit_code == 1 and len(fast.stdout.splitlines()) == 1 and not (out / "b.wav").exists()
    assert runner.invoke(app, ["upsample", str(src / "b.wav"), "-o", str(out)]).exit_code == 0
    again = runner.invoke(app, ["upsample", str(src / "b.wav"), "-o", str(out), "--skip-existing", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "skipped"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    length=st.integers(1, 30000),
    rate=st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000]),
    channels=st.sampled_from([1, 2]),
    op=st.sampled_from(["gain:db=-1", "upmix:seed=1"]),
)
def test_output_length_and_channel_promises(weights_env: Path, length: int, rate: int, channels: int, op: str) -> None:
    from reencoder_cli.engine.pipeline import Pipeline

    wav = (0.1 * np.random.default_rng(length).standard_normal((channels, length))).astype(np.float32)
    out = Pipeline(device="cpu", chunk_seconds=0.5).run(wav, rate, [op]).wav
    assert out.shape == (2 if op.startswith("upmix") else channels, resampled_length(length, rate, 44100))
    assert np.isfinite(out).all()


@pytest.mark.parametrize("op", ["upsample", "upmix"])
def test_batch_size_gives_the_same_outputs(weights_env: Path, tmp_path: Path, op: str) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        sf.write(src / f"same{i}.wav", music(1.0, 22050, channels=1 + i % 2, seed=i).T, 22050)
    sf.write(src / "other.wav", music(0.7, 22050, seed=9).T, 22050)
    sf.write(src / "long.wav", music(3.0, 22050, seed=8).T, 22050)  # longer than --chunk-seconds 2
    (src / "bad.wav").write_bytes(b"junk")
    base = ["--chunk-seconds", "2", "--subtype", "FLOAT", "--json"]
    one = runner.invoke(app, [op, str(src), "-o", str(tmp_path / "one"), *base])
    many = runner.invoke(app, [op, str(src), "-o", str(tmp_path / "many"), "--batch-size", "8", *base])
    assert one.exit_code == many.exit_code == 1  # bad.wav fails in both
    statuses = lambda r: {Path(x["input"]).name: x["status"] for x in map(json.loads, r.stdout.splitlines())}  # noqa: E731
    assert statuses(one) == statuses(many) and list(statuses(many).values()).count("done") == 7

    def records(stdout: str) -> dict[str, dict[str, object]]:  # all but the folder and the timing
        found = {}
        for record in map(json.loads, stdout.splitlines()):
            record["output"] = Path(record["output"]).name
            del record["seconds"], record["realtime_factor"]
            found[record["output"]] = record
        return found

    assert records(one.stdout) == records(many.stdout)  # failures included: one way to end a job
    for path in sorted((tmp_path / "one").iterdir()):
        a = sf.read(path, dtype="float32")[0]
        b = sf.read(tmp_path / "many" / path.name, dtype="float32")[0]
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-5, path.name


def test_progress_follows_each_stage_to_the_end(weights_env: Path, tmp_path: Path) -> None:
    from reencoder_cli.batch.jobs import Job, JobSpec
    from reencoder_cli.batch.run import process
    from reencoder_cli.engine.ops import parse_op
    from reencoder_cli.engine.pipeline import Pipeline

    sf.write(tmp_path / "in.wav", music(4.0, 22050).T, 22050)
    calls: list[tuple[str, str, float, float]] = []
    spec = JobSpec((parse_op("upsample"),))
    pipeline = Pipeline(device="cpu", chunk_seconds=1.0)
    result = process(
        Job(str(tmp_path / "in.wav"), str(tmp_path / "out.wav")), spec, pipeline, lambda *a: calls.append(a)
    )
    assert result.status == "done"
    assert {c[0] for c in calls} == {str(tmp_path / "in.wav")}
    stages = [c[1] for c in calls]
    assert stages == sorted(stages, key=["encode", "decode"].index)  # encode, then decode
    for stage in ("encode", "decode"):
        done = [c[2] for c in calls if c[1] == stage]
        assert len(done) >= 2 and done == sorted(done)
        assert done[-1] == pytest.approx(4.0, abs=1e-3) and {c[3] for c in calls if c[1] == stage} == {done[-1]}


def test_batched_long_file_is_streamed_not_read_whole(
    weights_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reencoder_cli.batch.jobs import Job, JobSpec
    from reencoder_cli.batch.stacked import run_jobs
    from reencoder_cli.engine.ops import parse_op
    from reencoder_cli.engine.pipeline import Pipeline
    from reencoder_cli.io import audio

    for name, seconds in (("short.wav", 0.5), ("long.wav", 3.0)):
        sf.write(tmp_path / name, music(seconds, 22050).T, 22050)
    read_whole: list[str] = []
    whole = audio.AudioReader.read
    monkeypatch.setattr(audio.AudioReader, "read", lambda self: read_whole.append(self.name) or whole(self))
    jobs = [Job(str(tmp_path / n), str(tmp_path / f"out-{n}")) for n in ("short.wav", "long.wav")]
    pipeline = Pipeline(device="cpu", chunk_seconds=1.0)
    groups = list(run_jobs(jobs, JobSpec((parse_op("upsample"),)), pipeline, batch_size=2))
    assert [[r.status for r in g] for g in groups] == [["done", "done"]]
    assert read_whole == [str(tmp_path / "short.wav")]  # the 3-s file (chunks of 1 s) streamed
    assert sf.info(tmp_path / "out-long.wav").frames == 3 * 44100


def test_progress_display_only_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from reencoder_cli.cli.progress import BatchProgress

    for terminal in (True, False):
        text = io.StringIO()
        console = Console(file=text, force_terminal=terminal, width=100)
        with BatchProgress(console, 3, enabled=console.is_terminal) as progress:
            progress.stage("a.wav", "encode", 10.0, 60.0)
            progress.stage("a.wav", "decode", 30.0, 60.0)
            progress.finished(1)
        shown = text.getvalue()
        assert ("decode a.wav" in shown and "30/60 s" in shown and "1/3" in shown) == terminal
        assert shown == "" or terminal


def test_out_rate_streamed_and_batched_alike(weights_env: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", music(1.0, 22050, seed=1).T, 22050)
    sf.write(tmp_path / "b.wav", music(1.0, 22050, seed=2).T, 22050)
    sf.write(tmp_path / "m48.wav", music(1.0, 48000, seed=3).T, 48000)
    base = ["--subtype", "FLOAT", "--json"]  # 1-s files: batched with --batch-size 2, streamed without
    one = runner.invoke(
        app,
        [
            "upsample",
            str(tmp_path / "a.wav"),
            str(tmp_path / "b.wav"),
            "-o",
            str(tmp_path / "one"),
            "--out-rate",
            "48000",
            *base,
        ],
    )
    many = runner.invoke(
        app,
        [
            "upsample",
            str(tmp_path / "a.wav"),
            str(tmp_path / "b.wav"),
            "-o",
            str(tmp_path / "many"),
            "--out-rate",
            "48000",
            "--batch-size",
            "2",
            *base,
        ],
    )
    assert one.exit_code == many.exit_code == 0
    assert {json.loads(line)["out_rate"] for line in one.stdout.splitlines() + many.stdout.splitlines()} == {48000}
    for name in ("a.wav", "b.wav"):
        a, rate = sf.read(tmp_path / "one" / name, dtype="float32")
        b, _ = sf.read(tmp_path / "many" / name, dtype="float32")
        assert rate == 48000 and a.shape == (48000,) and np.array_equal(a, b)
    kept = runner.invoke(app, ["upmix", str(tmp_path / "m48.wav"), str(tmp_path / "st.wav"), "--out-rate", "input"])
    assert kept.exit_code == 0 and sf.info(tmp_path / "st.wav").samplerate == 48000
    assert sf.info(tmp_path / "st.wav").frames == 48000  # the input's length, back at its rate
    bad = runner.invoke(app, ["upmix", str(tmp_path / "m48.wav"), str(tmp_path / "x.wav"), "--out-rate", "5"])
    assert bad.exit_code == 2 and "--out-rate" in bad.stderr
