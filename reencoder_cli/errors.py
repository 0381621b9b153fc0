"""Typed exceptions. The library raises these; only ``cli`` turns them into a line on stderr."""


class ReencoderError(Exception):
    """Base class: every error a user can act on. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UsageError(ReencoderError):
    """The command line or an argument is wrong (bad op spec, bad option value)."""

    exit_code = 2


class AudioError(ReencoderError):
    """An input cannot be read or holds audio we refuse (empty, NaN/Inf, too many channels)."""


class OutputError(ReencoderError):
    """An output cannot be written (exists, would overwrite an input, folder missing)."""


class WeightsError(ReencoderError):
    """Weights missing, corrupt (checksum), for another architecture or another autoencoder."""


class LatentFileError(ReencoderError):
    """A ``.latent`` file is malformed or belongs to another autoencoder."""


class DeviceError(ReencoderError):
    """The requested device does not exist on this machine."""


class DataError(ReencoderError):
    """Training data or a tool to make it is missing (music cache, latent cache, soundfont, fluidsynth)."""


def about(exc: Exception, *names: str) -> str:
    """``exc``'s message as one line about a file: prefixed with ``names[0]`` unless it already names one of them."""
    message = str(exc)
    return message if message.startswith(names) else f"{names[0]}: {message}"
