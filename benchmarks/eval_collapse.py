"""The eval-mode collapse (issue 17): what BatchNorm's running statistics do to the embedding.

    OMP_NUM_THREADS=1 python benchmarks/eval_collapse.py                      # thesis recipe, 64 px, batch 18, 6 epochs
    OMP_NUM_THREADS=1 python benchmarks/eval_collapse.py --recipe fingerprint --image-size 64 --train-image-size 32

Trains with `aidetect.training.Trainer` on a synthetic folder tree (6 classes: `real` and five
generators with a periodic trace, tests/synthetic.py; 30 training and 6 validation images
per class, so 10 steps of 18 per epoch) and, after every epoch, embeds the 36 validation images
with copies of the encoder whose BatchNorm layers use different statistics:

* ``eval``: the running statistics as training left them (momentum 0.1);
* ``batch stats``: each validation batch's own statistics (what train mode does);
* ``momentum m``: running statistics kept at another momentum over the same training steps
  (recorded by hooks; momentum does not change the training itself, only what eval mode uses);
  ``cumulative`` is the average over every step since the start;
* ``precise N``: statistics re-estimated on N training batches with the current weights
  (running statistics reset, cumulative average, weights untouched), the images preprocessed
  as at inference, as the trainer does; ``--sources`` compares that with the recipe's training
  crops, with and without its augmentation, on clean and JPEG-75 validation images.

For each it prints the mean cosine between different images' embeddings (1 = all the same) and
the validation SupCon loss (ln(batch − 1) = every embedding the same). With ``--diagnose`` it
also prints, per EfficientNet stage, the between-image spread of the activations in eval mode
relative to the spread with the batch's statistics; the ratio of running to re-estimated
variance; the share of squeeze-excitation gates that are saturated (< 0.01 or > 0.99); and the
projection head's dead units and spread. The trainer's own BatchNorm re-estimation is switched
off (``--trainer-bn-batches``, default 0), so the run is the unfixed one; every variant is
measured on copies, with the RNG restored, so the training trajectory is the trainer's own.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from aidetect.data.dataset import collate  # noqa: E402
from aidetect.data.sampler import ClassBalancedBatchSampler  # noqa: E402
from aidetect.recipes import apply_recipe  # noqa: E402
from aidetect.training import Trainer, TrainOptions  # noqa: E402

MOMENTA = (0.01, 0.1, 0.3, 0.5, None, "warm 0.1")
PRECISE = (1, 2, 5, 10)


def batchnorms(model: nn.Module) -> dict[str, nn.modules.batchnorm._BatchNorm]:
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


class ShadowStats:
    """Running statistics at other momenta, from the batch statistics of every training step."""

    def __init__(self, model: nn.Module) -> None:
        self.active = True
        self.stats: dict = {}
        for name, bn in batchnorms(model).items():
            self.stats[name] = {m: [bn.running_mean.clone(), bn.running_var.clone(), 0] for m in MOMENTA}
            bn.register_forward_pre_hook(self._hook(name))

    def _hook(self, name):
        def hook(module, inputs):
            if not (self.active and module.training):
                return
            x = inputs[0].detach().float()
            dims = [0] + list(range(2, x.ndim))
            mean, var = x.mean(dims), x.var(dims, unbiased=True)
            for m, entry in self.stats[name].items():
                entry[2] += 1
                factor = 1.0 / entry[2] if m is None else max(1.0 / entry[2], 0.1) if m == "warm 0.1" else m
                entry[0].mul_(1 - factor).add_(mean * factor)
                entry[1].mul_(1 - factor).add_(var * factor)

        return hook

    def load(self, model: nn.Module, momentum) -> None:
        for name, bn in batchnorms(model).items():
            mean, var, _ = self.stats[name][momentum]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)


def pairwise_cosine(z: torch.Tensor) -> float:
    z = nn.functional.normalize(z.float(), dim=1)
    sim = z @ z.T
    n = len(z)
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def embed(model, batches):
    with torch.no_grad():
        return torch.cat([model(images) for images, _ in batches])


def val_loss(trainer, model, batches) -> float:
    with torch.no_grad():
        return float(np.mean([float(trainer.loss_fn(model(images), labels)) for images, labels in batches]))


def batch_stats_copy(encoder):
    model = copy.deepcopy(encoder).eval()
    for bn in batchnorms(model).values():
        bn.train()
    return model


def precise_copy(encoder, train_batches, n):
    model = copy.deepcopy(encoder).eval()
    for bn in batchnorms(model).values():
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    with torch.no_grad():
        for images, _ in train_batches[:n]:
            model(images)
    return model.eval()


def load_batches(dataset, batches, epoch=None):
    out = []
    for batch in batches:
        items = collate([dataset[(epoch, i) if epoch is not None else i] for i in batch])
        out.append((items.images, items.labels))
    return out


def stage_spread(model, batches) -> list[float]:
    """Between-image std of each stage's spatially pooled output, averaged over channels."""
    stages = model.trunk[0]
    outputs: dict[int, list] = {i: [] for i in range(len(stages))}
    handles = [stage.register_forward_hook(lambda m, i, o, k=k: outputs[k].append(o.float().mean((2, 3)))) for k, stage in enumerate(stages)]
    embed(model, batches)
    for h in handles:
        h.remove()
    return [float(torch.cat(outputs[k]).std(0).mean()) for k in outputs]


