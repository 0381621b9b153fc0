"""Evaluation and benchmarks: FLOP counting, system rows, tables, the listening page."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import TINY_AE, music
from tools import need_program
from typer.testing import CliRunner

from reencoder_cli.cli import app
from reencoder_cli.defaults import UPMIX_MIN_SIDE_DB
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.eval import evaluate as ev
from reencoder_cli.eval import metrics, reconstruct, report
from reencoder_cli.eval.bench import count_flops, module_gflops
from reencoder_cli.io.modelfile import save_model
from reencoder_cli.models.autoencoder import Autoencoder
from reencoder_cli.models.bwe import BWEConfig, LatentBWE

runner = CliRunner()


def test_flops_of_small_modules_equal_hand_computation() -> None:
    linear = torch.nn.Linear(64, 128)
    x = torch.randn(1, 100, 64)
    assert count_flops(lambda: linear(x)) == 2 * 64 * 128 * 100
    conv = torch.nn.Conv1d(8, 16, 5, padding=2)
    y = torch.randn(1, 8, 50)
    assert count_flops(lambda: conv(y)) == 2 * 8 * 16 * 5 * 50


def test_bwe_flops_match_the_architecture() -> None:
    """Per frame: 1x1 in/out projections, and per block a depthwise conv and the two MLP layers."""
    cfg = BWEConfig()
    model = LatentBWE(cfg)
    frames = 431
    z, rate = torch.randn(1, cfg.latent_dim, frames), model.rate_tensor(16000, 1)
    per_frame = 2 * (2 * cfg.latent_dim * cfg.dim + cfg.blocks * (cfg.dim * cfg.kernel + 2 * cfg.dim * cfg.hidden))
    conditions = 2 * cfg.blocks * cfg.cond_dim * 2 * cfg.dim + 2 * cfg.cond_dim * 2 * cfg.dim  # AdaLN, once per clip
    assert count_flops(lambda: model(z, rate)) == per_frame * frames + conditions
    gflops = (per_frame * frames + conditions) / (frames * 1024 / 44100) / 1e9
    assert 0.3 < gflops <= 0.4  # the S budget of the issue


def clips() -> list[ev.Clip]:
    return [ev.Clip(f"c{i}", music(2.0, 44100, channels=2, seed=i)) for i in range(2)]


def test_upsample_rows_and_noise_fill_choice(weights_env: Path) -> None:
    rows = ev.evaluate_upsample(clips(), 16000, Pipeline(device="cpu"), ["bwe-s"])
    names = [r.system for r in rows]
    assert names[:3] == ["AE reconstruction (ceiling)", "sinc only", names[2]] and names[2].startswith(
        "sinc + noise fill"
    )
    assert "bwe-s + keep-lowband" in names and "bwe-s (pure latent)" in names
    by = {r.system: r.metrics for r in rows}
    # keep-lowband: the low band is the input, so it scores like sinc there, far better than the random model alone
    assert by["bwe-s + keep-lowband"]["stft_low"] < by["bwe-s (pure latent)"]["stft_low"]
    assert all(np.isfinite(v) for m in by.values() for v in m.values())


def test_upmix_rows_dual_mono_has_the_worst_side(weights_env: Path) -> None:
    rows = ev.evaluate_upmix(clips(), Pipeline(device="cpu"), "stereo-s")
    by = {r.system: r.metrics for r in rows}
    assert by["dual mono"]["side_stft"] > by["AE reconstruction (ceiling)"]["side_stft"]
    for style in ("random", "oracle"):
        assert {f"stereo-s {style} style + keep-mid, {side} side" for side in ("decoded", "parametric")} <= set(by)
    # keep-mid keeps the input as the mid; the decoded side stays as it was, the parametric one does not
    kept = by["AE of L and R + keep-mid, decoded side (ceiling)"]
    parametric = by["AE of L and R + keep-mid, parametric side (ceiling)"]
    assert max(kept["mid_stft"], parametric["mid_stft"]) < 1e-3
    assert by["AE of the side + keep-mid (side-latent design)"]["mid_stft"] < 1e-3
    assert by[f"quadrature ambience at {UPMIX_MIN_SIDE_DB:g} dB (classical)"]["mid_stft"] < 1e-3
    assert kept["side_stft"] == pytest.approx(by["AE reconstruction (ceiling)"]["side_stft"], rel=1e-4)
    assert parametric["side_stft"] != pytest.approx(kept["side_stft"], rel=1e-3)


def test_linearity_rows(weights_env: Path) -> None:
    two_tracks = [ev.Clip(f"t{i}_0", music(2.0, 44100, channels=2, seed=i)) for i in range(2)]
    rows = reconstruct.evaluate_linearity(two_tracks, Pipeline(device="cpu"), gains=(0.5,))
    assert [r.system for r in rows] == [
        "D(E(x)) vs x",
        "D(0.5 E(x)) vs 0.5 x",
        "D(E(a) + w E(b)) vs a + w b (two tracks, b at -12 to 0 dB)",
        "D(E(a + w b)) vs a + w b",
    ]
    values = [v for r in rows for v in r.metrics.values()]
    assert values and np.isfinite(values).all() and min(r.metrics["stft"] for r in rows) > 0
    # the autoencoder is gain-shape, so exactly homogeneous: half the latent decodes to half the audio
    plain, half = rows[0].metrics, rows[1].metrics
    assert all(abs(half[k] - plain[k]) <= 0.01 * plain[k] for k in ("stft", "mel", "lsd")), (plain, half)
    ratio = rows[2].metrics["mel"] / rows[3].metrics["mel"]
    assert rows[2].note == f"mel-D {ratio:.2f}x the reconstruction of the same mixtures"
    assert rows[2].note in report.markdown(rows)


def test_additivity_pairs_other_tracks() -> None:
    names = ["a_0", "a_1", "b_0", "c_0"]
    found = [reconstruct.partner_of([ev.Clip(n, np.zeros((1, 4))) for n in names], i) for i in range(4)]
    assert found == [2, 2, 3, 0]  # a_0 skips its own track's a_1; c_0 wraps round to a_0
    assert reconstruct.partner_of([ev.Clip(n, np.zeros((1, 4))) for n in ("a_0", "a_1")], 0) is None


def test_eval_cli_markdown_json_and_listening_page(weights_env: Path, tmp_path: Path) -> None:
    ref = tmp_path / "ref.wav"
    sf.write(ref, music(1.5, 44100, channels=2).T, 44100)
    md = runner.invoke(
        app, ["eval", str(ref), "--from", "16000", "--model", "bwe-s", "--markdown", "--plot", str(tmp_path / "page")]
    )
    assert md.exit_code == 0, md.stderr
    assert md.stdout.startswith("**upsample from 16000 Hz") and "| sinc only |" in md.stdout
    page = tmp_path / "page" / "index.html"
    assert page.stat().st_size > 0 and "<audio" in page.read_text()
    pngs = list((tmp_path / "page").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 1000
    mono = music(1.5, 44100, seed=9)
    sf.write(tmp_path / "dual-mono.wav", np.concatenate([mono, mono]).T, 44100)  # no image: not scored
    out = runner.invoke(app, ["eval", str(ref), str(tmp_path / "dual-mono.wav"), "--task", "upmix", "--json"])
    assert out.exit_code == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["task"] == "upmix" and {r["system"] for r in record["rows"]} >= {"dual mono"}
    assert record["title"] == "upmix: 1 clip, 2 s"  # the clips scored, not the files given
    gflops = {r["system"]: r["gflops"] for r in record["rows"]}
    assert gflops["dual mono"] is None
    assert all(v > 0 for k, v in gflops.items() if k.startswith("stereo-s")) and len(gflops) > 3


def test_bench_cli(weights_env: Path) -> None:
    result = runner.invoke(app, ["bench", "--model", "bwe-s", "--seconds", "2", "--no-commands", "--json"])
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)["models"][0]
    assert row["arch"] == "bwe" and row["gflops_per_s"] > 0 and row["rtf_cpu"] > 0
    assert module_gflops("bwe-s", 2.0) == pytest.approx(row["gflops_per_s"], rel=1e-6)


def test_eval_default_reference_is_the_shipped_example() -> None:
    from reencoder_cli.cli.evaluation import DEFAULT_REFERENCE

    assert DEFAULT_REFERENCE.is_file()


def test_eval_visqol_column(weights_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = tmp_path / "ref.wav"
    sf.write(ref, music(1.5, 44100, channels=2).T, 44100)
    args = ["eval", str(ref), "--task", "reconstruct", "--visqol", "--json"]
    with monkeypatch.context() as patched:
        patched.setattr("reencoder_cli.eval.metrics.visqol_available", lambda: False)
        missing = runner.invoke(app, args)
    assert missing.exit_code == 2 and "pip install -e '.[visqol]'" in missing.stderr  # brackets survive rich markup
    if not metrics.visqol_available():
        pytest.skip("optional: pip install -e '.[visqol]'")
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.stderr
    scores = {r["system"]: r["metrics"]["visqol"] for r in json.loads(out.stdout)["rows"]}
    assert all(1.0 <= v <= 5.0 for v in scores.values())
    need_program("opusenc", "Debian package opus-tools")
    assert scores["Opus 96 kbps"] > scores["Opus 32 kbps"]  # more bits, better score


def test_eval_scores_the_autoencoder_it_is_given(weights_env: Path, tmp_path: Path) -> None:
    ref = tmp_path / "ref.wav"
    sf.write(ref, music(1.5, 44100).T, 44100)
    other = tmp_path / "other.safetensors"
    torch.manual_seed(1)
    save_model(other, Autoencoder(TINY_AE), "autoencoder", TINY_AE)
    args = ["eval", str(ref), "--task", "reconstruct", "--json"]
    shipped, given = (runner.invoke(app, [*args, *extra]) for extra in ([], ["--autoencoder", str(other)]))
    assert shipped.exit_code == 0 and given.exit_code == 0, given.stderr

    def row(result: object) -> dict:
        """The autoencoder's own reconstruction row."""
        return json.loads(result.stdout)["rows"][0]  # type: ignore[attr-defined]

    assert row(shipped)["system"] == row(given)["system"] and row(shipped) != row(given)
    # modules are tied to the autoencoder they were trained on: a clear refusal, not wrong numbers
    upsample = ["eval", str(ref), "--from", "16000", "--model", "bwe-s", "--autoencoder", str(other)]
    mismatch = runner.invoke(app, upsample)
    assert mismatch.exit_code == 1 and "Traceback" not in mismatch.stderr
    assert "autoencoder" in mismatch.stderr


def test_upmix_scores_only_clips_with_a_stereo_image() -> None:
    left = music(1.0, 44100, channels=1, seed=0)
    other = music(1.0, 44100, channels=1, seed=1)
    clips = [
        ev.Clip("dual-mono", np.concatenate([left, left])),  # side exactly 0: nothing to score
        ev.Clip("mono", left),
        ev.Clip("narrow", np.concatenate([left, left + 0.05 * other])),  # side about -32 dB re mid
        ev.Clip("wide", np.concatenate([left, other])),
    ]
    assert [c.name for c in ev.stereo_clips(clips)] == ["narrow", "wide"]
