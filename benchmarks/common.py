"""Shared by the benchmark scripts: full-size models with random weights in a temporary folder.

Speed and memory do not depend on the weights' values, so benchmarks of the pipeline run
before (or without) the trained files.
"""

from __future__ import annotations

from pathlib import Path


def full_size_weights(folder: Path) -> Path:
    """Random full-size autoencoder and S modules, tied together, with a manifest; returns ``folder``."""
    from reencoder_cli.autoencoder import Autoencoder, AutoencoderConfig
    from reencoder_cli.bwe import BWEConfig, LatentBWE
    from reencoder_cli.stereo import LatentUpmix, StereoConfig
    from reencoder_cli.weights import AEId, save_model, update_manifest

    folder.mkdir(parents=True, exist_ok=True)
    sha = save_model(folder / "autoencoder.safetensors", Autoencoder(), "autoencoder", AutoencoderConfig())
    ae = AEId("autoencoder", sha)
    save_model(folder / "bwe-s.safetensors", LatentBWE(), "bwe", BWEConfig(), autoencoder=ae)
    save_model(folder / "stereo-s.safetensors", LatentUpmix(), "stereo", StereoConfig(), autoencoder=ae)
    update_manifest(folder)
    return folder
