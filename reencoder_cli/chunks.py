"""Long signals in chunks with context: every chunk is computed with up to ``context``
entries of the signal on each side and trimmed to its own span, so a local operator
(one whose output at t depends on the input within ``context`` of t) gives the same
result chunked as in one pass over the whole signal, in memory bounded by the chunk.

A leaf (stdlib imports only), so that every level's chunked loop is this one: the
models' and the raw baseline's (``map_chunks``), the streamed encode and decode and the
post-steps' crossover (``chunks``, ``chunk_at``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from torch import Tensor


class Chunk(NamedTuple):
    """A span ``[start, stop)`` that is kept and the window ``[lo, hi)`` computed for it."""

    start: int
    stop: int
    lo: int
    hi: int

    @property
    def kept(self) -> slice:
        """Where the kept span lies in the window's output."""
        return slice(self.start - self.lo, self.stop - self.lo)


def chunk_at(start: int, size: int, context: int, length: int | None = None) -> Chunk:
    """The chunk of ``size`` entries from ``start``, with ``context`` each side, clipped to ``[0, length)``.

    ``length`` None: the signal's end is not known yet and lies beyond the window.
    """
    if length is None:
        return Chunk(start, start + size, max(0, start - context), start + size + context)
    stop = min(length, start + size)
    return Chunk(start, stop, max(0, start - context), min(length, stop + context))


def chunks(length: int, size: int, context: int) -> Iterator[Chunk]:
    """``[0, length)`` in chunks of ``size`` (the last may be shorter), each with ``context`` each side."""
    for start in range(0, length, size):
        yield chunk_at(start, size, context, length)


def map_chunks(fn: Callable[..., Tensor], tensors: list[Tensor], size: int, context: int) -> Tensor:
    """Apply a local operator chunk by chunk along the last axis (run it under ``torch.inference_mode``).

    Args:
        fn: maps tensors (B, *, n) to (B', *', n), equal entries along the last axis.
        tensors: its inputs, (B, *, T) each, T >= 1.
        size: entries per chunk.
        context: entries each side (the operator's receptive field makes the result exact).

    Returns:
        (B', *', T), equal to ``fn(*tensors)`` up to float rounding.
    """
    length = tensors[0].shape[-1]
    out: Tensor | None = None
    for chunk in chunks(length, size, context):
        y = fn(*(t[..., chunk.lo : chunk.hi] for t in tensors))
        if out is None:  # preallocated: the output is written once, never concatenated
            out = y.new_empty((*y.shape[:-1], length))
        out[..., chunk.start : chunk.stop] = y[..., chunk.kept]
    assert out is not None
    return out
