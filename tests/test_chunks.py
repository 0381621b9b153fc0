"""Chunks with context: a local operator gives the whole signal's result, chunk by chunk."""

import pytest
import torch
import torch.nn.functional as F

from reencoder_cli.chunks import Chunk, chunk_at, chunks, map_chunks

REACH = 5  # the operator's receptive field each side


def local(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, C, T), (B, C, T) -> (B, 2C, T): exact in float64 (integer values), zero beyond both ends."""
    kernel = torch.arange(1.0, 2 * REACH + 2, dtype=torch.float64).expand(x.shape[1], 1, -1)
    return torch.cat([F.conv1d(x, kernel, padding=REACH, groups=x.shape[1]), y], dim=1)


@pytest.mark.parametrize("length", [1, 7, 64, 101])
@pytest.mark.parametrize("size", [1, 3, 16, 200])
def test_chunked_equals_whole(length: int, size: int) -> None:
    """Odd lengths, chunks shorter than the context, and one chunk for the whole signal."""
    x = torch.randint(-9, 10, (2, 3, length)).double()
    y = torch.randint(-9, 10, (2, 3, length)).double()
    out = map_chunks(local, [x, y], size, REACH)
    assert out.shape == (2, 6, length)
    assert torch.equal(out, local(x, y))


def test_too_little_context_differs() -> None:
    """The test above can fail: one entry of context short, the chunk edges differ."""
    x = torch.randint(-9, 10, (1, 1, 50)).double()
    assert not torch.equal(map_chunks(lambda t: local(t, t), [x], 8, REACH - 1), local(x, x))


@pytest.mark.parametrize(("length", "size", "context"), [(1, 1, 0), (10, 3, 2), (10, 4, 20), (9, 9, 1)])
def test_chunks_cover_once_within_bounds(length: int, size: int, context: int) -> None:
    parts = list(chunks(length, size, context))
    assert [i for p in parts for i in range(p.start, p.stop)] == list(range(length))
    for p in parts:
        assert p.lo == max(0, p.start - context) and p.hi == min(length, p.stop + context)
        assert range(p.lo, p.hi)[p.kept] == range(p.start, p.stop)


def test_chunk_before_the_end_is_known() -> None:
    assert chunk_at(4, 3, 2) == Chunk(4, 7, 2, 9)
    assert chunk_at(4, 3, 2, length=8) == Chunk(4, 7, 2, 8)
    assert chunk_at(0, 3, 2, length=2) == Chunk(0, 2, 0, 2)
