"""``aidetect explain`` (LIME map of one image) and ``aidetect visualize`` (UMAP of the embedding space)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aidetect.cli.common import (
    BatchOption,
    DeviceOption,
    JsonOption,
    ModelOption,
    ThreadsOption,
    WorkersOption,
    apply_threads,
    print_json,
    user_errors,
)
from aidetect.config import EXPLAIN_SAMPLES, EXPLAIN_SEGMENTS

# Kept in step with aidetect.explain (not imported here: --help must not import the library).


def explain(
    image: Annotated[Path, typer.Argument(help="The image file to explain.")],
    out: Annotated[Path, typer.Option("--out", help="PNG to write: superpixels, top segments, heat map of LIME weights.")],
    samples: Annotated[
        int,
        typer.Option(
            "--samples", min=2,
            help="Perturbed views to embed. The default suits a CPU: EfficientNet-B0 at 256 px took about 45 ms "
            "per view on 2 free cores (500 views ≈ 25 s; several times longer on a busy machine); "
            "the thesis used 10,000 (≈ 8 min on such a CPU, far less on a GPU).",
        ),
    ] = EXPLAIN_SAMPLES,
    segments: Annotated[int, typer.Option("--segments", min=1, help="Superpixels to aim for (SLIC may make a few more or fewer).")] = EXPLAIN_SEGMENTS,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the masks; the same seed gives the same explanation.")] = 0,
    segmenter: Annotated[str, typer.Option("--segmenter", help="auto (slic if scikit-image is installed, else grid), slic, quickshift or grid.")] = "auto",
    fill: Annotated[str, typer.Option("--fill", help="Colour of hidden segments: mean (the image's mean colour) or grey (0.5).")] = "mean",
    top: Annotated[int, typer.Option("--top", min=0, help="Segments to highlight.")] = 5,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    batch_size: BatchOption = 16,
    as_json: JsonOption = False,
) -> None:
    """Which regions of an image hold its embedding? LIME over superpixels (thesis 4.6), written as a PNG."""
    with user_errors():
        apply_threads(threads)
        from aidetect.console import err
        from aidetect.console import out as stdout
        from aidetect.errors import AidetectError
        from aidetect.explain import FILLS, explain_image, save_explanation_png
        from aidetect.session import open_model

        if fill not in FILLS:
            raise AidetectError(f"--fill {fill!r}: choose one of {', '.join(FILLS)}")
        if out.suffix.lower() != ".png":
            raise AidetectError(f"--out {out}: give a file name ending in .png")
        loaded, _ = open_model(model, device)
        explanation = explain_image(
            loaded, image, samples=samples, segments=segments, seed=seed, batch_size=batch_size,
            segmenter=segmenter, fill=fill, top=top,
        )
        save_explanation_png(explanation, out)
        summary = explanation.to_dict()
        summary["out"] = str(out)
        if as_json:
            print_json(summary)
        else:
            stdout.print(
                f"{image}: {explanation.n_segments} segments ({explanation.segmenter}), {explanation.samples} samples, "
                f"weighted R² {explanation.score:.3f}; view similarity min {explanation.similarities.min():.4f}",
                highlight=False,
            )
            for rank, entry in enumerate(summary["top_segments"], start=1):
                stdout.print(
                    f"  {rank}. segment {entry['segment']:>3}  weight {entry['weight']:+.5f}  "
                    f"{entry['pixels']} px around (row {entry['centre'][0]}, col {entry['centre'][1]})",
                    highlight=False,
                )
        for note in explanation.notes:
            err.print(f"note: {note}", highlight=False)
        err.print(f"wrote {out} ({explanation.seconds:.1f} s, {explanation.ms_per_sample:.1f} ms per sample)", highlight=False)


def visualize(
    out: Annotated[Path, typer.Option("--out", help="PNG to write: the 2-D map with centroids, 1-std ellipses and a legend.")],
    gallery_file: Annotated[
        Optional[Path],
        typer.Argument(metavar="G", show_default=False, help="With --gallery: the gallery file (default: the model's gallery)."),
    ] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Map the test split of this data root (embedded through the evaluation cache).")] = None,
    gallery: Annotated[bool, typer.Option("--gallery", help="Map a gallery: G, or the model's own when G is left out.")] = False,
    per_class: Annotated[int, typer.Option("--per-class", min=1, help="At most this many images per class (a seeded draw).")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the subsample and of UMAP.")] = 0,
    neighbors: Annotated[int, typer.Option("--neighbors", min=2, help="UMAP n_neighbors.")] = 15,
    layout: Annotated[str, typer.Option("--layout", help="With --data: auto, genimage, forensynths or folders.")] = "auto",
    model: ModelOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    batch_size: BatchOption = 64,
    workers: WorkersOption = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Also print one JSON document on stdout: per-class statistics and every point's 2-D coordinates.")] = False,
) -> None:
    """A UMAP (cosine) map of the embedding space: which generators sit near which. Needs `pip install 'aidetect\\[viz]'`."""
    with user_errors():
        apply_threads(threads)
        from aidetect.console import err
        from aidetect.console import out as stdout
        from aidetect.errors import AidetectError

        if gallery_file is not None and not gallery:
            raise AidetectError(f"{gallery_file}: to map a gallery file, write --gallery {gallery_file}")
        if (data is None) == (not gallery):
            raise AidetectError("name what to map: --data ROOT (its test split) or --gallery [G] (a gallery file, default the model's)")
        if out.suffix.lower() != ".png":
            raise AidetectError(f"--out {out}: give a file name ending in .png")
        from aidetect.evaluation.visualize import (
            _require_umap,
            data_points,
            embedding_map,
            gallery_points,
            save_map_png,
        )

        _require_umap()  # fail before embedding anything
        if data is not None:
            points, loaded = data_points(data, model=model, per_class=per_class, seed=seed, layout=layout, batch_size=batch_size, workers=workers, device=device)
            config = loaded.config
        else:
            from aidetect.home import resolve_gallery_path
            from aidetect.session import load_gallery, open_model_config

            config, choice = open_model_config(model)
            path = resolve_gallery_path(choice, config.fingerprint, gallery_file)
            loaded_gallery = load_gallery(path, config)
            points = gallery_points(loaded_gallery, per_class=per_class, seed=seed, source=f"gallery {path}")
        err.print(f"UMAP of {len(points.labels)} embeddings ({len(set(points.labels))} classes)…", highlight=False)
        result = embedding_map(points, trained_classes=config.trained_classes, model_fingerprint=config.fingerprint, seed=seed, n_neighbors=neighbors)
        save_map_png(result, out)
        if as_json:
            document = result.to_dict()
            document["out"] = str(out)
            print_json(document)
        else:
            from rich.table import Table

            table = Table(title=f"classes in {result.source} (original embedding space)")
            for column in ("class", "images", "zero-shot", "spread", "nearest class", "centroid similarity"):
                table.add_column(column, justify="right" if column in ("images", "spread", "centroid similarity") else "left")
            for name in result.classes:
                s = result.stats[name]
                table.add_row(
                    name, str(s["n"]), "yes" if name in result.zero_shot else "", f"{s['spread']:.4f}",
                    s["nearest_class"] or "–", "–" if s["nearest_centroid_similarity"] is None else f"{s['nearest_centroid_similarity']:.4f}",
                )
            stdout.print(table)
        for note in result.notes:
            err.print(f"note: {note}", highlight=False)
        err.print(f"wrote {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(explain)
    app.command()(visualize)