def se_saturation(model, batches) -> float:
    from torchvision.ops.misc import SqueezeExcitation

    gates = []
    handles = [m.scale_activation.register_forward_hook(lambda mod, i, o: gates.append(o.float().flatten())) for m in model.modules() if isinstance(m, SqueezeExcitation)]
    embed(model, batches)
    for h in handles:
        h.remove()
    if not gates:
        return float("nan")
    g = torch.cat(gates)
    return float(((g < 0.01) | (g > 0.99)).float().mean())


def head_state(model, batches) -> tuple[float, float]:
    """(share of hidden units that are zero for every image, spread/norm of the pre-normalisation output)."""
    hidden, out = [], []
    handles = []
    if isinstance(model.head, nn.Sequential):
        handles.append(model.head[1].register_forward_hook(lambda m, i, o: hidden.append(o.float())))
    handles.append(model.head.register_forward_hook(lambda m, i, o: out.append(o.float())))
    embed(model, batches)
    for h in handles:
        h.remove()
    dead = float((torch.cat(hidden) <= 0).all(0).float().mean()) if hidden else float("nan")
    h = torch.cat(out)
    return dead, float(h.std(0).norm() / h.mean(0).norm().clamp_min(1e-12))


def var_ratio(encoder, precise) -> list[float]:
    """Per stage: geometric mean over its BatchNorm channels of running / re-estimated variance."""
    ratios: dict[int, list] = {}
    mine, theirs = batchnorms(encoder), batchnorms(precise)
    for name, bn in mine.items():
        parts = name.split(".")
        stage = int(parts[2]) if parts[:2] == ["trunk", "0"] else -1
        ratios.setdefault(stage, []).append(torch.log(bn.running_var / theirs[name].running_var.clamp_min(1e-12)))
    return [float(torch.cat(v).mean().exp()) for _, v in sorted(ratios.items())]


def by_position(model, threshold) -> dict[str, float]:
    """Share of channels with variance below ``threshold``, by the BatchNorm's place in an MBConv block."""
    kinds: dict[str, list] = {}
    for name, bn in batchnorms(model).items():
        parts = name.split(".")
        if len(parts) == 7 and parts[4] == "block":  # trunk.0.<stage>.<block>.block.<layer>.1
            # stage 1 has no expansion: depthwise, SE, project; the others: expand, depthwise, SE, project
            layers = ("depthwise", "se", "project") if parts[2] == "1" else ("expand", "depthwise", "se", "project")
            kind = layers[int(parts[5])]
        else:
            kind = "stem/last"
        kinds.setdefault(kind, []).append((bn.running_var < threshold).float())
    return {k: float(torch.cat(v).mean()) for k, v in kinds.items()}


def stat_summary(model, what, threshold=0.0) -> list[float]:
    """Per stage: median over its BatchNorm channels of the std, or of |mean| / std, of the BatchNorm input."""
    values: dict[int, list] = {}
    for name, bn in batchnorms(model).items():
        parts = name.split(".")
        stage = int(parts[2]) if parts[:2] == ["trunk", "0"] else -1
        std = bn.running_var.clamp_min(1e-30).sqrt()
        value = {"std": std, "offset": bn.running_mean.abs() / std, "small": (bn.running_var < threshold).float()}[what]
        values.setdefault(stage, []).append(value)
    reduce = (lambda t: t.mean()) if what == "small" else (lambda t: t.median())
    return [float(reduce(torch.cat(v))) for _, v in sorted(values.items())]


