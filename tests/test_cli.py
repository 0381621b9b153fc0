"""The CLI end to end on generated audio, with tiny random models: outputs, error paths, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import music
from typer.testing import CliRunner

from reencoder_cli.cli import app

runner = CliRunner()


def cli(*args: str) -> "object":
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def files(weights_env: Path, tmp_path: Path) -> Path:
    sf.write(tmp_path / "in22.wav", music(2.0, 22050, channels=2).T, 22050)
    sf.write(tmp_path / "mono.flac", music(1.5, 44100).T, 44100)
    sf.write(tmp_path / "ref.wav", music(1.5, 44100, channels=2, seed=5).T, 44100)
    return tmp_path


def one_error_line(result: "object") -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert len(lines) >= 1
    return result.stderr


def test_upsample_end_to_end(files: Path) -> None:
    result = cli("upsample", files / "in22.wav", files / "out.wav", "--json")
    assert result.exit_code == 0, result.stderr
    wav, rate = sf.read(files / "out.wav", always_2d=True)
    assert rate == 44100 and wav.shape == (88200, 2)
    record = json.loads(result.stdout)
    assert record["status"] == "done" and record["in_rate"] == 22050 and record["out_rate"] == 44100
    assert record["post_steps"] == ["keep_lowband"] and set(record["models"]) == {"autoencoder", "bwe-s-l1"}
    assert record["realtime_factor"] > 0 and record["error"] is None


@pytest.mark.parametrize("batch", [[], ["--batch-size", "2"]])
def test_upsample_records_each_file_s_rate_and_model(files: Path, batch: list[str]) -> None:
    sf.write(files / "in16.wav", music(1.0, 16000).T, 16000)
    sf.write(files / "in44.wav", music(1.0, 44100).T, 44100)
    result = cli("upsample", files / "in16.wav", files / "in22.wav", "-o", files / "out", "--json", *batch)
    assert result.exit_code == 0, result.stderr
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    for name, rate in [("in16.wav", 16000), ("in22.wav", 22050)]:
        assert records[name]["ops"] == [f"upsample:rate={rate}"], name  # detected: no cut
        assert set(records[name]["models"]) == {"autoencoder", "bwe-s-l1"}, name
    named = cli("upsample", files / "in44.wav", files / "named.wav", "--from-rate", "16000", "--json")
    assert json.loads(named.stdout)["ops"] == ["upsample:rate=16000"]
    explicit = cli("upsample", files / "in16.wav", files / "x.wav", "--model", "flow-s", "--json")
    assert json.loads(explicit.stdout)["ops"] == ["upsample:model=flow-s,rate=16000"]


def test_upmix_and_width_from(files: Path) -> None:
    out = [files / f"st{i}.wav" for i in range(3)]
    assert cli("upmix", files / "mono.flac", out[0], "--seed", "3").exit_code == 0
    assert cli("upmix", files / "mono.flac", out[1], "--seed", "3").exit_code == 0
    assert cli("upmix", files / "mono.flac", out[2], "--width-from", files / "ref.wav").exit_code == 0
    a, b, c = (sf.read(p)[0] for p in out)
    assert a.shape == (66150, 2) and np.array_equal(a, b) and not np.allclose(a, c)
    decoded = files / "st3.wav"
    assert cli("upmix", files / "mono.flac", decoded, "--seed", "3", "--side", "decoded").exit_code == 0
    d = sf.read(decoded)[0]
    assert not np.allclose(a, d) and np.abs(a.mean(-1) - d.mean(-1)).max() < 1e-4  # same mid, another side


def test_upmix_temperature_zero_gives_every_seed_the_typical_image(files: Path) -> None:
    out = {(t, seed): files / f"t{t}-{seed}.wav" for t in ("0", "1") for seed in ("1", "2")}
    for (t, seed), path in out.items():
        assert cli("upmix", files / "mono.flac", path, "--seed", seed, "--temperature", t).exit_code == 0
    wav = {key: sf.read(path)[0] for key, path in out.items()}
    assert np.array_equal(wav["0", "1"], wav["0", "2"]) and not np.allclose(wav["1", "1"], wav["1", "2"])
    assert cli("upmix", files / "mono.flac", files / "t2.wav", "--temperature", "2").exit_code != 0


def test_run_chain_encode_decode_and_subtype(files: Path) -> None:
    r = cli(
        "run", files / "in22.wav", files / "c.flac", "--op", "upsample", "--op", "upmix:seed=2", "--subtype", "PCM_24"
    )
    assert r.exit_code == 0, r.stderr
    info = sf.info(files / "c.flac")
    assert (info.channels, info.samplerate, info.subtype) == (2, 44100, "PCM_24")
    assert cli("encode", files / "in22.wav", files / "x.latent").exit_code == 0
    assert cli("decode", files / "x.latent", files / "y.wav", "--op", "gain:db=-6").exit_code == 0
    assert sf.info(files / "y.wav").frames == 88200


def test_outputs_inherit_the_input_precision_and_tags(files: Path) -> None:
    with sf.SoundFile(files / "hi.flac", "w", 22050, 1, "PCM_24") as f:
        f.title, f.artist = "Song", "Band"
        f.write(music(1.0, 22050).T)
    (files / "b").mkdir()
    runs = [
        ("upsample", files / "hi.flac", files / "streamed.wav"),  # streamed
        ("upsample", files / "hi.flac", files / "in22.wav", "-o", files / "b", "--batch-size", "2"),  # batched
        ("encode", files / "hi.flac", files / "hi.latent"),
        ("decode", files / "hi.latent", files / "decoded.flac"),  # through a latent file
    ]
    for args in runs:
        assert cli(*args).exit_code == 0
    for out in ("streamed.wav", "b/hi.flac", "decoded.flac"):
        with sf.SoundFile(files / out) as f:
            assert (f.subtype, f.title, f.artist) == ("PCM_24", "Song", "Band"), out
    assert sf.info(files / "b/in22.wav").subtype == "PCM_16"


def test_from_rate_auto_detects_the_content_band(files: Path) -> None:
    import soxr

    rng = np.random.default_rng(0)
    full = music(2.0, 44100) + 0.02 * rng.standard_normal((1, 88200)).astype(np.float32)
    phone = soxr.resample(soxr.resample(full[0], 44100, 8000, "VHQ"), 8000, 44100, "VHQ")
    sf.write(files / "phone.wav", phone, 44100)
    sf.write(files / "full.wav", full[0], 44100)
    for extra in ([], ["--batch-size", "2"]):
        out = files / f"out{len(extra)}"
        args = ("upsample", files / "phone.wav", files / "full.wav", "-o", out, "--from-rate", "auto", "--json", *extra)
        result = cli(*args)
        assert result.exit_code == 1
        records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
        assert records["phone.wav"]["ops"] == ["upsample:rate=8000"]
        assert records["phone.wav"]["notes"] == ["content band-limited to 4000 Hz: upsampling from 8000 Hz"]
        assert "no band limit found in the spectrum below 22050 Hz" in records["full.wav"]["error"]
        assert sf.info(out / "phone.wav").frames == 88200 and not (out / "full.wav").exists()
    assert cli("upsample", files / "phone.wav", files / "x.wav", "--from-rate", "fast").exit_code == 2
    from reencoder_cli.engine.pipeline import Pipeline

    result = Pipeline(device="cpu").run(phone[None], 44100, ["upsample:rate=auto"])  # the Python API's path
    assert result.ops == ("upsample:rate=8000",) and result.post_steps == ("keep_lowband",)


def test_16_bit_output_is_rounded_and_dithered_unless_asked_not_to(files: Path) -> None:
    from reencoder_cli.engine.pipeline import Pipeline

    wav, rate = sf.read(files / "in22.wav", always_2d=True, dtype="float32")
    exact = Pipeline(device="cpu").run(wav.T, rate, ["upsample"]).wav
    assert cli("upsample", files / "in22.wav", files / "plain.wav", "--no-dither").exit_code == 0
    assert cli("upsample", files / "in22.wav", files / "dithered.wav").exit_code == 0
    plain, dithered = (sf.read(files / name, dtype="int16")[0].T for name in ("plain.wav", "dithered.wav"))
    rounded = np.clip(np.rint(exact.astype(np.float64) * 32768), -32768, 32767)
    np.testing.assert_array_equal(plain, rounded)  # nearest step, no bias
    difference = dithered - rounded
    assert np.abs(difference).max() <= 1 and 0.2 < np.mean(difference != 0) < 0.8  # one step of TPDF noise


def test_encode_and_decode_in_separate_processes_match_one_process(files: Path) -> None:
    from reencoder_cli.engine.pipeline import Pipeline

    env = dict(os.environ)
    exe = [sys.executable, "-m", "reencoder_cli"]
    subprocess.run([*exe, "encode", files / "in22.wav", files / "p.latent", "-q"], check=True, env=env)
    subprocess.run(
        [*exe, "decode", files / "p.latent", files / "p.wav", "--subtype", "FLOAT", "-q"], check=True, env=env
    )
    wav, rate = sf.read(files / "in22.wav", always_2d=True, dtype="float32")
    pipe = Pipeline(device="cpu")
    expected = pipe.decode(pipe.encode(wav.T, rate))
    got = sf.read(files / "p.wav", always_2d=True, dtype="float32")[0].T
    assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-6


def write_bad(folder: Path) -> dict[str, Path]:
    bad = {name: folder / name for name in ("empty.wav", "zero.wav", "noise.wav", "six.wav", "nan.wav", "text.flac")}
    bad["empty.wav"].write_bytes(b"")
    sf.write(bad["zero.wav"], np.zeros((0, 1)), 44100)
    bad["noise.wav"].write_bytes(np.random.default_rng(0).bytes(5000))
    sf.write(bad["six.wav"], np.zeros((100, 6)), 44100)
    nan = np.zeros((100, 1), dtype=np.float32)
    nan[5] = np.nan
    sf.write(bad["nan.wav"], nan, 44100, subtype="FLOAT")
    bad["text.flac"].write_text("hello")
    return bad


def test_bad_inputs_fail_cleanly_and_the_batch_goes_on(files: Path) -> None:
    bad = write_bad(files)
    result = cli("upsample", *bad.values(), files / "in22.wav", "-o", files / "out", "--json")
    assert result.exit_code == 1
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["in22.wav"]["status"] == "done"
    reasons = {
        "empty.wav": "not a readable|empty",
        "zero.wav": "empty",
        "noise.wav": "not a readable",
        "six.wav": "6 channels",
        "nan.wav": "NaN",
        "text.flac": "not a readable",
    }
    import re

    for name, pattern in reasons.items():
        assert records[name]["status"] == "failed" and re.search(pattern, records[name]["error"]), records[name]
        assert not (files / "out" / name).exists()
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (files / "out").iterdir()) == ["in22.wav"]


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["upsample", "{d}/missing.wav", "{d}/o.wav"], 1, "no such file"),
        (["upsample", "{d}/in22.wav", "{d}/in22.wav", "--overwrite"], 1, "refusing to overwrite an input"),
        (["run", "{d}/in22.wav", "{d}/o.wav", "--op", "bogus"], 2, "unknown op"),
        (["run", "{d}/in22.wav", "{d}/o.wav", "--op", "gain:db=x"], 2, "not a valid float"),
        (["run", "{d}/in22.wav", "{d}/o.wav"], 2, "at least one --op"),
        (["upsample", "{d}/in22.wav", "{d}/o.wav", "--device", "cuda:7"], 2, "cuda"),
        (["upsample", "{d}/in22.wav", "-", "--json"], 2, "cannot be '-'"),
        (["upsample", "{d}/in22.wav", "{d}/o.xyz"], 1, "xyz"),
        (["upsample", "{d}/in22.wav", "{d}/o.wav", "--subtype", "PCM_8"], 2, "PCM_8"),
        (["upsample", "{d}/mono.flac", "{d}/o.wav"], 1, "no band to extend"),
        (["upsample", "{d}/mono.flac", "{d}/o.wav", "--from-rate", "0"], 1, "already 44100"),
        (["upsample", "{d}/in22.wav", "{d}/o.wav", "--model", "nope"], 1, "not found"),
        (["upmix", "{d}/mono.flac", "{d}/o.wav", "--width-from", "{d}/mono.flac"], 1, "mono"),
        (["upmix", "{d}/mono.flac", "{d}/o.wav", "--side", "wide"], 2, "not one of parametric, decoded"),
        (["upmix", "{d}/mono.flac", "{d}/o.wav", "--min-side", "3"], 2, "min_side=3.0 is outside [-inf, 0.0]"),
        (["upsample", "{d}/in22.wav", "{d}/mono.flac", "{d}/o.wav"], 2, "-o/--output-dir"),
        (["train", "module", "bwe", "--latents", "{d}/none", "--run", "{d}/r"], 1, "reencoder train latents"),
        (["train", "raw", "--data", "{d}/none", "--run", "{d}/r"], 1, "build the cache first"),
        (["train", "autoencoder", "--data", "{d}/none", "--run", "{d}/r"], 1, "build the cache first"),
        (["train", "module", "flow", "--l1-only", "--run", "{d}/r"], 2, "a flow module has no discriminator"),
        (["train", "module", "stereo", "--disc-start", "5", "--run", "{d}/r"], 2, "apply to bwe"),
        (["train", "raw", "--patience", "-1", "--run", "{d}/r"], 2, "--patience"),
        (["eval", "{d}/in22.wav", "--task", "reconstruct", "--model", "bwe-s"], 2, "--model applies to upsample"),
        (["eval", "{d}/in22.wav", "--task", "upmix", "--model", "a", "--model", "b"], 2, "give one --model"),
        (["eval", "{d}/in22.wav", "--task", "linearity", "--plot", "{d}/p"], 2, "--plot and --visqol apply"),
    ],
)
def test_error_paths(files: Path, args: list[str], code: int, message: str) -> None:
    result = cli(*(a.format(d=files) for a in args))
    assert result.exit_code == code, result.stderr
    assert message in one_error_line(result)


def test_existing_output_needs_overwrite(files: Path) -> None:
    (files / "o.wav").write_bytes(b"keep me")
    result = cli("upsample", files / "in22.wav", files / "o.wav")
    assert result.exit_code == 1 and "--overwrite" in result.stderr
    assert (files / "o.wav").read_bytes() == b"keep me"
    assert cli("upsample", files / "in22.wav", files / "o.wav", "--overwrite").exit_code == 0
    assert sf.info(files / "o.wav").samplerate == 44100


def test_missing_weights_say_not_shipped(files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REENCODER_WEIGHTS_DIR", str(tmp_path / "none"))
    result = cli("upsample", files / "in22.wav", files / "o.wav")
    assert result.exit_code == 1 and "not shipped yet" in result.stderr


def test_names_with_brackets_are_printed_whole_and_unmatched_patterns_fail_per_file(files: Path) -> None:
    sf.write(files / "take [live].wav", music(1.0, 44100).T, 44100)
    result = cli("upsample", files / "take [live].wav", files / "missing [2].wav", "-o", files / "out")
    assert result.exit_code == 1  # not a usage error: each file has its line
    assert "take [live].wav: upsample: no band limit found" in result.stderr
    assert "missing [2].wav: no such file" in result.stderr


def test_probe_describes_files_without_torch(files: Path) -> None:
    import soxr

    full = music(2.0, 44100) + 0.02 * np.random.default_rng(0).standard_normal((1, 88200)).astype(np.float32)
    phone = soxr.resample(soxr.resample(full[0], 44100, 16000, "VHQ"), 16000, 44100, "VHQ")
    with sf.SoundFile(files / "phone.flac", "w", 44100, 1, "PCM_24") as f:
        f.title = "Call"
        f.write(phone)
    code = (
        "import sys; from reencoder_cli.cli import app\n"
        f"try: app(['probe', {str(files / 'phone.flac')!r}, {str(files / 'mono.flac')!r}, 'gone.wav', '--json'])\n"
        "except SystemExit as e: print('exit', e.code, file=sys.stderr)\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().endswith("exit 1\nFalse") and "gone.wav: no such file" in done.stderr
    phone_record, mono_record = map(json.loads, done.stdout.splitlines())
    assert phone_record["content_rate"] == 16000 and mono_record["content_rate"] == 44100
    assert (phone_record["subtype"], phone_record["tags"], phone_record["seconds"]) == (
        "PCM_24",
        {"title": "Call"},
        2.0,
    )
    peak = 20 * np.log10(np.abs(sf.read(files / "phone.flac")[0]).max())
    assert phone_record["peak_dbfs"] == pytest.approx(peak, abs=0.01)
    (files / "phone.flac").rename(files / "phone [1].flac")
    text = cli("probe", files / "phone [1].flac")
    assert text.exit_code == 0 and "phone [1].flac: 44100 Hz" in text.stdout
    assert "content up to 8000 Hz (upsample --from-rate 16000)" in text.stdout


def test_probe_describes_latent_files(files: Path) -> None:
    latent = files / "in22.latent"
    assert cli("run", files / "in22.wav", latent, "--op", "gain:db=-6").exit_code == 0
    record = json.loads(cli("probe", latent, "--json").stdout)
    assert (record["channels"], record["frames"], record["seconds"], record["source_rate"]) == (2, 87, 2.0, 22050)
    assert record["ops"] == ["gain:db=-6.0"] and record["autoencoder"]["id"] == "autoencoder"
    from reencoder_cli.engine.pipeline import Pipeline

    assert record["autoencoder"]["latent_space"] == Pipeline(device="cpu").ae_id.latent_space
    text = cli("probe", latent).stdout
    assert "in22.latent: reencoder latent, 2 ch x 16 x 87 frames, 0:02.0 of audio from 22050 Hz" in text
    (files / "fake.latent").write_bytes(b"not a latent")
    bad = cli("probe", files / "fake.latent")
    assert bad.exit_code == 1 and "fake.latent: not a readable latent file" in one_error_line(bad)


def test_help_is_fast_and_does_not_import_torch() -> None:
    code = (
        "import sys; from reencoder_cli.cli import app\n"
        "try: app(['--help'])\nexcept SystemExit: pass\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().endswith("False")
    assert "upsample" in done.stdout and "upmix" in done.stdout


def test_stdin_to_stdout_through_a_real_pipe(files: Path) -> None:
    import io
    import shlex

    exe = f"{shlex.quote(sys.executable)} -m reencoder_cli"
    done = subprocess.run(
        f"cat {shlex.quote(str(files / 'in22.wav'))} | {exe} upsample - - -q | {exe} upmix - - -q",
        shell=True,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    wav, rate = sf.read(io.BytesIO(done.stdout), always_2d=True)
    assert rate == 44100 and wav.shape == (88200, 2)
    assert done.stderr == b""


def test_models_and_env_commands(weights_env: Path) -> None:
    result = cli("models", "--json")
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)) >= {"autoencoder.safetensors", "bwe-s.safetensors"}
    from reencoder_cli.cli.info import _steps

    assert _steps({"steps": 6000, "init": {"steps": 15705}}) == "15705+6000"  # a run that started from weights
    assert _steps({"steps": 3}) == "3" and _steps({}) == "?"
    env = cli("env")
    assert env.exit_code == 0 and "torch" in env.stdout and "threads" in env.stdout  # results go to stdout
    listing = cli("ops")
    assert listing.exit_code == 0 and not listing.stderr
    assert "    rate=HZ|auto (default auto): " in listing.stdout and "    steps=int (default 1): " in listing.stdout
    assert "style_mix=float (default 1 with width_from, else 0)" in listing.stdout


def test_python_api_numpy_and_torch(weights_env: Path) -> None:
    import torch

    from reencoder_cli import Pipeline, upmix, upsample

    x = music(1.0, 16000)[0]
    y, rate = upsample(x, 16000, device="cpu")
    assert rate == 44100 and y.shape == (44100,) and isinstance(y, np.ndarray)
    s, _ = upmix(torch.from_numpy(music(1.0, 44100)), 44100, seed=1, device="cpu")
    assert isinstance(s, torch.Tensor) and s.shape == (2, 44100)
    assert Pipeline(device="cpu").run(x[None], 16000, ["upsample"]).wav.shape == (1, 44100)


def test_train_autoencoder_options_reach_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import reencoder_cli.train.autoencoder as ae_training

    seen = {}

    def fake_train(data: Path, run: Path, **kwargs: object) -> Path:
        seen.update(kwargs)
        return run / "autoencoder.safetensors"

    monkeypatch.setattr(ae_training, "train", fake_train)
    args = ["train", "autoencoder", "--run", tmp_path / "r", "--batch", "4", "--gan-start", "7", "--lr", "1e-4"]
    assert cli(*args).exit_code == 0
    assert (seen["config"].batch, seen["config"].gan_start, seen["config"].lr) == (4, 7, 1e-4)
    assert cli("train", "autoencoder", "--run", tmp_path / "r").exit_code == 0
    assert seen["config"].lr == ae_training.AETrainConfig().lr  # the recipe's when not given
