"""``--plot``: one PNG per file, of the size ``plots.layout`` gives, whose panels show what changed."""

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import music
from matplotlib.image import imread
from typer.testing import CliRunner

from reencoder_cli.cli import app
from reencoder_cli.eval import plots

runner = CliRunner()


def cli(*args: object) -> "object":
    return runner.invoke(app, [str(a) for a in args])


def panels(png: Path, stereo: bool) -> list[np.ndarray]:
    """The pixels inside each panel of a figure, top to bottom, after checking the figure's size."""
    image = imread(png)[..., :3]  # (H, W, RGB) in [0, 1]
    (width, height), rects = plots.layout(stereo)
    assert image.shape[:2] == (height, width)
    crops = []
    for left, bottom, w, h in rects:
        top, low = round((1 - bottom - h) * height) + 3, round((1 - bottom) * height) - 3  # inside the frame
        crops.append(image[top:low, round(left * width) + 3 : round((left + w) * width) - 3])
    return crops


def differ(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two panels' pixels, on a 0-255 scale."""
    return float(np.abs(a - b).mean() * 255)


def test_upsample_plot_shows_the_new_band(weights_env: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "in.wav", music(2.0, 22050).T, 22050)
    result = cli("upsample", tmp_path / "in.wav", tmp_path / "out.wav", "--plot", tmp_path / "fig.png")
    assert result.exit_code == 0, result.stderr
    assert f"plot {tmp_path / 'fig.png'}" in result.stderr
    before, after = panels(tmp_path / "fig.png", stereo=False)
    assert differ(before, after) > 3
    # above the content band (11.025 kHz, the top half of the 22.05 kHz axis) only the output has sound
    rows = before.shape[0] // 2 - 8
    floor = before[:rows, : before.shape[1] // 2]  # left of the legend
    assert floor.std() < 0.01  # one colour: the bottom of the scale
    assert differ(floor, after[:rows, : after.shape[1] // 2]) > 10


def test_upmix_plots_a_folder_of_figures_with_side_and_width(weights_env: Path, tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "in" / "a.wav", music(1.5, 44100, seed=1).T, 44100)
    sf.write(tmp_path / "in" / "sub" / "b.flac", music(1.0, 44100, seed=2).T, 44100)
    result = cli("upmix", tmp_path / "in", "-r", "-o", tmp_path / "out", "--plot", tmp_path / "figs", "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.relative_to(tmp_path / "figs").as_posix() for p in (tmp_path / "figs").rglob("*")) == [
        "a.png",
        "sub",
        "sub/b.png",
    ]
    source, mid, side, width = panels(tmp_path / "figs" / "a.png", stereo=True)
    assert differ(mid, side) > 3  # the side is its own signal, quieter than the mid
    assert differ(source, side) > 3
    assert width.std() > 0.02  # the width panel holds a curve, not a blank


def test_run_plot_in_a_folder_marks_the_content_band(weights_env: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "in.wav", music(1.5, 16000).T, 16000)
    result = cli(
        "run", tmp_path / "in.wav", tmp_path / "out.wav", "--op", "upsample", "--op", "upmix", "--plot", tmp_path
    )
    assert result.exit_code == 0, result.stderr
    source = panels(tmp_path / "out.png", stereo=True)[0]  # a single output in a folder: named after it
    cyan = (source[..., 0] < 0.3) & (source[..., 1] > 0.7) & (source[..., 2] > 0.7)
    rows = np.flatnonzero(cyan.sum(axis=1) > source.shape[1] // 4)  # the dashed and dotted lines across the panel
    kilohertz = (source.shape[0] - 1 - rows) / (source.shape[0] - 1) * 22.05  # the crop spans about 0-22.05 kHz
    assert len(rows) and np.all(np.abs(kilohertz - 7.8) < 0.6)  # content band 8 kHz, crossover 7.6 kHz


def test_marks_come_from_the_record() -> None:
    from reencoder_cli.batch.jobs import JobResult
    from reencoder_cli.cli.plotting import marks

    done = JobResult(
        "in.wav", "out.wav", "done", in_rate=22050, ops=["upsample:rate=16000"], post_steps=["keep_lowband"]
    )
    assert marks(done) == plots.Marks(8000.0, 0.95 * 8000.0)
    done.post_steps = []
    assert marks(done) == plots.Marks(8000.0, None)
    done.ops = ["upmix"]
    assert marks(done) == plots.Marks()


def test_without_matplotlib_the_option_says_how_to_install_it(
    weights_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sf.write(tmp_path / "in.wav", music(1.0, 22050).T, 22050)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    result = cli("upsample", tmp_path / "in.wav", tmp_path / "out.wav", "--plot", tmp_path / "fig.png")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "reencoder: error: --plot needs matplotlib: pip install 'reencoder[plot]' (in a checkout: pip install -e "
        "'.[plot]')"
    ]
    assert not (tmp_path / "out.wav").exists()  # refused before anything ran


def test_plot_targets_that_cannot_work_are_refused(weights_env: Path, tmp_path: Path) -> None:
    a, b, flac = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "a.flac"
    for path in (a, b, flac):
        sf.write(path, music(1.0, 22050).T, 22050)
    out, figs = tmp_path / "out", tmp_path / "figs"
    for args, message in [
        (["upsample", a, b, "-o", out, "--plot", tmp_path / "fig.png"], "one figure for 2 outputs; give a folder"),
        (["upsample", a, "-", "--plot", figs], "cannot be '-' (stdin/stdout)"),
        (["upsample", a, flac, "-o", out, "--plot", figs], "two outputs differ only in their extension"),
        (["run", a, tmp_path / "a.latent", "--op", "gain:db=1", "--plot", figs], "a.latent is a latent file"),
    ]:
        result = cli(*args)
        assert result.exit_code == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and not figs.exists()


def test_encode_and_decode_have_no_plot(tmp_path: Path) -> None:
    for command in ("encode", "decode"):
        assert cli(command, "in.wav", "out.latent", "--plot", tmp_path).exit_code == 2


def test_pooled_spectrogram_is_the_stft_whatever_the_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of any size give one result; short signals are the plain STFT's power; long ones are
    averaged into between COLUMNS and 2 * COLUMNS columns that keep each frame's weight."""
    rng = np.random.default_rng(0)
    wav = rng.standard_normal((2, 20 * plots.HOP + 100)).astype(np.float32)
    whole = plots.PooledSTFT(2)
    whole.push(wav)
    cut = plots.PooledSTFT(2)
    for piece in np.array_split(wav, [7, 900, 901, 5000], axis=1):
        cut.push(piece)
    power = whole.finish()
    np.testing.assert_allclose(cut.finish(), power, rtol=1e-5)
    frame = wav[:, 3 * plots.HOP : 3 * plots.HOP + plots.N_FFT] * np.hanning(plots.N_FFT)
    np.testing.assert_allclose(power[:, :, 3], np.abs(np.fft.rfft(frame)) ** 2, rtol=1e-4)
    assert power.shape == (2, plots.N_FFT // 2 + 1, 18)  # 17 full frames and the zero-padded rest

    monkeypatch.setattr(plots, "COLUMNS", 4)
    pooled = plots.PooledSTFT(2)
    pooled.push(wav)
    merged = pooled.finish()
    assert 4 <= merged.shape[-1] <= 8
    np.testing.assert_allclose(merged[:, :, 0], power[:, :, :4].mean(axis=-1), rtol=1e-5)  # 4 frames per column


def test_band_width_of_a_panned_source() -> None:
    """A source at levels 0.75 / 0.25 has side / mid = (0.5 / 1)^2: -6 dB in every band it fills."""
    wav = np.random.default_rng(1).standard_normal((1, 44100)).astype(np.float32)
    stft = plots.PooledSTFT(2)
    stft.push(np.concatenate([(0.75 * wav + 0.25 * wav) / 2, (0.75 * wav - 0.25 * wav) / 2]))
    power = stft.finish()
    centres, width = plots.band_width_db(plots.Spectrogram(power[0], power[1], 1.0))
    assert centres[0] < 100 and centres[-1] > 16000
    np.testing.assert_allclose(width, 20 * np.log10(0.5), atol=1e-3)


def test_a_figure_that_cannot_be_written_fails_the_command_not_the_output(weights_env: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "in.wav", music(1.0, 22050).T, 22050)
    (tmp_path / "taken").write_text("a file where the figure's folder should be")
    result = cli("upsample", tmp_path / "in.wav", tmp_path / "out.wav", "--plot", tmp_path / "taken" / "fig.png")
    assert result.exit_code == 1
    assert (tmp_path / "out.wav").exists()  # the audio is done; only the figure failed
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed")]
    assert failed == [f"failed {tmp_path / 'taken' / 'fig.png'}: cannot draw the figure (File exists)"]
