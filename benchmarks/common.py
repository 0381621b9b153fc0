"""Shared by the benchmark scripts: full-size models with random weights in a temporary folder
(speed and memory do not depend on the weights' values, so benchmarks of the pipeline run
before, or without, the trained files), and the options and inputs of the scripts that
score the autoencoder on validation clips.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def full_size_weights(folder: Path) -> Path:
    """Random full-size autoencoder and S modules, tied together, with a manifest; returns ``folder``."""
    from reencoder_cli.io.modelfile import AEId, save_model
    from reencoder_cli.io.weights import update_manifest
    from reencoder_cli.models.autoencoder import Autoencoder, AutoencoderConfig
    from reencoder_cli.models.bwe import BWEConfig, LatentBWE
    from reencoder_cli.models.stereo import LatentUpmix, StereoConfig

    folder.mkdir(parents=True, exist_ok=True)
    sha = save_model(folder / "autoencoder.safetensors", Autoencoder(), "autoencoder", AutoencoderConfig())
    ae = AEId("autoencoder", sha)
    save_model(folder / "bwe-s.safetensors", LatentBWE(), "bwe", BWEConfig(), autoencoder=ae)
    save_model(folder / "stereo-s.safetensors", LatentUpmix(), "stereo", StereoConfig(), autoencoder=ae)
    update_manifest(folder)
    return folder


def clip_parser(doc: str) -> argparse.ArgumentParser:
    """Options of a script scoring an autoencoder on validation clips: --weights, --cache, --clips, --seconds."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--weights", default="autoencoder", help="weights name or path")
    parser.add_argument("--cache", default="data/cache", help="music cache (validation split)")
    parser.add_argument("--clips", type=int, default=21)
    parser.add_argument("--seconds", type=float, default=10.0)
    return parser


def autoencoder_and_clips(args: argparse.Namespace) -> tuple[object, list[object]]:
    """The autoencoder of ``args.weights`` (float32, eval mode) and the first ``args.clips`` validation clips."""
    from reencoder_cli.eval.evaluate import cache_clips
    from reencoder_cli.io.weights import load_model
    from reencoder_cli.models.registry import model_factories

    ae = load_model(args.weights, model_factories(), expect_arch="autoencoder")[0].float().eval()
    return ae, cache_clips(Path(args.cache), args.seconds, 1)[: args.clips]
