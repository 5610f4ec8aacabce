import math

import pytest
import torch
import torch.nn.functional as F

from aidetect.losses import ContrastiveLoss, SupConLoss


def _hand_supcon(z, labels, t, contrast=None, contrast_labels=None, class_weights=None):
    """Direct transcription of the thesis formula, one anchor at a time. Anchors are the batch;
    ``contrast`` (the batch first, then remembered embeddings) is what each anchor is compared with."""
    contrast = z if contrast is None else contrast
    contrast_labels = labels if contrast_labels is None else contrast_labels
    losses = []
    for i in range(len(labels)):
        others = [a for a in range(len(contrast_labels)) if a != i]
        positives = [p for p in others if contrast_labels[p] == labels[i]]
        if not positives:
            continue
        denominator = sum(math.exp(float(z[i] @ contrast[a]) / t) for a in others)
        terms = [math.log(math.exp(float(z[i] @ contrast[p]) / t) / denominator) for p in positives]
        losses.append((-sum(terms) / len(positives), 1.0 if class_weights is None else class_weights[labels[i]]))
    return sum(w * loss for loss, w in losses) / sum(w for _, w in losses)


def test_default_temperature_is_pinned():
    assert float(SupConLoss().temperature.detach()) == pytest.approx(0.1)


def test_supcon_matches_hand_computation():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(7, 5), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 0])
    loss = SupConLoss(temperature=0.5, learnable_temperature=False)(z, labels)
    assert float(loss) == pytest.approx(_hand_supcon(z, labels.tolist(), 0.5), rel=1e-5)


def test_supcon_two_points_closed_form():
    # Two positives and one negative: L = -log(e^{s_p/t} / (e^{s_p/t} + e^{s_n/t})) for each positive anchor.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    t = 1.0
    expected_anchor = -math.log(math.exp(0.0) / (math.exp(0.0) + math.exp(-1.0)))  # anchor 0: pos (0), neg (-1)
    expected_anchor1 = -math.log(math.exp(0.0) / (math.exp(0.0) + math.exp(0.0)))  # anchor 1: pos (0), neg (0)
    loss = SupConLoss(temperature=t, learnable_temperature=False)(z, labels)
    assert float(loss) == pytest.approx((expected_anchor + expected_anchor1) / 2, rel=1e-6)


@pytest.mark.parametrize("t", [0.07, 0.1, 0.5])
def test_supcon_equals_pytorch_metric_learning(t):
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    torch.manual_seed(1)
    z = F.normalize(torch.randn(24, 16), dim=1)
    labels = torch.randint(0, 4, (24,))
    ours = SupConLoss(temperature=t, learnable_temperature=False)(z, labels)
    reference = pml.SupConLoss(temperature=t)(z, labels)
    assert float(ours) == pytest.approx(float(reference), rel=1e-5)


def test_no_positive_batch_is_zero_and_backpropagates():
    z = F.normalize(torch.randn(4, 8), dim=1).requires_grad_(True)
    loss_fn = SupConLoss()
    loss = loss_fn(z, torch.arange(4))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


def test_anchors_without_positive_are_left_out():
    torch.manual_seed(2)
    z = F.normalize(torch.randn(5, 3), dim=1)
    labels = torch.tensor([0, 0, 1, 2, 3])  # only anchors 0 and 1 have a positive
    loss = SupConLoss(temperature=0.2, learnable_temperature=False)(z, labels)
    assert torch.isfinite(loss)
    assert float(loss) == pytest.approx(_hand_supcon(z, labels.tolist(), 0.2), rel=1e-5)


def test_learnable_temperature_is_log_space_and_clamped():
    loss_fn = SupConLoss(temperature=0.1)
    assert isinstance(loss_fn.log_temperature, torch.nn.Parameter)
    with torch.no_grad():
        loss_fn.log_temperature.fill_(-50.0)
    assert float(loss_fn.temperature.detach()) == pytest.approx(0.01)
    z = F.normalize(torch.randn(6, 4), dim=1)
    loss = loss_fn(z, torch.tensor([0, 0, 1, 1, 2, 2]))
    loss.backward()
    assert torch.isfinite(loss)


def test_contrastive_loss_hand_values():
    z = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    m = 2.0
    # pairs: (0,1) similar D=5 -> 25; (0,2) dissimilar D=1 -> (2-1)^2=1; (1,2) dissimilar D=sqrt(9+9) > m -> 0
    expected = (25.0 + 1.0 + 0.0) / 3
    assert float(ContrastiveLoss(margin=m)(z, labels)) == pytest.approx(expected, rel=1e-5)


