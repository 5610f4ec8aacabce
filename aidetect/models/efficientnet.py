"""EfficientNet-B0 (Tan & Le 2019) as torchvision builds it, without importing torchvision.

Importing ``torchvision.models`` costs about 1.7 s on this project's machine (it loads every
model family and torchvision's operators), which was most of the time ``attribute`` needed to
build the model. This module builds the same network: the same modules under the same
names (``features.N…``), so torchvision's state dicts and every aidetect model directory load
unchanged, and the same initialisation (kaiming-normal fan-out convolutions, unit BatchNorm).
tests/test_encoders.py checks keys, shapes and outputs against torchvision's own model.
"""

from __future__ import annotations

import torch
from torch import nn

# (expand ratio, kernel, stride, input channels, output channels, blocks) of B0's seven stages.
B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
STOCHASTIC_DEPTH = 0.2
FEATURES = 1280


class ConvNormActivation(nn.Sequential):
    """Conv (no bias) → BatchNorm → SiLU (or no activation), as torchvision's Conv2dNormActivation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, activation: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if activation:
            layers.append(nn.SiLU(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class StochasticDepth(nn.Module):
    """Drops the residual branch of a whole sample with probability ``p`` during training ("row" mode)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(survival)
        return x * noise.div_(survival)


class MBConv(nn.Module):
    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int, drop: float):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        hidden = cin * expand
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(ConvNormActivation(cin, hidden, 1))
        layers += [
            ConvNormActivation(hidden, hidden, kernel, stride, groups=hidden),
            SqueezeExcitation(hidden, max(1, cin // 4)),
            ConvNormActivation(hidden, cout, 1, activation=False),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + self.stochastic_depth(out) if self.use_res_connect else out


def efficientnet_b0_features(stem_stride: int = 2, in_channels: int = 3) -> nn.Sequential:
    """torchvision's ``efficientnet_b0().features``: [N, C, H, W] → [N, 1280, H/32, W/32] (C = 3 but
    for a front-end that gives more channels)."""
    total = sum(stage[-1] for stage in B0_STAGES)
    layers: list[nn.Module] = [ConvNormActivation(in_channels, 32, 3, stem_stride)]
    block_id = 0
    for expand, kernel, stride, cin, cout, blocks in B0_STAGES:
        stage = []
        for i in range(blocks):
            stage.append(MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout,
                                STOCHASTIC_DEPTH * block_id / total))
            block_id += 1
        layers.append(nn.Sequential(*stage))
    layers.append(ConvNormActivation(B0_STAGES[-1][4], FEATURES, 1))
    features = nn.Sequential(*layers)
    for m in features.modules():  # torchvision's EfficientNet initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return features
