"""``aidetect evaluate`` and ``aidetect sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aidetect.cli.common import (
    BatchOption,
    DeviceOption,
    JsonOption,
    MaxPerClassOption,
    ModelOption,
    SeedOption,
    ThreadsOption,
    WorkersOption,
    apply_threads,
    print_json,
    user_errors,
)

DataOption = Annotated[Optional[Path], typer.Option("--data", help="Data root with a test split (GenImage val/, folders test/); default $AIDETECT_DATA, then `aidetect config data`.")]
OutOption = Annotated[Path, typer.Option("--out", help="Folder for the results.")]
SettingOption = Annotated[Optional[str], typer.Option("--setting", help="Check the model against this setting (es1 … es4.5); default: the model's.")]
LayoutOption = Annotated[str, typer.Option("--layout", help="auto, genimage, forensynths or folders.")]
GalleryPerClassOption = Annotated[int, typer.Option("--gallery-per-class", min=0, help="Training images per class in the gallery (0 = all).")]


def evaluate(
    out: OutOption,
    data: DataOption = None,
    model: ModelOption = None,
    setting: SettingOption = None,
    layout: LayoutOption = "auto",
    gallery_per_class: GalleryPerClassOption = 1000,
    k: Annotated[Optional[int], typer.Option("--k", min=1)] = None,
    vote: Annotated[Optional[str], typer.Option("--vote", help="weighted, majority, balanced (the weighted vote with each neighbour divided by its class's size) or centroid (each class votes by its mean embedding); default: the model's.")] = None,
    classifier: Annotated[str, typer.Option("--classifier", help="knn, centroid, ffn-centroid or ffn-representative.")] = "knn",
    perturb: Annotated[Optional[list[str]], typer.Option("--perturb", help="Test conditions besides clean: jpeg:Q, webp:Q, resize:F, crop:S, blur:S (combine with +), or wild (one seeded chain per image, docs/evaluation.md); repeat for several; 'none' for clean only. Default: jpeg:75 and wild.")] = None,
    max_per_class: MaxPerClassOption = None,
    seed: SeedOption = 0,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = 0,
    tiles: Annotated[int, typer.Option("--tiles", min=1, help="Embed each test image as detect/attribute do: the mean of up to N tiles covering it at native resolution (1 = the model's own input, the centre crop). The gallery is built as in training either way.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """The thesis's tables for a model: AUC/ACC per generator, P/R/F1 zero-shot and seen, confusion matrix."""
    with user_errors():
        apply_threads(threads)
        data = _data_root(data)  # before the library loads: a missing root is one line at once
        from aidetect.console import err
        from aidetect.evaluation.evaluate import EvalOptions
        from aidetect.evaluation.evaluate import evaluate as run_evaluation
        from aidetect.evaluation.report import print_summary

        metrics = run_evaluation(
            EvalOptions(
                data=str(data), out=str(out), model=str(model) if model else None, setting=setting, layout=layout,
                gallery_per_class=gallery_per_class or None, k=k, vote=vote, classifier=classifier, perturb=_conditions(perturb),
                seed=seed, max_per_class=max_per_class, batch_size=batch_size, workers=workers, device=device, tiles=tiles,
            )
        )
        if as_json:
            print_json(metrics)
        else:
            print_summary(metrics)
        err.print(f"wrote metrics.json, report.md, predictions.csv and confusion matrices to {out}")


def sweep(
    out: OutOption,
    data: DataOption = None,
    model: ModelOption = None,
    setting: SettingOption = None,
    layout: LayoutOption = "auto",
    sizes: Annotated[Optional[str], typer.Option("--sizes", help="Comma-separated gallery sizes per class (0 = all).")] = None,
    ks: Annotated[Optional[str], typer.Option("--ks", help="Comma-separated k values.")] = None,
    draws: Annotated[int, typer.Option("--draws", min=1, help="Seeded draws per gallery size.")] = 3,
    max_per_class: MaxPerClassOption = None,
    seed: SeedOption = 0,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Gallery size (10 … all per class) and k sweep: tables 4.16/4.17 and figures 4.1–4.4 of the thesis."""
    with user_errors():
        apply_threads(threads)
        data = _data_root(data)
        from aidetect.console import err
        from aidetect.console import out as stdout
        from aidetect.evaluation.evaluate import EvalOptions
        from aidetect.evaluation.sweep import DEFAULT_KS, DEFAULT_SIZES
        from aidetect.evaluation.sweep import sweep as run_sweep

        def ints(text, default):
            try:
                return tuple(int(v) for v in text.split(",")) if text else default
            except ValueError:
                from aidetect.errors import AidetectError

                raise AidetectError(f"{text!r} is not a comma-separated list of integers") from None

        result = run_sweep(
            EvalOptions(data=str(data), out=str(out), model=str(model) if model else None, setting=setting, layout=layout,
                        seed=seed, max_per_class=max_per_class, batch_size=batch_size, workers=workers, device=device),
            sizes=ints(sizes, DEFAULT_SIZES), ks=ints(ks, DEFAULT_KS), draws=draws,
        )
        if as_json:
            print_json(result)
        else:
            stdout.print((Path(out) / "sweep.md").read_text(), markup=False, highlight=False)
        err.print(f"wrote sweep.json, sweep.md and sweep.png to {out}")


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(sweep)


def _data_root(data: Optional[Path]) -> Path:
    """--data, else $AIDETECT_DATA, else `aidetect config data` (aidetect.home); says which on stderr."""
    from aidetect.console import err
    from aidetect.home import resolve_data_root

    choice = resolve_data_root(data)
    if choice.source != "--data":
        err.print(f"data {choice.root} (from {choice.describe()})", highlight=False, markup=False)
    return choice.root


DEFAULT_CONDITIONS = ["jpeg:75", "wild"]


def _conditions(perturb: list[str] | None) -> list[str]:
    """The test conditions besides clean: the default set, none, or the ones given."""
    if perturb is None:
        return list(DEFAULT_CONDITIONS)
    return [] if perturb == ["none"] else list(perturb)
