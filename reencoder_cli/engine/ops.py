"""The op registry: latent operations usable alone or chained (``--op NAME[:k=v,...]``).

An op maps a ``Latent`` to a ``Latent``. Specs are parsed and validated (names, keys,
types, ranges) before any audio is read. Ops that need models or other files get them
through a ``Runner`` (the pipeline), so this module stays free of I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.defaults import (
    UPMIX_MIN_SIDE_DB,
    UPMIX_MIN_SIDE_HELP,
    UPMIX_MODEL,
    UPMIX_SIDE,
    UPMIX_SIDE_HELP,
    UPMIX_SIDES,
    UPMIX_TEMPERATURE,
    UPMIX_TEMPERATURE_HELP,
    UPSAMPLE_HELP,
    UPSAMPLE_MODEL,
)
from reencoder_cli.errors import UsageError
from reencoder_cli.io.latentfile import Latent
from reencoder_cli.models import arith
from reencoder_cli.models.bwe import LatentBWE, rate_index
from reencoder_cli.models.flow import LatentFlow
from reencoder_cli.models.stereo import LatentUpmix


class Runner(Protocol):
    """What ops need from the pipeline."""

    device: torch.device

    def module(self, name: str, archs: tuple[str, ...]) -> tuple[nn.Module, str]:
        """A loaded latent module and its arch."""
        ...

    def map_frames(self, fn: Callable[..., Tensor], tensors: list[Tensor], context: int) -> Tensor:
        """``fn`` over frame chunks (with context) of tensors shaped (B, *, F)."""
        ...

    def encode_file(self, path: str) -> Latent:
        """Read, resample and encode another audio file (or load a ``.latent``)."""
        ...


AUTO_RATE = -1  # upsample:rate=auto, replaced by the rate detected from the input's spectrum


def rate_or_auto(value: str) -> int:
    """An input rate in Hz, or ``auto`` (``AUTO_RATE``)."""
    return AUTO_RATE if value.strip().lower() == "auto" else int(value)


def with_detected_rate(specs: Sequence[OpSpec], detected: int, source_rate: int) -> tuple[list[OpSpec], str | None]:
    """``specs`` with every ``upsample:rate=auto`` given the ``detected`` rate, and a note when
    the content is band-limited below the file's rate.

    Raises:
        UsageError: nothing detected in a file already at 44.1 kHz or more: no band to extend.
    """
    if detected >= source_rate and source_rate >= SAMPLE_RATE:
        raise UsageError(
            f"upsample: no band limit found in the spectrum below {source_rate // 2} Hz, so there is no band "
            "to extend (pass --from-rate RATE to name one)"
        )
    resolved = [replace(s, params={**s.params, "rate": detected}) if _rate_is_auto(s) else s for s in specs]
    if detected < source_rate:
        return resolved, f"content band-limited to {detected // 2} Hz: upsampling from {detected} Hz"
    return resolved, None


def input_rate(spec: OpSpec, source_rate: int) -> int:
    """The rate an ``upsample`` op extends from: its ``rate``, or the file's (0, or ``auto`` never resolved)."""
    return source_rate if spec.params["rate"] in (0, AUTO_RATE) else int(spec.params["rate"])


def wants_detection(specs: Sequence[OpSpec]) -> bool:
    """Whether an op asks for the input's content rate (``upsample:rate=auto``)."""
    return any(_rate_is_auto(s) for s in specs)


def _rate_is_auto(spec: OpSpec) -> bool:
    return spec.name == "upsample" and spec.params["rate"] == AUTO_RATE


@dataclass(frozen=True)
class Param:
    """One ``k=v`` parameter of an op."""

    kind: Callable[[str], Any]  # converts the text given: int, float, str or rate_or_auto
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    is_file: bool = False  # names an input file, checked before any model loads
    usage: str = ""  # how a value is written, as ``reencoder ops`` shows it (default: the kind's name)
    default_usage: str = ""  # the default as a user would write it (default: its repr)

    def describe(self) -> str:
        """``TYPE (default D)``, as a user writes them."""
        return f"{self.usage or self.kind.__name__} (default {self.default_usage or repr(self.default)})"


