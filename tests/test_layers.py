"""Blocks: shapes, conditioning, and locality (what makes chunked processing exact)."""

import pytest
import torch

from reencoder_cli.models.layers import GRN, AdaLN, Backbone, sinusoidal_embedding


@pytest.mark.parametrize("grn", [True, False])
@pytest.mark.parametrize("frames", [1, 2, 37])
def test_backbone_shapes(grn: bool, frames: int) -> None:
    net = Backbone(16, 24, 32, blocks=2, hidden=48, cond_dim=8, grn=grn)
    out = net(torch.randn(1, 16, frames), torch.randn(1, 8))
    assert out.shape == (1, 24, frames)


def test_receptive_field_is_exact() -> None:
    """A change outside the receptive field leaves the frame bit-identical; well inside, it changes it."""
    torch.manual_seed(0)
    net = Backbone(8, 8, 16, blocks=3, hidden=32, grn=True)
    for p in net.parameters():  # GRN starts at identity (zeros): make it matter
        if p.abs().max() == 0:
            p.data.normal_(0, 0.5)
    rf = net.receptive_field
    assert rf == 3 * (3 + GRN(32).window // 2)
    x = torch.randn(1, 8, 4 * rf)
    centre = 2 * rf
    base = net(x)[..., centre]
    far = x.clone()
    far[..., centre + rf + 1] += 10
    near = x.clone()
    near[..., centre + rf // 2] += 10
    assert torch.equal(net(far)[..., centre], base)
    assert not torch.allclose(net(near)[..., centre], base)


def test_grn_is_local_and_starts_as_identity() -> None:
    grn = GRN(4, window=5)
    x = torch.randn(2, 30, 4)
    assert torch.equal(grn(x), x)  # gamma = beta = 0
    grn.gamma.data.fill_(1.0)
    y = grn(x)
    x2 = x.clone()
    x2[:, 20:] *= 100  # far from frame 5 (window 5 -> 2 frames each side)
    assert torch.allclose(grn(x2)[:, :10], y[:, :10])


def test_adaln_zero_init_is_layernorm_and_condition_changes_it() -> None:
    norm = AdaLN(6, cond_dim=3)
    x = torch.randn(2, 5, 6)
    plain = torch.nn.functional.layer_norm(x, (6,), eps=1e-6)
    assert torch.allclose(norm(x, torch.randn(2, 3)), plain, atol=1e-6)
    norm.modulation.weight.data.normal_()
    assert not torch.allclose(norm(x, torch.randn(2, 3)), plain)
    with pytest.raises(ValueError):
        norm(x)


def test_sinusoidal_embedding_shape_and_distinct() -> None:
    e = sinusoidal_embedding(torch.tensor([0.0, 1.0, 500.0]), 16)
    assert e.shape == (3, 16)
    assert not torch.allclose(e[1], e[2])
