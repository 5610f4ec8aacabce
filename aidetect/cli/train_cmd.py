"""``aidetect train`` and ``aidetect info``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from aidetect.cli.common import (
    DeviceOption,
    GalleryOption,
    JsonOption,
    ModelOption,
    ThreadsOption,
    apply_threads,
    print_json,
    user_errors,
)
from aidetect.config import SUPCON_MAX_TEMPERATURE, SUPCON_MIN_TEMPERATURE


def _split_classes(values: Optional[list[str]]) -> Optional[list[str]]:
    if not values:
        return None
    return [c.strip().lower() for value in values for c in value.split(",") if c.strip()]


def train(
    data: Annotated[Optional[Path], typer.Option("--data", help="Data root (GenImage, ForenSynths or folder-per-class); default $AIDETECT_DATA, then `aidetect config data`.")] = None,
    setting: Annotated[Optional[str], typer.Option("--setting", help="es1, es2, es3, es4.1 … es4.5; omit for all classes of the data.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model directory to write; default runs/<setting> (runs/es1 …), runs/model without --setting. One that holds a model needs --resume or --force.")] = None,
    include: Annotated[Optional[list[str]], typer.Option("--include", help="Train only on these classes (comma-separated or repeated).")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Leave these classes out of encoder training (they become zero-shot).")] = None,
    layout: Annotated[str, typer.Option("--layout", help="auto, genimage, forensynths or folders.")] = "auto",
    recipe: Annotated[str, typer.Option("--recipe", help="thesis (exactly the thesis), fingerprint (NPR input, stride-1 stem, aligned crops, JPEG/blur augmentation) or welch (a learned MLP over the 2-D spectrum of 256-px crops, JPEG/blur augmentation); options you give override it.")] = "thesis",
    arch: Annotated[Optional[str], typer.Option("--arch", help="Encoder: efficientnet_b0 (the thesis), welch-mlp (a learned MLP over the 2-D Welch spectrum), welch-cooc-mlp (the same with co-occurrences of pixel residuals beside the spectrum; with --recipe welch; experimental: on the zoo it learned the photos' JPEG history as 'real', docs/training.md), spectrum (no training, the yardstick) or tiny (tests).")] = None,
    init: Annotated[str, typer.Option("--init", help="random, imagenet (from the local torch cache only), a weights file, or an aidetect model directory.")] = "random",
    embedding_dim: Annotated[int, typer.Option("--embedding-dim", min=2)] = 128,
    projection_hidden: Annotated[int, typer.Option("--projection-hidden", min=0, max=65536, help="Width of the projection head's hidden layer (0 = none: one linear map); the layer --readout hidden reads.")] = 512,
    fuse_spectrum: Annotated[str, typer.Option("--fuse-spectrum", help="Append the spectrum feature to the learned embedding with this share of the similarity (0 = off), or 'auto' to choose it on the validation split.")] = "0",
    spectrum: Annotated[str, typer.Option("--spectrum", help="With --fuse-spectrum, which spectrum: radial (the yardstick's ring average) or welch (the 2-D power spectrum of 64-px tiles, projected and whitened within class on the training split; keeps a latent decoder's 8-px-cell peaks, see docs/training.md).")] = "radial",
    front_end: Annotated[Optional[str], typer.Option("--front-end", help="rgb (the thesis), npr (neighbouring-pixel residual), npr-latent (npr plus the residual over 8×8 pixel cells, the size a latent-diffusion decoder works in; crops are then aligned to 8 unless --grid says otherwise) or srm (5×5 high-pass residual).")] = None,
    stem_stride: Annotated[Optional[int], typer.Option("--stem-stride", min=1, max=2, help="2 as EfficientNet; 1 keeps fine traces.")] = None,
    image_size: Annotated[Optional[int], typer.Option("--image-size", min=8, help="Input side in pixels at inference (256 in the thesis).")] = None,
    train_image_size: Annotated[Optional[int], typer.Option("--train-image-size", min=8, help="Crop side during training (crop mode); default --image-size.")] = None,
    views: Annotated[Optional[int], typer.Option("--views", min=1, max=5, help="Crops averaged at inference: 1 centre, 5 centre and corners.")] = None,
    jpeg_p: Annotated[Optional[float], typer.Option("--jpeg-p", min=0.0, max=1.0, help="Probability of JPEG re-encoding (quality 60-100) in training.")] = None,
    blur_p: Annotated[Optional[float], typer.Option("--blur-p", min=0.0, max=1.0, help="Probability of Gaussian blur in training.")] = None,
    resize_p: Annotated[Optional[float], typer.Option("--resize-p", min=0.0, max=1.0, help="Probability of downscaling a training image (bicubic, factor 0.5-1.0) before blur and JPEG/WebP.")] = None,
    webp_p: Annotated[Optional[float], typer.Option("--webp-p", min=0.0, max=1.0, help="Probability of lossy WebP re-encoding (quality 60-95) in training, drawn with JPEG's: --jpeg-p + --webp-p <= 1.")] = None,
    preprocess: Annotated[Optional[str], typer.Option("--preprocess", help="resize (the thesis) or crop (native pixels, see docs); default resize, crop for --arch spectrum.")] = None,
    grid: Annotated[Optional[int], typer.Option("--grid", min=1, help="Align crop offsets to this many pixels.")] = None,
    loss: Annotated[str, typer.Option("--loss", help="supcon (the thesis), contrastive (Euclidean, with --margin) or softmax (a classifier head over the classes, used only in training; read the encoder with --readout hidden).")] = "supcon",
    temperature: Annotated[float, typer.Option("--temperature", help="SupCon temperature at the start; the softmax loss's fixed temperature.")] = 0.1,
    warmup_temperature: Annotated[Optional[float], typer.Option("--warmup-temperature", min=SUPCON_MIN_TEMPERATURE, max=SUPCON_MAX_TEMPERATURE, help="SupCon temperature during the warm-up epochs, then the learned one.")] = None,
    memory: Annotated[int, typer.Option("--memory", min=0, help="Cross-batch memory: embeddings of recent steps used as extra negatives/positives (0 = off).")] = 0,
    real_weight: Annotated[float, typer.Option("--real-weight", min=0.01, help="SupCon anchors (softmax terms) of the 'real' class count this many times the others (1 = the thesis); see docs/training.md.")] = 1.0,
    learned_crop: Annotated[Optional[int], typer.Option("--learned-crop", min=8, help="With --fuse-spectrum: centre window the learned part sees, while the spectrum sees the whole --image-size input.")] = None,
    readout: Annotated[str, typer.Option("--readout", help="Where the embedding is read: head (the projection head's output), stages (the trunk's stages 3-8 pooled, projected and whitened with training-split statistics; better on generators the encoder did not train on, see docs/training.md) or hidden (the head's hidden layer through the same fitted map, for heads with one, as the welch-mlp's).")] = "head",
    fixed_temperature: Annotated[bool, typer.Option("--fixed-temperature", help="Do not learn the temperature.")] = False,
    margin: Annotated[float, typer.Option("--margin", help="Margin of the contrastive loss.")] = 1.0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2, help="Images per step (186 in the thesis).")] = 186,
    m_per_class: Annotated[Optional[int], typer.Option("--m-per-class", min=2, help="Images per class per batch.")] = None,
    extra_classes: Annotated[Optional[Path], typer.Option("--extra-classes", help="A folder-per-class set whose classes' training images train the encoder beside --data's and nothing else (not the gallery, validation or calibration), e.g. procedural up-sampling networks; see docs/training.md.")] = None,
    extra_classes_per_batch: Annotated[int, typer.Option("--extra-classes-per-batch", min=1, help="With --extra-classes: extra classes added to each batch.")] = 64,
    extra_m_per_class: Annotated[int, typer.Option("--extra-m-per-class", min=1, help="With --extra-classes: images of each extra class in a batch.")] = 8,
    aligned: Annotated[bool, typer.Option("--aligned", help="Batches take the same source images across classes (files of one name in several class folders, e.g. a photo and its reconstructions), each with the same crop and augmentation, so real and generated differ only by the generator; see docs/training.md.")] = False,
    epochs: Annotated[int, typer.Option("--epochs", min=0, help="Passes over the training split; 0 keeps the initial weights (a baseline).")] = 30,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate of AdamW.")] = 1e-3,
    weight_decay: Annotated[float, typer.Option("--weight-decay")] = 0.05,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Stop after this many epochs without a better validation loss.")] = 5,
    bn_batches: Annotated[int, typer.Option("--bn-batches", min=0, help="Re-estimate BatchNorm statistics on this many training batches before each validation and save (0 = keep the running averages; see docs/training.md).")] = 16,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Decoding processes.")] = 2,
    max_per_class: Annotated[Optional[int], typer.Option("--max-per-class", min=1, help="Cap images per class and split (quick runs).")] = None,
    gallery_per_class: Annotated[int, typer.Option("--gallery-per-class", min=1, help="Training images per class in the initial gallery.")] = 1000,
    vote: Annotated[Optional[str], typer.Option("--vote", help="The vote the model ships with: weighted, majority or centroid (each class votes by its mean embedding, for readouts that spread a class wide such as --readout hidden; docs/inference.md). Default: weighted or majority, whichever classifies more validation images.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run saved in --out.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Train a new model into an --out that holds one; nothing is deleted first, its files are replaced as the new run saves.")] = False,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the encoder (faster on GPUs after a warm-up).")] = False,
    pixel_cache: Annotated[Optional[Path], typer.Option("--pixel-cache", help="Folder of decoded pixels: every image is decoded once, as epoch 1 first reads it, and read from there after; it says its disk size first. See docs/performance.md.")] = None,
) -> None:
    """Train an encoder for a setting and write a self-describing model directory."""
    with user_errors():
        apply_threads(threads)
        from aidetect.console import err
        from aidetect.config import READOUTS, AugmentConfig, check_named_vote, check_spectral_options
        from aidetect.errors import AidetectError
        from aidetect.recipes import apply_recipe

        spectrum_weight, choose_spectrum_weight = _spectrum_weight(fuse_spectrum)
        recipe_options = apply_recipe(recipe, dict(
            arch=arch, front_end=front_end, stem_stride=stem_stride, image_size=image_size, preprocess_mode=preprocess,
            grid=grid, train_image_size=train_image_size, views=views, jpeg_p=jpeg_p, blur_p=blur_p, resize_p=resize_p, webp_p=webp_p,
        ))
        if readout not in READOUTS:
            raise AidetectError(f"--readout {readout}: choose one of {', '.join(READOUTS)}")
        check_named_vote(vote)  # before anything is written
        check_spectral_options(recipe_options.get("arch"), spectrum, spectrum_weight, epochs,
                               recipe_options.get("image_size"), recipe_options.get("train_image_size"))
        AugmentConfig(jpeg_p=recipe_options.get("jpeg_p") or 0.0,
                      webp_p=recipe_options.get("webp_p") or 0.0).check_format_shares(jpeg_given=jpeg_p is not None)
        # Checked before torch is imported and before anything is written: the data root, the
        # setting against the classes the data's folders name, the model directory.
        choice, out, found_layout = _plan(data, setting, out, _split_classes(include), _split_classes(exclude), layout, resume, force)
        if extra_classes is not None and not extra_classes.is_dir():
            from aidetect.errors import AidetectError

            raise AidetectError(f"--extra-classes {extra_classes}: no such folder; give a folder-per-class set "
                                "(e.g. one built by benchmarks/zoo/procedural.py)")
        source = "" if choice.source == "--data" else f"from {choice.describe()}; "
        err.print(f"data {choice.root} ({source}{found_layout} layout); model directory {out}", highlight=False, markup=False)

        from aidetect.training import TrainOptions
        from aidetect.training import train as run_training

        options = TrainOptions(
            data=str(choice.root),
            out=str(out),
            setting=setting,
            include=_split_classes(include),
            exclude=_split_classes(exclude),
            layout=layout,
            init=init,
            embedding_dim=embedding_dim,
            projection_hidden=projection_hidden,
            spectrum_weight=spectrum_weight,
            spectrum=spectrum,
            choose_spectrum_weight=choose_spectrum_weight,
            learned_crop=learned_crop,
            readout=readout,
            **recipe_options,
            loss=loss,
            temperature=temperature,
            learnable_temperature=not fixed_temperature,
            warmup_temperature=warmup_temperature,
            memory_size=memory,
            real_weight=real_weight,
            margin=margin,
            batch_size=batch_size,
            m_per_class=m_per_class,
            aligned=aligned,
            extra_classes=str(extra_classes) if extra_classes is not None else None,
            extra_classes_per_batch=extra_classes_per_batch,
            extra_m_per_class=extra_m_per_class,
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            bn_batches=bn_batches,
            seed=seed,
            device=device,
            workers=workers,
            max_per_class=max_per_class,
            gallery_per_class=gallery_per_class,
            vote=vote,
            resume=resume,
            compile=compile_model,
            pixel_cache=str(pixel_cache) if pixel_cache else None,
        )
        result = run_training(options)
        err.print(
            f"wrote {result.out} after {result.epochs_run} epochs "
            f"(best validation loss {result.best_val_loss:.4f}, {result.skipped_images} unreadable images skipped)"
        )


DEFAULT_OUT = Path("runs/model")


def default_out(setting: Optional[str]) -> Path:
    """``runs/<setting>`` for a named setting (``runs/es1``, ``runs/es4.1``), else ``runs/model``."""
    name = (setting or "").strip().lower()
    return DEFAULT_OUT if name in ("", "custom", "all") else DEFAULT_OUT.parent / name


def _plan(data, setting, out, include, exclude, layout, resume, force):
    """The data root, the model directory and the data's layout, or one error before any work."""
    from aidetect.config import (
        CHECKPOINT_FILE,
        CONFIG_FILE,
        GALLERY_FILE,
        METRICS_FILE,
        WEIGHTS_FILE,
    )
    from aidetect.data.discovery import probe_classes
    from aidetect.errors import AidetectError
    from aidetect.home import resolve_data_root
    from aidetect.settings import resolve_setting

    if resume and force:
        raise AidetectError("--resume continues the run saved in --out and --force starts a new one over it; give one of them")
    choice = resolve_data_root(data)
    found_layout, classes = probe_classes(choice.root, layout)
    resolve_setting(setting, classes, include, exclude, layout=found_layout, root=str(choice.root))
    target = Path(out) if out is not None else default_out(setting)
    if target.exists() and not target.is_dir():
        raise AidetectError(f"--out {target} is a file; give a folder for the model directory")
    # Any of a run's files makes the folder a model directory (or the start of one).
    held = [name for name in (CONFIG_FILE, WEIGHTS_FILE, CHECKPOINT_FILE, GALLERY_FILE, METRICS_FILE) if (target / name).exists()]
    if resume and not (target / CHECKPOINT_FILE).is_file():
        raise AidetectError(f"--resume: no checkpoint at {target / CHECKPOINT_FILE}; run without --resume to start")
    if held and not (resume or force):
        raise AidetectError(
            f"{target} already holds a model ({', '.join(held)}); pass --resume to continue its run, "
            f"--force to train a new one over it, or --out DIR to write it elsewhere"
        )
    return choice, target, found_layout