def depthwise_at_init(encoder, images) -> None:
    """Each depthwise convolution's weight std against sqrt(2 / (C·k²)), and its output variance, at initialisation."""
    model = copy.deepcopy(encoder).train()
    rows, handles = [], []
    modules = dict(model.trunk[0].named_modules())
    for name, conv in modules.items():
        if isinstance(conv, nn.Conv2d) and conv.groups > 1 and conv.groups == conv.in_channels:
            record: dict = {}
            bn = modules[name.rsplit(".", 1)[0] + ".1"]
            handles.append(bn.register_forward_pre_hook(lambda m, inputs, record=record: record.update(var=inputs[0].var((0, 2, 3)))))
            rows.append((name, conv.in_channels, conv.kernel_size[0], float(conv.weight.detach().std()), record))
    with torch.no_grad():
        model(images)
    for h in handles:
        h.remove()
    print("depthwise convolutions at initialisation (torchvision's fan-out counts all C output channels, not C / groups):")
    for name, c, k, std, record in rows:
        print(f"  {name:<14} C={c:<5} k={k}  weight std {std:.4f}, sqrt(2/(C k^2)) {(2 / (c * k * k)) ** 0.5:.4f}; output variance (median) {float(record['var'].median()):.1e}")


class ProbingTrainer(Trainer):
    def __init__(self, options, diagnose: bool, sources: bool):
        super().__init__(options)
        self.diagnose, self.sources = diagnose, sources
        self.rows: list[dict] = []

    def _prepare_model(self) -> None:
        super()._prepare_model()
        if self.diagnose and self.options.architecture.name == "efficientnet_b0":
            o = self.options
            sampler = ClassBalancedBatchSampler(self.train_set.labels, o.optim.batch_size, o.optim.m_per_class, seed=o.seed)
            rng = torch.get_rng_state()
            depthwise_at_init(self.encoder, load_batches(self.train_set, list(sampler)[:1], 0)[0][0])
            torch.set_rng_state(rng)
        self.shadow = ShadowStats(self.encoder)

    def _validate(self) -> float:
        self._probe()
        return super()._validate()

    def _compare_sources(self, encoder, epoch, sampler) -> None:
        """Statistics re-estimated on training images preprocessed three ways; validation clean and after JPEG 75."""
        from aidetect.data.dataset import ImageFileDataset
        from aidetect.data.perturb import parse_perturbation

        o, train = self.options, self.train_set
        if not hasattr(self, "val_jpeg_batches"):
            jpeg = ImageFileDataset(self.val_set.paths, self.val_set.labels, self.val_set.preprocess, perturb=parse_perturbation("jpeg:75"))
            self.val_jpeg_batches = load_batches(jpeg, [b for b in self._val_indices])
        chosen = list(sampler)[: max(PRECISE)]
        sources = {
            "the recipe's training crops and augmentation": load_batches(train, chosen, epoch),
            "training crops, no augmentation": load_batches(
                ImageFileDataset(train.paths, train.labels, train.preprocess, train=True, seed=o.seed), chosen, epoch
            ),
            "inference preprocessing": load_batches(ImageFileDataset(train.paths, train.labels, train.preprocess), chosen),
        }
        print(f"\nepoch {epoch + 1}: statistics re-estimated on {max(PRECISE)} training batches of ...   clean val: cosine, loss | JPEG-75 val: cosine, loss")
        models = {"(running statistics, unfixed)": copy.deepcopy(encoder).eval(), "(each validation batch's own)": batch_stats_copy(encoder)}
        models.update({name: precise_copy(encoder, batches, max(PRECISE)) for name, batches in sources.items()})
        for name, model in models.items():
            clean = (pairwise_cosine(embed(model, self.val_batches)), val_loss(self, model, self.val_batches))
            jpeg = (pairwise_cosine(embed(model, self.val_jpeg_batches)), val_loss(self, model, self.val_jpeg_batches))
            print(f"  {name:<46} {clean[0]:.4f} {clean[1]:.4f} | {jpeg[0]:.4f} {jpeg[1]:.4f}")

    def _probe(self) -> None:
        rng = torch.get_rng_state()
        self.shadow.active = False
        try:
            self._probe_once()
        finally:
            self.shadow.active = True
            torch.set_rng_state(rng)

    def _probe_once(self) -> None:
        o = self.options
        epoch = len(self.rows)
        if not hasattr(self, "val_batches"):
            sampler = ClassBalancedBatchSampler(self.val_set.labels, o.optim.batch_size, o.optim.m_per_class, seed=o.seed)
            sampler.set_epoch(0)
            self._val_indices = list(sampler)
            self.val_batches = load_batches(self.val_set, self._val_indices)
        sampler = ClassBalancedBatchSampler(self.train_set.labels, o.optim.batch_size, o.optim.m_per_class, seed=o.seed + 1)
        sampler.set_epoch(epoch)
        # As the trainer does: training images preprocessed as at inference (--sources compares).
        from aidetect.data.dataset import ImageFileDataset

        inference_view = ImageFileDataset(self.train_set.paths, self.train_set.labels, self.train_set.preprocess)
        train_batches = load_batches(inference_view, list(sampler)[: max(PRECISE)])
        encoder = self.encoder
        variants = {"eval": copy.deepcopy(encoder).eval(), "batch stats": batch_stats_copy(encoder)}
        for m in MOMENTA:
            if m == 0.1:
                continue  # the trainer's own: "eval" (checked against the shadow below)
            model = copy.deepcopy(encoder).eval()
            self.shadow.load(model, m)
            variants["cumulative" if m is None else m if isinstance(m, str) else f"momentum {m}"] = model
        for n in PRECISE:
            variants[f"precise {n}"] = precise_copy(encoder, train_batches, n)
        check = copy.deepcopy(encoder)
        self.shadow.load(check, 0.1)
        drift = max(float((a.running_var - b.running_var).abs().max()) for a, b in zip(batchnorms(check).values(), batchnorms(encoder).values()))
        if self.sources:
            self._compare_sources(encoder, epoch, sampler)
        row = {"epoch": epoch + 1}
        for name, model in variants.items():
            row[name] = (pairwise_cosine(embed(model, self.val_batches)), val_loss(self, model, self.val_batches))
        self.rows.append(row)
        ln = math.log(self.sampler.batch_size - 1)
        print(f"\nepoch {epoch + 1}: mean cosine / validation loss (ln(batch-1) = {ln:.4f}); shadow check {drift:.1e}")
        for name, (cos, loss) in list(row.items())[1:]:
            print(f"  {name:<14} {cos:9.6f}  {loss:.4f}")
        if self.diagnose and self.options.architecture.name == "efficientnet_b0":
            precise = variants[f"precise {max(PRECISE)}"]
            spread = {k: stage_spread(variants[k], self.val_batches) for k in ("eval", "batch stats", f"precise {max(PRECISE)}")}
            print("  stage spread eval / batch stats:   " + " ".join(f"{a / max(b, 1e-30):.1e}" for a, b in zip(spread["eval"], spread["batch stats"])))
            print("  stage spread precise / batch stats: " + " ".join(f"{a / max(b, 1e-30):.2f}" for a, b in zip(spread[f"precise {max(PRECISE)}"], spread["batch stats"])))
            print("  running / re-estimated variance:  " + " ".join(f"{r:.1f}" for r in var_ratio(encoder, precise)))
            print("  re-estimated std (median):        " + " ".join(f"{v:.0e}" for v in stat_summary(precise, "std")))
            print("  re-estimated |mean| / std (median): " + " ".join(f"{v:.1f}" for v in stat_summary(precise, "offset")))
            residue = 0.9 ** int(encoder.trunk[0][0][1].num_batches_tracked)
            print(f"  weight left on the initial 0/1 statistics at momentum 0.1: {residue:.1e}")
            print("  share of channels whose variance is below it: " + " ".join(f"{v:.2f}" for v in stat_summary(precise, "small", residue)))
            print("  the same by BatchNorm position in the MBConv block: " + ", ".join(f"{k} {v:.2f}" for k, v in by_position(precise, residue).items()))
            for k in ("eval", "batch stats", f"precise {max(PRECISE)}"):
                dead, head_spread = head_state(variants[k], self.val_batches)
                print(f"  {k:<14} SE gates saturated {se_saturation(variants[k], self.val_batches):.3f}; head: dead units {dead:.2f}, spread/norm {head_spread:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="thesis")
    parser.add_argument("--arch", default=None)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-image-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=18)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train-per-class", type=int, default=30)
    parser.add_argument("--val-per-class", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trainer-bn-batches", type=int, default=0, help="The trainer's own re-estimation (0 = the unfixed trainer).")
    parser.add_argument("--diagnose", action="store_true", help="Per-stage spread, variance ratios, SE gates, projection head.")
    parser.add_argument("--sources", action="store_true", help="Re-estimate on training images preprocessed three ways; validate clean and after JPEG 75.")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from synthetic import write_folders_dataset

    with tempfile.TemporaryDirectory() as tmp:
        classes = ["real", "gen_a", "gen_b", "gen_c", "gen_d", "gen_e"]
        data = write_folders_dataset(Path(tmp) / "data", classes, args.train_per_class, args.val_per_class, 2, size=args.image_size)
        recipe = apply_recipe(args.recipe, dict(arch=args.arch, image_size=args.image_size, train_image_size=args.train_image_size))
        options = dict(
            data=str(data), out=str(Path(tmp) / "model"), batch_size=args.batch_size, epochs=args.epochs, patience=args.epochs,
            workers=0, device="cpu", seed=args.seed, gallery_per_class=2, bn_batches=args.trainer_bn_batches, **recipe,
        )
        trainer = ProbingTrainer(TrainOptions(**options), args.diagnose, args.sources)
        trainer.run()


if __name__ == "__main__":
    main()
