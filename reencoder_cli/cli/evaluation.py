"""Measurement commands: ``reencoder eval`` and ``reencoder bench``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from reencoder_cli.cli.app import app, console, errors_handled, out
from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.defaults import UPMIX_MODEL
from reencoder_cli.errors import UsageError

DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "examples" / "northerners_10s.flac"
"""What ``reencoder eval`` scores when given no references: the shipped example."""


@app.command("eval")
def evaluate(
    refs: Annotated[
        Optional[list[str]], typer.Argument(help="Reference files or folders (default: the shipped example).")
    ] = None,
    task: Annotated[str, typer.Option(help="upsample, upmix, reconstruct or linearity.")] = "upsample",
    rate: Annotated[int, typer.Option("--from", help="upsample: the degraded input rate.")] = 22050,
    models: Annotated[
        Optional[list[str]],
        typer.Option("--model", help="upsample: models to score (default: every shipped one); upmix: the one model."),
    ] = None,
    raw_model: Annotated[Optional[str], typer.Option(help="Raw-audio baseline (default: rawbwe if shipped).")] = None,
    seconds: Annotated[
        Optional[float], typer.Option(help="Clip length (default: whole files, 10 s from the cache).")
    ] = None,
    per_file: Annotated[int, typer.Option(help="Clips per reference file / validation track.")] = 1,
    valid_cache: Annotated[
        Optional[str], typer.Option(help="Use the validation split of this music cache instead of REFS.")
    ] = None,
    style_mix: Annotated[bool, typer.Option(help="upmix: also the --style-mix correlation table.")] = False,
    visqol: Annotated[
        bool, typer.Option(help="Add a ViSQOL column (needs `pip install -e '.[visqol]'`; ~1 s per 4-s clip and row).")
    ] = False,
    markdown_out: Annotated[bool, typer.Option("--markdown", help="Print a markdown table on stdout.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    plot: Annotated[Optional[str], typer.Option(help="Write spectrogram PNGs and a listening page here.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    autoencoder: Annotated[
        str, typer.Option(help="Autoencoder weights: name, path or hf:// (e.g. a training run's export).")
    ] = "autoencoder",
) -> None:
    """Score every system row on references: classical baselines, ceilings, our models."""

    import torch

    from reencoder_cli.dsp import baselines
    from reencoder_cli.engine.pipeline import Pipeline
    from reencoder_cli.eval import evaluate as ev
    from reencoder_cli.eval import reconstruct, report
    from reencoder_cli.eval.metrics import band_metrics, stereo_metrics
    from reencoder_cli.io import audio
    from reencoder_cli.io.weights import shipped

    with errors_handled():
        if task not in ("upsample", "upmix", "reconstruct", "linearity"):
            raise UsageError(f"unknown task {task!r}; use upsample, upmix, reconstruct or linearity")
        if models and task in ("reconstruct", "linearity"):
            raise UsageError("--model applies to upsample and upmix (--autoencoder names the autoencoder)")
        if models and task == "upmix" and len(models) > 1:
            raise UsageError("upmix: give one --model (its rows and the oracle rows are one table)")
        if task == "linearity" and (plot or visqol):
            raise UsageError("--plot and --visqol apply to upsample, upmix and reconstruct")
        if visqol:
            from reencoder_cli.eval.metrics import visqol_available

            if not visqol_available():
                raise UsageError("--visqol needs the visqol-python package: pip install -e '.[visqol]'")
        torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))
        if valid_cache:
            clips = ev.cache_clips(Path(valid_cache), seconds or 10.0, per_file)
        else:
            clips = ev.load_clips(refs or [str(DEFAULT_REFERENCE)], seconds, per_file)
        pipeline = Pipeline(device=device, autoencoder=autoencoder)
        files = shipped()
        by_arch = {
            arch: sorted(Path(n).stem for n, e in files.items() if e.get("arch") == arch)
            for arch in ("bwe", "flow", "rawbwe")
        }
        extra: list[dict[str, float]] = []

        def scored(metric: ev.Metric) -> ev.Metric:
            return ev.with_visqol(metric) if visqol else metric

        learned: list[str] = []  # rows named after these models get their GFLOPs per second of audio
        if task == "upsample":
            chosen = models if models is not None else by_arch["bwe"] + by_arch["flow"]
            raw = raw_model or (by_arch["rawbwe"][0] if by_arch["rawbwe"] else None)
            rows = ev.evaluate_upsample(
                clips, rate, pipeline, chosen, raw, keep_outputs=bool(plot), metric=scored(band_metrics)
            )
            inputs = {c.name: baselines.sinc_upsample(audio.resample(c.wav, SAMPLE_RATE, rate), rate) for c in clips}
            learned = [*chosen, *([raw] if raw else [])]
        elif task == "upmix":
            clips = ev.stereo_clips(clips)  # the clips its rows average over, and the title counts
            model = (models or [UPMIX_MODEL])[0]
            learned = [model]
            rows = ev.evaluate_upmix(clips, pipeline, model, keep_outputs=bool(plot), metric=scored(stereo_metrics))
            inputs = {c.name: audio.to_mono(c.wav) for c in clips}
            if style_mix:
                extra = ev.style_mix_correlation(clips, pipeline, model)
        elif task == "reconstruct":
            rows = reconstruct.evaluate_reconstruct(
                clips, pipeline, keep_outputs=bool(plot), metric=scored(band_metrics)
            )
            inputs = {c.name: audio.to_mono(c.wav) for c in clips}
        else:
            rows, inputs = reconstruct.evaluate_linearity(clips, pipeline), {}
        if learned:
            from reencoder_cli.eval.bench import module_gflops

            gflops = {name: module_gflops(name) for name in learned}
            for row in rows:
                row.gflops = gflops.get(row.system.split(" ")[0], row.gflops)
        seconds_total = sum(c.wav.shape[-1] for c in clips) / SAMPLE_RATE
        title = (
            f"{task}"
            + (f" from {rate} Hz" if task == "upsample" else "")
            + f": {len(clips)} clip{'' if len(clips) == 1 else 's'}, {seconds_total:.0f} s"
        )
        if json_out:
            sys.stdout.write(
                json.dumps({"task": task, "title": title, "rows": report.as_json(rows), "style_mix": extra}) + "\n"
            )
        elif markdown_out:
            sys.stdout.write(report.markdown(rows, title=title))
            if extra:
                sys.stdout.write(
                    "\n| lambda | correlation | mean abs error (dB) |\n|---|---|---|\n"
                    + "".join(
                        f"| {e['lambda']:.2f} | {e['correlation']:.3f} | {e['mean_abs_error_db']:.2f} |\n"
                        for e in extra
                    )
                )
        else:
            out.print(report.rich_table(rows, title=title))
            for e in extra:
                out.print(
                    f"style-mix {e['lambda']:.2f}: correlation {e['correlation']:.3f}, "
                    f"mean abs error {e['mean_abs_error_db']:.2f} dB"
                )
        if plot:
            page = report.write_listening_page(Path(plot), clips, inputs, rows, title)
            console.print(f"listening page: {page}")


@app.command("bench")
def bench(
    models: Annotated[
        Optional[list[str]], typer.Option("--model", help="Weights to measure (default: every shipped one).")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Audio per model measurement.")] = 5.0,
    commands: Annotated[bool, typer.Option(help="Also time upsample/upmix end to end on a generated file.")] = True,
    minutes: Annotated[float, typer.Option(help="Length of that file (BENCHMARKS.md uses 3).")] = 1.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Parameters, GFLOPs per second of audio, real-time factors (CPU, CUDA), peak memory."""
    import dataclasses
    import tempfile

    import numpy as np
    import torch

    from reencoder_cli.eval import bench as b
    from reencoder_cli.io import audio_write
    from reencoder_cli.io.weights import shipped

    with errors_handled():
        names = models or sorted(Path(n).stem for n in shipped())
        if not names:
            raise UsageError("no weights to measure: none shipped and no --model given")
        rows = [row for name in names for row in b.bench_model(name, seconds)]
        command_rows = []
        if commands:
            with tempfile.TemporaryDirectory() as tmp:
                rate, n = 22050, int(minutes * 60 * 22050)
                t = np.arange(n) / rate
                wav = (0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.5 * t)).astype(np.float32)[None]
                audio_write.write_audio(Path(tmp) / "in.wav", np.repeat(wav, 2, 0), rate, "PCM_16")
                for args in (
                    ["upsample", f"{tmp}/in.wav", f"{tmp}/up.wav"],
                    ["upmix", f"{tmp}/up.wav", f"{tmp}/st.wav"],
                    ["run", f"{tmp}/in.wav", f"{tmp}/both.wav", "--op", "upsample", "--op", "upmix"],
                ):
                    try:
                        command_rows.append(b.bench_command(args, minutes * 60))
                    except Exception as exc:  # a command whose weights are missing: report, go on
                        console.print(f"skipped {' '.join(args[:1])}: {exc}")
        threads = torch.get_num_threads()
        if json_out:
            sys.stdout.write(
                json.dumps(
                    {
                        "threads": threads,
                        "models": [dataclasses.asdict(r) for r in rows],
                        "commands": [dataclasses.asdict(r) for r in command_rows],
                    }
                )
                + "\n"
            )
            return
        from rich.table import Table

        table = Table(
            "model",
            "part",
            "params (M)",
            "GFLOPs/s",
            f"CPU x real time ({threads} threads)",
            "CUDA x real time",
            "CUDA peak MB",
            title="models",
        )
        for r in rows:
            table.add_row(
                r.name,
                r.part,
                f"{r.params_m:.2f}",
                f"{r.gflops_per_s:.2f}",
                f"{r.rtf_cpu:.0f}",
                f"{r.rtf_cuda:.0f}" if r.rtf_cuda else "-",
                f"{r.peak_mb:.0f}" if r.peak_mb else "-",
            )
        out.print(table)
        if command_rows:
            table = Table(
                "command",
                "audio s",
                "wall s",
                "x real time",
                "peak RSS MB",
                title=f"end to end on a {minutes:g}-minute stereo 22.05 kHz file",
            )
            for c in command_rows:
                table.add_row(
                    c.command.split(" ")[1],
                    f"{c.audio_seconds:.0f}",
                    f"{c.wall_seconds:.1f}",
                    f"{c.realtime_factor:.1f}",
                    f"{c.peak_rss_mb:.0f}",
                )
            out.print(table)
