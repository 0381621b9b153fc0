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


class OutputExists(OutputError):
    """The output exists (it may have appeared while the job ran) and may not be replaced."""


class WeightsError(ReencoderError):
    """Weights missing, corrupt (checksum), for another architecture or another autoencoder."""


class LatentFileError(ReencoderError):
    """A ``.latent`` file is malformed or belongs to another autoencoder."""


class DeviceError(UsageError):
    """The requested device does not exist on this machine (a usage error: exit code 2)."""


class DataError(ReencoderError):
    """Training data or a tool to make it is missing (music cache, latent cache, soundfont, fluidsynth)."""


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM, SIGHUP): unwinds like Ctrl-C, so temporaries are removed.

    A ``BaseException``, as ``KeyboardInterrupt`` is: no per-file handler catches it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def about(exc: Exception, *names: str) -> str:
    """``exc``'s message as one line about a file: prefixed with ``names[0]`` unless it already names one of them."""
    message = str(exc)
    return message if message.startswith(names) else f"{names[0]}: {message}"
