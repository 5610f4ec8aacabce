"""aidetect/models/cooccurrence.py: co-occurrences of quantised pixel residuals, within and across colour channels."""

from __future__ import annotations

import numpy as np
import torch

import aidetect.models.cooccurrence as cooc
PARTS = 4


def histograms(images: torch.Tensor) -> np.ndarray:
    """The four normalised histograms [N, 4, 125] behind the log feature."""
    features = cooc.ResidualCooccurrence()(images)
    assert features.shape == (len(images), PARTS * cooc.BINS)
    return (np.exp(features.numpy()) - 1e-5).reshape(len(images), PARTS, cooc.BINS)


def test_each_part_is_a_distribution_and_a_flat_image_puts_all_mass_on_zero_residuals():
    rng = torch.Generator().manual_seed(0)
    noisy = torch.rand(2, 3, 32, 32, generator=rng)
    flat = torch.full((1, 3, 32, 32), 0.5)
    p = histograms(torch.cat([noisy, flat]))
    assert np.allclose(p.sum(axis=2), 1, atol=1e-4)
    zero = cooc.TRUNCATION * (cooc.LEVELS ** 2 + cooc.LEVELS + 1)  # the bin of three zero residuals
    assert np.allclose(p[2, :, zero], 1, atol=1e-4)
    assert (p[:2, :, zero] < 0.5).all()  # uniform noise spreads its residuals


def test_grey_images_have_no_chroma_trace_and_equal_channel_residuals():
    rng = torch.Generator().manual_seed(1)
    grey = torch.rand(1, 1, 32, 32, generator=rng).expand(1, 3, 32, 32)
    colour = torch.rand(1, 3, 32, 32, generator=rng)
    p_grey, p_colour = histograms(torch.cat([grey, colour]))
    zero = cooc.TRUNCATION * (cooc.LEVELS ** 2 + cooc.LEVELS + 1)
    assert p_grey[3, zero] > 0.999 and p_colour[3, zero] < 0.5  # R − G and B − G are flat only in the grey image
    # across channels the grey image's residuals agree at every pixel: only the bins (a, a, a) hold mass
    diagonal = [a * (cooc.LEVELS ** 2 + cooc.LEVELS + 1) for a in range(cooc.LEVELS)]
    assert p_grey[2, diagonal].sum() > 0.999 and p_colour[2, diagonal].sum() < 0.5


def test_residuals_are_read_on_the_8_bit_scale_and_clipped():
    ramp = torch.arange(32, dtype=torch.float32).div(255).expand(1, 3, 32, 32).contiguous()  # +1 level per column
    p = histograms(ramp)
    # horizontally every first-order residual is +1, vertically 0: half the triples each
    ones = (cooc.TRUNCATION + 1) * (cooc.LEVELS ** 2 + cooc.LEVELS + 1)
    zero = cooc.TRUNCATION * (cooc.LEVELS ** 2 + cooc.LEVELS + 1)
    assert abs(p[0, 0, ones] - 0.5) < 0.02 and abs(p[0, 0, zero] - 0.5) < 0.02
    steep = torch.arange(32, dtype=torch.float32).mul(8).div(255).expand(1, 3, 32, 32).contiguous()  # +8 levels: clipped to +2
    top = (2 * cooc.TRUNCATION) * (cooc.LEVELS ** 2 + cooc.LEVELS + 1)
    assert abs(histograms(steep)[0, 0, top] - 0.5) < 0.02



def _plain_reading(images: torch.Tensor) -> torch.Tensor:
    """The feature as the module's docstring states it, written apart from the module (torch.diff
    for the residuals, int64 levels, one histogram pass over the whole batch): what the module's
    float32 / int32 / chunked arithmetic must reproduce bit for bit."""
    levels = images.float().clamp(0, 1).mul(255).round()
    L, T, n = cooc.LEVELS, cooc.TRUNCATION, len(images)

    def q(residual, step):
        return (residual / step).round().clamp(-T, T).long() + T

    def triple(x, dim):
        m = x.shape[dim]
        return (x.narrow(dim, 0, m - 2) * L * L + x.narrow(dim, 1, m - 2) * L + x.narrow(dim, 2, m - 2)).flatten(1)

    def hist(parts):
        index = torch.cat(parts, dim=1) + torch.arange(n).unsqueeze(1) * cooc.BINS
        counts = torch.bincount(index.flatten(), minlength=n * cooc.BINS).view(n, cooc.BINS).float()
        return counts / counts.sum(dim=1, keepdim=True)

    parts = [hist([triple(q(torch.diff(levels, n=order, dim=d), step), d) for d in (3, 2)]) for order, step in ((1, 1.0), (2, 2.0))]
    parts.append(hist([(lambda r: (r[:, 0] * L * L + r[:, 1] * L + r[:, 2]).flatten(1))(q(torch.diff(levels, dim=d), 1.0))
                       for d in (3, 2)]))
    chroma = torch.stack([levels[:, 0] - levels[:, 1], levels[:, 2] - levels[:, 1]], dim=1)
    parts.append(hist([triple(q(torch.diff(chroma, dim=d), 1.0), d) for d in (3, 2)]))
    return torch.log(torch.cat(parts, dim=1) + 1e-5)


def test_the_fast_arithmetic_reads_exactly_what_the_plain_one_reads_across_chunks():
    rng = torch.Generator().manual_seed(2)
    images = torch.rand(cooc.CHUNK + 3, 3, 40, 48, generator=rng)  # two chunks, the second partial
    images[0] = 0.5  # flat: every residual zero
    images[1] = torch.linspace(0, 1, 48)  # a ramp: second-order residuals at the rounding's half steps
    images[2] = (images[2] * 6).round() / 255  # small residuals, where step 2 rounds ±1 and ±3
    assert torch.equal(cooc.ResidualCooccurrence()(images), _plain_reading(images))
    assert torch.equal(cooc.ResidualCooccurrence()(images.contiguous(memory_format=torch.channels_last)), _plain_reading(images))


def test_the_gpus_counting_gives_the_cpus_counts():
    """count() adds ones with scatter_add off the CPU (no host round trip): the same counts as
    bincount's, its code path run here on the CPU."""
    index = torch.randint(0, 300, (5000,), dtype=torch.int32, generator=torch.Generator().manual_seed(3))
    counted = cooc.count(index, 310, scatter=False)
    assert counted.sum() == 5000 and counted[300:].sum() == 0
    assert torch.equal(cooc.count(index, 310, scatter=True), counted)