@dataclass(frozen=True)
class OpSpec:
    """A parsed, validated op: its name and every parameter (defaults filled in)."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        given = [f"{k}={v}" for k, v in self.params.items() if v is not None and v != OPS[self.name].params[k].default]
        return self.name + (":" + ",".join(given) if given else "")

    def files(self) -> tuple[str, ...]:
        """The input files this op reads besides its input (``width_from``, ``with``), when given."""
        return tuple(v for k, v in self.params.items() if OPS[self.name].params[k].is_file and v)

    def models(self) -> tuple[str, ...]:
        """The weights this op loads: its ``model``, if it has one."""
        return (self.params["model"],) if "model" in self.params else ()


@dataclass(frozen=True)
class OpDef:
    """An op: help text, parameters, and the function that applies it."""

    help: str
    params: dict[str, Param]
    apply: Callable[[Latent, Mapping[str, Any], Runner, int], Latent]
    mono_input: bool = False
    archs: tuple[str, ...] = ()  # model families its ``model`` parameter may name
    check: Callable[[Mapping[str, Any]], None] | None = None  # refuses parameters that do not go together


def parse_op(text: str) -> OpSpec:
    """Parse ``NAME[:k=v,...]`` into a validated ``OpSpec``.

    Raises:
        UsageError: unknown op or parameter, a value of the wrong type or out of range.
    """
    name, _, rest = text.partition(":")
    name = name.strip()
    if name not in OPS:
        raise UsageError(f"unknown op {name!r}; available: {', '.join(sorted(OPS))}")
    definition = OPS[name]
    values: dict[str, object] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in definition.params:
            known = ", ".join(definition.params) or "none"
            raise UsageError(f"op {name}: bad parameter {item!r} (expected k=v; parameters: {known})")
        values[key] = value.strip()
    return make_op(name, **values)


def make_op(name: str, **values: object) -> OpSpec:
    """An ``OpSpec`` from Python values (None: the parameter's default), checked as ``parse_op``
    checks text; a file name may hold any character (no ``k=v`` splitting).

    Raises:
        UsageError: unknown op or parameter, a value of the wrong type or out of range.
    """
    if name not in OPS:
        raise UsageError(f"unknown op {name!r}; available: {', '.join(sorted(OPS))}")
    definition = OPS[name]
    params = {k: p.default for k, p in definition.params.items()}
    for key, value in values.items():
        if key not in definition.params:
            raise UsageError(f"op {name}: no parameter {key!r} (parameters: {', '.join(definition.params)})")
        if value is not None:
            params[key] = _convert(name, key, str(value), definition.params[key])
    if definition.check is not None:
        definition.check(params)
    return OpSpec(name, params)


def model_of(op: str) -> str | None:
    """The weights an op of a latent's history (``name:k=v,...``) names: None for ops without, or unknown here."""
    try:
        return parse_op(op).params.get("model")
    except UsageError:  # a .latent file's history from another version
        return None


def _convert(op: str, key: str, value: str, param: Param) -> Any:
    try:
        converted = param.kind(value)
    except ValueError:
        raise UsageError(f"op {op}: {key}={value!r} is not a valid {param.kind.__name__}") from None
    if isinstance(converted, float) and math.isnan(converted):
        raise UsageError(f"op {op}: {key}={value!r} is not a number")
    if isinstance(converted, (int, float)) and (
        (param.low is not None and converted < param.low) or (param.high is not None and converted > param.high)
    ):
        low, high = ("-inf" if param.low is None else param.low), ("inf" if param.high is None else param.high)
        raise UsageError(f"op {op}: {key}={value} is outside [{low}, {high}]")
    if param.choices and converted not in param.choices:
        raise UsageError(f"op {op}: {key}={value!r} is not one of {', '.join(param.choices)}")
    return converted


# -- the ops --------------------------------------------------------------------------------


def _upsample(latent: Latent, p: Mapping[str, Any], runner: Runner, seed: int) -> Latent:
    rate = input_rate(OpSpec("upsample", p), latent.source_rate)  # auto on a latent: its recorded rate
    if rate >= latent.sample_rate:
        raise UsageError(
            f"upsample: the input is already {rate} Hz, there is no band to extend; "
            "pass --from-rate (op parameter rate=) if its content is band-limited"
        )
    p = {**p, "rate": rate}  # the history names the rate it ran from
    model, _ = runner.module(p["model"], OPS["upsample"].archs)
    z = latent.z.to(runner.device)
    if isinstance(model, LatentBWE):
        try:
            rates = model.rate_tensor(rate, z.shape[0], runner.device)
        except ValueError as exc:
            raise UsageError(f"upsample: {exc}") from None
        out = runner.map_frames(lambda x: model(x, rates), [z], model.context_frames)
    else:
        assert isinstance(model, LatentFlow)  # the op's archs are these two
        try:
            index = torch.full((z.shape[0],), rate_index(model.config.rates, rate), device=runner.device)
        except ValueError as exc:
            raise UsageError(f"upsample: {exc}") from None
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(p["seed"] if p["seed"] >= 0 else seed))
        steps = p["steps"]
        out = runner.map_frames(
            lambda x, n: model.sample(x, index, n, steps), [z, noise.to(runner.device)], model.context_frames
        )
    return latent.with_z(out.cpu(), str(OpSpec("upsample", p)))


def style_mix(p: Mapping[str, Any]) -> float:
    """An upmix op's share of the reference's style: as given, else 1 with ``width_from`` and 0 without."""
    return float(p["style_mix"]) if p["style_mix"] is not None else (1.0 if p["width_from"] else 0.0)


