"""The model registry: every architecture a weights file may hold, by the arch name it stores."""

from __future__ import annotations

from reencoder_cli.io.weights import Factories
from reencoder_cli.models import autoencoder, bwe, flow, rawbwe, stereo


def model_factories() -> Factories:
    """Every model family the package can load: arch -> (config class, constructor)."""
    return {
        autoencoder.ARCH: (autoencoder.AutoencoderConfig, autoencoder.Autoencoder),
        bwe.ARCH: (bwe.BWEConfig, bwe.LatentBWE),
        flow.ARCH: (flow.FlowConfig, flow.LatentFlow),
        stereo.ARCH: (stereo.StereoConfig, stereo.LatentUpmix),
        rawbwe.ARCH: (rawbwe.RawBWEConfig, rawbwe.RawBWE),
    }
