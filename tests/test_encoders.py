"""Every registered trunk with every input front-end takes one CPU training step with finite outputs."""

import itertools

import pytest
import torch

from aidetect.config import ArchitectureConfig
from aidetect.losses.supcon import SupConLoss
from aidetect.models.encoder import FIXED_FEATURE_TRUNKS, FRONT_ENDS, Encoder, list_architectures


CASES = [
    pytest.param(trunk, front, marks=[pytest.mark.slow] if trunk == "efficientnet_b0" else [])
    for trunk, front in itertools.product(list_architectures(), sorted(FRONT_ENDS))
]


@pytest.mark.parametrize("trunk, front_end", CASES)
def test_one_step_of_every_trunk_and_front_end(trunk, front_end):
    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name=trunk, front_end=front_end, embedding_dim=16, projection_hidden=32))
    images = torch.rand(6, 3, 32, 32)
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
