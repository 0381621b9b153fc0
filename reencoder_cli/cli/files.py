"""File commands: upsample, upmix, run, encode, decode, mix, ops."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from reencoder_cli.cli.app import app, console, errors_handled, out
from reencoder_cli.cli.batch import run_batch
from reencoder_cli.cli.options import JobOptions, OpArg, PathsArg, job_command
from reencoder_cli.cli.plotting import PlotOption
from reencoder_cli.defaults import (
    UPMIX_MIN_SIDE_DB,
    UPMIX_MIN_SIDE_HELP,
    UPMIX_MODEL,
    UPMIX_SIDE,
    UPMIX_SIDE_HELP,
    UPMIX_TEMPERATURE,
    UPMIX_TEMPERATURE_HELP,
    UPSAMPLE_HELP,
    UPSAMPLE_MODEL,
)
from reencoder_cli.errors import UsageError


def _sentence(text: str) -> str:
    """An op parameter's help as an option's: capital first letter, full stop."""
    return text[0].upper() + text[1:] + "."


@app.command()
@job_command
def upsample(
    paths: PathsArg = None,
    from_rate: Annotated[
        Optional[str],
        typer.Option(
            "--from-rate",
            help="Rate in Hz the content was band-limited to; 'auto' (the default) detects it from the "
            "spectrum, 0 takes the file's rate.",
        ),
    ] = None,
    model: Annotated[str, typer.Option(help=UPSAMPLE_HELP + ".")] = UPSAMPLE_MODEL,
    steps: Annotated[int, typer.Option(help="Euler steps (flow models).")] = 1,
    keep_lowband: Annotated[
        bool, typer.Option(help="Keep the input below its Nyquist; the model adds only the band above.")
    ] = True,
    plot: PlotOption = None,
    *,
    opts: JobOptions,
) -> None:
    """Bandwidth extension to 44.1 kHz: upsample IN OUT."""
    from reencoder_cli.engine.ops import make_op

    spec = make_op("upsample", model=model, rate=from_rate, steps=steps)
    run_batch(paths, opts, [spec], "upsample", None, keep_lowband=keep_lowband, plot=plot)


@app.command()
@job_command
def upmix(
    paths: PathsArg = None,
    width_from: Annotated[
        Optional[str], typer.Option("--width-from", help="Borrow the stereo image of this stereo file.")
    ] = None,
    style_mix: Annotated[
        Optional[float], typer.Option("--style-mix", help="0 = random image (--seed), 1 = the reference's.")
    ] = None,
    model: Annotated[str, typer.Option(help="stereo-s or a weights path.")] = UPMIX_MODEL,
    keep_mid: Annotated[
        bool, typer.Option(help="Make (L+R)/2 equal the input exactly; the model adds only the side.")
    ] = True,
    side: Annotated[str, typer.Option(help=_sentence(UPMIX_SIDE_HELP))] = UPMIX_SIDE,
    min_side: Annotated[float, typer.Option(help=_sentence(UPMIX_MIN_SIDE_HELP))] = UPMIX_MIN_SIDE_DB,
    temperature: Annotated[float, typer.Option(help=_sentence(UPMIX_TEMPERATURE_HELP))] = UPMIX_TEMPERATURE,
    plot: PlotOption = None,
    *,
    opts: JobOptions,
) -> None:
    """Mono to stereo with a random (seeded) or borrowed stereo image: upmix IN OUT."""
    from reencoder_cli.engine.ops import make_op

    spec = make_op(
        "upmix",
        model=model,
        side=side,
        min_side=min_side,
        temperature=temperature,
        width_from=width_from,
        style_mix=style_mix,
    )
    ext = "wav" if opts.format is None else None
    run_batch(paths, opts, [spec], "upmix", ext, keep_mid=keep_mid, plot=plot)


@app.command("run")
@job_command
def run_chain(
    paths: PathsArg = None,
    op: OpArg = None,
    keep_lowband: Annotated[bool, typer.Option(help="With upsample: keep the input below its Nyquist.")] = True,
    keep_mid: Annotated[bool, typer.Option(help="With upmix: make (L+R)/2 equal the input.")] = True,
    plot: PlotOption = None,
    *,
    opts: JobOptions,
) -> None:
    """A chain of ops, one encode and one decode: run IN OUT --op upsample --op upmix:seed=3."""
    from reencoder_cli.engine.ops import parse_op

    if not op:
        raise UsageError("give at least one --op (e.g. --op upsample); see `reencoder ops`")
    specs = [parse_op(text) for text in op]
    run_batch(paths, opts, specs, "+".join(s.name for s in specs), None, keep_lowband, keep_mid, plot)


@app.command()
@job_command
def encode(paths: PathsArg = None, op: OpArg = None, *, opts: JobOptions) -> None:
    """Audio to a .latent file (optionally after ops): encode IN OUT.latent."""
    from reencoder_cli.engine.ops import parse_op

    run_batch(paths, opts, [parse_op(t) for t in op or []], "encode", "latent")


@app.command()
@job_command
def decode(paths: PathsArg = None, op: OpArg = None, *, opts: JobOptions) -> None:
    """A .latent file to audio (optionally after ops): decode IN.latent OUT.wav."""
    from reencoder_cli.engine.ops import parse_op

    run_batch(paths, opts, [parse_op(t) for t in op or []], "decode", None)


@app.command()
def mix(
    paths: Annotated[list[str], typer.Argument(help="INPUT INPUT... OUTPUT")],
    weight: Annotated[
        Optional[list[float]], typer.Option("--weight", "-w", help="One weight per input (default 1).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    autoencoder: Annotated[str, typer.Option(help="Autoencoder weights.")] = "autoencoder",
    subtype: Annotated[
        Optional[str], typer.Option(help="PCM_16, PCM_24 or FLOAT (default: the first input's precision).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
) -> None:
    """Mix inputs as latent arithmetic (one decode): mix a.wav b.wav out.wav."""
    with errors_handled():
        from reencoder_cli.batch import jobs
        from reencoder_cli.engine.pipeline import Pipeline
        from reencoder_cli.io import audio_write
        from reencoder_cli.io.latentfile import Latent
        from reencoder_cli.models import arith

        if len(paths) < 3:
            raise UsageError("give at least two inputs and one output")
        *inputs, output = paths
        if weight and len(weight) != len(inputs):
            raise UsageError(f"{len(inputs)} inputs but {len(weight)} --weight values")
        for source in inputs:
            jobs.check_output(jobs.Job(source, output), overwrite, False)
        pipeline = Pipeline(autoencoder, device)
        latents = [pipeline.encode_file(p) for p in inputs]
        channels = max(lat.channels for lat in latents)
        zs = [lat.z.expand(channels, -1, -1) for lat in latents]
        z = arith.mix(zs, weight)
        length = max(lat.length for lat in latents)
        meta = latents[0].meta  # precision and tags of the first input, as sox -m does
        wav = pipeline.decode(
            Latent(z, length, pipeline.ae.sample_rate, pipeline.ae_id, meta=meta, hop=pipeline.ae.hop)
        )
        written = audio_write.write_audio(output, wav, pipeline.ae.sample_rate, subtype, meta=meta)
        console.print(
            f"mixed {len(inputs)} inputs -> {output}"
            + (f" ({written.clipped_samples} samples limited)" if written.clipped_samples else ""),
            markup=False,
        )


@app.command()
def ops() -> None:
    """List the ops usable with --op and their parameters."""
    from reencoder_cli.engine.ops import OPS

    for name, definition in OPS.items():
        out.print(f"[bold]{name}[/]: {definition.help}")
        for key, param in definition.params.items():
            out.print(f"    {key}={param.describe()}: {param.help}", markup=False)