def _upmix(latent: Latent, p: Mapping[str, Any], runner: Runner, seed: int) -> Latent:
    if latent.channels != 1:
        raise UsageError("upmix: the input must be mono (downmix it first)")
    model, _ = runner.module(p["model"], OPS["upmix"].archs)
    assert isinstance(model, LatentUpmix)  # the op's one arch
    mix = style_mix(p)
    style = model.random_style(1, p["seed"] if p["seed"] >= 0 else seed, p["temperature"], runner.device)
    if p["width_from"]:
        ref = runner.encode_file(p["width_from"])
        if ref.channels != 2:
            raise UsageError(f"upmix: width_from {p['width_from']} is mono; it must be a stereo file")
        z_lr = ref.z.to(runner.device).reshape(1, -1, ref.z.shape[-1])  # (1, 2D, F)
        pooled = runner.map_frames(model.style.frames, [z_lr], model.style.backbone.receptive_field)
        ref_style = pooled.mean(dim=-1).chunk(2, dim=-1)[0]
        style = (1 - mix) * style + mix * ref_style
    z = latent.z.to(runner.device)
    out = runner.map_frames(lambda x: model(x, style), [z], model.context_frames)  # (1, 2D, F)
    return latent.with_z(out.reshape(2, -1, out.shape[-1]).cpu(), str(OpSpec("upmix", p)))


def _check_upmix(p: Mapping[str, Any]) -> None:
    if p["style_mix"] and not p["width_from"]:
        raise UsageError("upmix: style_mix (--style-mix) needs width_from (--width-from, a reference stereo file)")


def _gain(latent: Latent, p: Mapping[str, Any], runner: Runner, seed: int) -> Latent:
    return latent.with_z(arith.gain(latent.z, p["db"]), str(OpSpec("gain", p)))


def _mix(latent: Latent, p: Mapping[str, Any], runner: Runner, seed: int) -> Latent:
    if not p["with"]:
        raise UsageError("op mix: give the other input, e.g. mix:with=other.wav,weight=0.5")
    other = runner.encode_file(p["with"])
    if not other.autoencoder.shares_latents(latent.autoencoder):
        raise UsageError(f"op mix: {p['with']} was encoded in another latent space (by another autoencoder)")
    z_other = other.z
    if other.channels != latent.channels:
        if other.channels == 1:
            z_other = z_other.expand(latent.channels, -1, -1)
        else:
            raise UsageError(f"op mix: {p['with']} is stereo but the input is mono")
    z = arith.mix([latent.z, z_other], [1.0, p["weight"]])
    mixed = latent.with_z(z, str(OpSpec("mix", p)))
    length = max(latent.length, round(other.length * latent.sample_rate / other.sample_rate))
    return replace(mixed, length=length)


OPS: dict[str, OpDef] = {
    "upsample": OpDef(
        "bandwidth extension to 44.1 kHz",
        {
            "model": Param(str, UPSAMPLE_MODEL, UPSAMPLE_HELP),
            "rate": Param(
                rate_or_auto,
                AUTO_RATE,
                "the rate the content was band-limited to, in Hz (auto = detected from the spectrum, 0 = the file's)",
                -1,
                192000,
                usage="HZ|auto",
                default_usage="auto",
            ),
            "steps": Param(int, 1, "Euler steps (flow models)", 1, 64),
            "seed": Param(int, -1, "noise seed for flow models (-1 = the global --seed)", -1, 2**31 - 1),
        },
        _upsample,
        archs=("bwe", "flow"),
    ),
    "upmix": OpDef(
        "mono to stereo",
        {
            "model": Param(str, UPMIX_MODEL, "stereo-s or a weights path"),
            "seed": Param(int, -1, "style seed (-1 = the global --seed)", -1, 2**31 - 1),
            "temperature": Param(float, UPMIX_TEMPERATURE, UPMIX_TEMPERATURE_HELP, 0.0, 1.0),
            "width_from": Param(str, "", "reference stereo file whose image to borrow", is_file=True),
            "style_mix": Param(
                float,
                None,
                "0 = random style, 1 = the reference's",
                0.0,
                1.0,
                default_usage="1 with width_from, else 0",
            ),
            "side": Param(str, UPMIX_SIDE, UPMIX_SIDE_HELP, choices=UPMIX_SIDES),
            "min_side": Param(float, UPMIX_MIN_SIDE_DB, UPMIX_MIN_SIDE_HELP, high=0.0),
        },
        _upmix,
        mono_input=True,
        archs=("stereo",),
        check=_check_upmix,
    ),
    "gain": OpDef("gain in the latent", {"db": Param(float, 0.0, "gain in dB", -60.0, 24.0)}, _gain),
    "mix": OpDef(
        "add another input's latent",
        {
            "with": Param(str, "", "the other audio (or .latent) file", is_file=True),
            "weight": Param(float, 1.0, "its weight", -4.0, 4.0),
        },
        _mix,
    ),
}