def info(
    model: ModelOption = None,
    gallery: GalleryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Summarise the active model and gallery: setting, classes, zero-shot classes, fingerprints."""
    with user_errors():
        from aidetect.config import WELCH_ENCODERS
        from aidetect.home import resolve_gallery_path
        from aidetect.session import load_gallery, open_model

        loaded, choice = open_model(model, "cpu")  # verifies weights against the config
        config = loaded.config
        gallery_path = resolve_gallery_path(choice, config.fingerprint, gallery)
        gallery_info = None
        if gallery_path.exists():
            from aidetect.gallery.classifier import classifier_for

            gal = load_gallery(gallery_path, config)
            # the unknown rule's floor of each class, as attribute applies it to this gallery (recomputed
            # whenever the gallery changes): an analyst reads how far a verdict was from `unknown`
            floors = classifier_for(gal, config.classifier).unknown_thresholds if len(gal) else {}
            gallery_info = {"path": str(gallery_path), "fingerprint": gal.fingerprint, "size": len(gal), "classes": gal.classes(),
                            "unknown_floors": {name: round(float(floor), 6) for name, floor in sorted(floors.items())}}
        document = {
            "model": str(choice.folder),
            "model_source": choice.source,
            "fingerprint": config.fingerprint,
            "architecture": config.architecture.name,
            "recipe": {
                "name": config.recipe,
                "front_end": config.architecture.front_end,
                # an MLP encoder has no stem: its stride would describe nothing it has
                "stem_stride": None if config.architecture.name in WELCH_ENCODERS else config.architecture.stem_stride,
                "spectrum_weight": config.architecture.spectrum_weight,
                "spectrum": config.architecture.spectrum,
                "learned_crop": config.architecture.learned_crop,
                "readout": config.architecture.readout,
            },
            "embedding_dim": config.architecture.output_dim,
            "image_size": config.preprocess.image_size,
            "preprocess": config.preprocess.mode,
            "setting": config.setting.get("name"),
            "trained_classes": config.trained_classes,
            "zero_shot_classes": config.zero_shot_classes,
            "classifier": asdict(config.classifier),
            "training": {k: config.training.get(k) for k in ("epochs_run", "best_val_loss", "temperature", "device", "init",
                                                             "extra_classes")},
            "gallery": gallery_info or {"path": str(gallery_path), "classes": {}},
        }
        if as_json:
            print_json(document)
            return
        from rich.table import Table

        from aidetect.config import DETECTION_SCORE_NAMES, unknown_reads_rows
        from aidetect.console import out

        table = Table(title=f"aidetect model {config.fingerprint}", show_header=False)
        for key in ("model", "architecture", "embedding_dim", "image_size", "preprocess", "setting"):
            table.add_row(key, str(document[key]))
        table.add_row("recipe", _describe_recipe(config))
        table.add_row("trained classes", ", ".join(document["trained_classes"]))
        table.add_row("zero-shot classes", ", ".join(document["zero_shot_classes"]) or "none")
        extra = config.training.get("extra_classes")
        if extra:
            table.add_row("extra classes", f"{extra['classes']} from {extra['root']} ({extra['images']} images; "
                                           "trained the encoder only, not in the gallery)")
        rules = config.classifier
        on = f"P(AI) from the {DETECTION_SCORE_NAMES[rules.detection_score]}" if rules.calibrated else "the AI vote share"
        table.add_row("vote / detection", f"{rules.vote} / AI when {on} >= {rules.detect_threshold:.3f}")
        classes = document["gallery"]["classes"]
        floors = document["gallery"].get("unknown_floors", {})
        measure = "similarity to its nearest image" if unknown_reads_rows(rules.vote, rules.unknown_on) else "cosine to its mean"
        table.add_row("gallery", f"{document['gallery']['path']} ({sum(classes.values())} embeddings; "
                                 f"per class: its images, and unknown below its floor on the {measure})")
        for name, count in classes.items():
            floor = f"unknown below {floors[name]:.3f}" if name in floors else "no unknown floor (under 5 images)"
            table.add_row("", f"{name}: {count}, {floor}")
        out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(info)


#: What each MLP encoder reads, for the recipe line (`aidetect info`).
_MLP_INPUTS = {
    "welch-mlp": "the 2-D Welch spectrum of the high-pass residual",
    "welch-cooc-mlp": "the 2-D Welch spectrum of the high-pass residual and co-occurrences of pixel residuals",
}


def _describe_recipe(config) -> str:
    """One line: the recipe's name and the options that change what the encoder sees."""
    arch = config.architecture
    if arch.name in _MLP_INPUTS:  # no CNN: a stem stride would describe nothing it has
        parts = [f"{config.recipe}: a learned MLP over {_MLP_INPUTS[arch.name]}"]
    else:
        parts = [f"{config.recipe}: {arch.front_end} input, stem stride {arch.stem_stride}"]
    if arch.readout == "stages":
        parts.append("embedding read from the trunk's stages")
    elif arch.readout == "hidden":
        parts.append("embedding read from the head's hidden layer")
    if arch.spectrum_weight > 0:
        window = f" (learned part on the centre {arch.learned_crop} px)" if arch.learned_crop else ""
        parts.append(f"fused with the {arch.spectrum} spectrum, weight {arch.spectrum_weight}{window}")
    return "; ".join(parts)


def _spectrum_weight(value: str) -> tuple[float, bool]:
    """``--fuse-spectrum``: a share in [0, 1) (0 = no fusion), or ``auto`` (start at 0.5, choose on validation)."""
    from aidetect.errors import AidetectError

    if value.strip().lower() == "auto":
        return 0.5, True
    try:
        weight = float(value)
    except ValueError:
        raise AidetectError(f"--fuse-spectrum {value!r}: give a share between 0 and 1, e.g. 0.5, or 'auto'") from None
    if not 0 <= weight < 1:
        raise AidetectError(f"--fuse-spectrum {value}: the share must lie in [0, 1), e.g. 0.5, or be 'auto'")
    return weight, False
