"""Every registered trunk with every input front-end takes one CPU training step with finite outputs."""

import itertools

import pytest
import torch

from aidetect.config import WELCH_ENCODERS, ArchitectureConfig
from aidetect.losses.supcon import SupConLoss
from aidetect.errors import AidetectError
from aidetect.models.encoder import FIXED_FEATURE_TRUNKS, FRONT_ENDS, Encoder, front_end_channels, list_architectures


CASES = [
    pytest.param(trunk, front, marks=[pytest.mark.slow] if trunk == "efficientnet_b0" else [])
    for trunk, front in itertools.product(list_architectures(), sorted(FRONT_ENDS))
    # a fixed feature reads the 3 colour channels: a wider front-end is refused (test below)
    if not (trunk in FIXED_FEATURE_TRUNKS and front_end_channels(front) != 3)
    # the welch-mlp encoders compute their own residuals from the pixels: any other front-end is refused (test_welch.py)
    and not (trunk in WELCH_ENCODERS and front != "rgb")
]


@pytest.mark.parametrize("trunk, front_end", CASES)
def test_one_step_of_every_trunk_and_front_end(trunk, front_end):
    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name=trunk, front_end=front_end, embedding_dim=16, projection_hidden=32))
    side = 64 if trunk in WELCH_ENCODERS else 32  # the Welch spectrum reads 64-px tiles
    images = torch.rand(6, 3, side, side)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    encoder.train()
    embeddings = encoder(images)
    assert embeddings.shape == (6, encoder.arch.output_dim)
    assert torch.isfinite(embeddings).all()
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(6), atol=1e-4)
    loss = SupConLoss(temperature=0.1)(embeddings, labels)
    assert torch.isfinite(loss)
    trainable = [p for p in encoder.parameters() if p.requires_grad]
    if trunk in FIXED_FEATURE_TRUNKS and not trainable:
        return  # the spectrum yardstick has nothing to learn
    optimizer = torch.optim.SGD(trainable, lr=0.01)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in trainable)
    optimizer.step()
    encoder.eval()
    with torch.no_grad():
        assert torch.isfinite(encoder(images)).all()


def test_a_fixed_feature_refuses_a_front_end_wider_than_3_channels():
    with pytest.raises(AidetectError, match="'spectrum' reads 3 colour channels, and front-end 'npr-latent' gives 6"):
        Encoder(ArchitectureConfig(name="spectrum", front_end="npr-latent"))


@pytest.mark.parametrize("stem_stride", [2, 1])
def test_our_efficientnet_b0_is_torchvisions(stem_stride):
    """Same module names, shapes and outputs as torchvision's efficientnet_b0().features, so
    torchvision state dicts and every saved aidetect model load unchanged."""
    from torchvision.models import efficientnet_b0

    from aidetect.models.efficientnet import efficientnet_b0_features

    theirs = efficientnet_b0(weights=None).features
    if stem_stride != 2:
        theirs[0][0].stride = (stem_stride, stem_stride)
    ours = efficientnet_b0_features(stem_stride)
    their_state = theirs.state_dict()
    assert list(ours.state_dict()) == list(their_state)
    assert all(ours.state_dict()[k].shape == v.shape for k, v in their_state.items())
    ours.load_state_dict(their_state)
    ours.eval(), theirs.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    # The same initialisation: per-layer weight spreads match torchvision's (kaiming fan-out).
    fresh = efficientnet_b0_features(stem_stride)
    for (name, mine), (_, ref) in zip(fresh.named_parameters(), efficientnet_b0(weights=None).features.named_parameters()):
        if mine.ndim == 4 and mine.numel() > 500:
            assert mine.std().item() == pytest.approx(ref.std().item(), rel=0.25), name