def test_supcon_with_a_memory_contrasts_the_batch_with_remembered_embeddings():
    import torch.nn.functional as F

    from aidetect.losses import SupConLoss
    from aidetect.losses.memory import CrossBatchMemory

    torch.manual_seed(0)
    z = F.normalize(torch.randn(6, 8), dim=1).requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1, 2, 3])
    memory = CrossBatchMemory(size=5, dim=8)
    memory.push(F.normalize(torch.randn(4, 8), dim=1), torch.tensor([3, 3, 2, 9]))
    memory.push(F.normalize(torch.randn(3, 8), dim=1), torch.tensor([0, 1, 5]))  # wraps: 7 pushed, 5 kept
    stored, stored_labels = memory.contents()
    assert len(stored) == 5 and sorted(stored_labels.tolist()) == [0, 1, 2, 5, 9]
    loss = SupConLoss(temperature=0.2, learnable_temperature=False)(z, labels, memory=(stored, stored_labels))
    expected = _hand_supcon(z.detach(), labels, 0.2, torch.cat([z.detach(), stored]), torch.cat([labels, stored_labels]))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert z.grad is not None and not stored.requires_grad
    # A fixed temperature passed in replaces the module's τ.
    warm = SupConLoss(temperature=0.2, learnable_temperature=False)(z.detach(), labels, temperature=0.5)
    assert warm.item() == pytest.approx(_hand_supcon(z.detach(), labels, 0.5), rel=1e-5)


def test_class_weights_make_a_weighted_mean_of_the_anchors():
    torch.manual_seed(1)
    z = F.normalize(torch.randn(9, 5), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 0, 2, 3])  # class 3: no positive, left out whatever its weight
    loss_fn = SupConLoss(temperature=0.3, learnable_temperature=False)
    weights = [1.0, 4.0, 1.0, 9.0]
    weighted = loss_fn(z, labels, class_weights=torch.tensor(weights))
    assert float(weighted) == pytest.approx(_hand_supcon(z, labels.tolist(), 0.3, class_weights=weights), rel=1e-5)
    assert float(weighted) != pytest.approx(float(loss_fn(z, labels)), rel=1e-3)
    assert float(loss_fn(z, labels, class_weights=torch.ones(4))) == pytest.approx(float(loss_fn(z, labels)), rel=1e-6)


def test_softmax_loss_is_cross_entropy_of_the_head_over_temperature():
    from aidetect.losses import SoftmaxLoss, build_loss

    torch.manual_seed(0)
    z = F.normalize(torch.randn(6, 4), dim=1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    loss_fn = SoftmaxLoss(n_classes=3, dim=4, temperature=0.5)
    logits = ((z @ loss_fn.head.weight.T + loss_fn.head.bias) / 0.5).detach()
    by_hand = -sum(float(torch.log_softmax(logits[i], dim=0)[labels[i]]) for i in range(6)) / 6
    assert float(loss_fn(z, labels).detach()) == pytest.approx(by_hand, rel=1e-5)
    # class weights make a weighted mean over images, as cross_entropy's weight does
    weights = torch.tensor([4.0, 1.0, 1.0])
    per_image = [-float(torch.log_softmax(logits[i], dim=0)[labels[i]]) for i in range(6)]
    weighted = sum(float(weights[labels[i]]) * per_image[i] for i in range(6)) / float(weights[labels].sum())
    assert float(loss_fn(z, labels, class_weights=weights).detach()) == pytest.approx(weighted, rel=1e-5)
    # the head trains with the encoder: the loss reaches both
    z.requires_grad_(True)
    loss_fn(z, labels).backward()
    assert z.grad is not None and loss_fn.head.weight.grad.abs().sum() > 0
    assert isinstance(build_loss("softmax", n_classes=3, dim=4, temperature=0.1, margin=1.0), SoftmaxLoss)


def test_softmax_loss_refuses_labels_its_head_has_no_row_for():
    from aidetect.losses import SoftmaxLoss

    with pytest.raises(ValueError, match="outside the head's 3 classes"):
        SoftmaxLoss(n_classes=3, dim=4)(F.normalize(torch.randn(2, 4), dim=1), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        SoftmaxLoss(n_classes=1, dim=4)
