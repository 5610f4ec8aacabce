"""Experiment settings (ES1–ES4.5 of the thesis, product.md's table) and custom ones.

A setting says which classes the *encoder* is trained on; every other class
present in the data is zero-shot for the encoder. The k-NN gallery always holds
every class, zero-shot ones included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from aidetect.errors import AidetectError
from aidetect.labels import REAL

GENIMAGE_GENERATORS: tuple[str, ...] = ("adm", "biggan", "glide", "midjourney", "vqdm", "sd14", "sd15", "wukong")
PROGAN = "progan"
GENIMAGE_CLASSES: tuple[str, ...] = GENIMAGE_GENERATORS + (REAL,)


@dataclass(frozen=True)
class Setting:
    """Which classes the encoder sees and which it never sees.

    ``dataset`` names the layout the setting expects (``genimage``,
    ``forensynths`` or ``any``).
    """

    name: str
    dataset: str
    trained: tuple[str, ...]
    zero_shot: tuple[str, ...]
    description: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "trained_classes": list(self.trained),
            "zero_shot_classes": list(self.zero_shot),
            "description": self.description,
        }


def _leave_out(name: str, left_out: Sequence[str], description: str) -> Setting:
    trained = tuple(g for g in GENIMAGE_GENERATORS if g not in left_out)
    zero_shot = tuple(left_out) + (REAL,)
    return Setting(name, "genimage", trained, zero_shot, description)


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("es1", "genimage", GENIMAGE_GENERATORS, (REAL,), "8 generators, no real images"),
        Setting("es2", "genimage", GENIMAGE_CLASSES, (), "8 generators with real images"),
        Setting("es3", "forensynths", (PROGAN, REAL), GENIMAGE_GENERATORS,
                "ForenSynths ProGAN + real; tested on GenImage"),
        _leave_out("es4.1", ("biggan", "sd14", "sd15"), "without BigGAN, SD 1.4, SD 1.5"),
        _leave_out("es4.2", ("midjourney", "biggan", "vqdm"), "without Midjourney, BigGAN, VQDM"),
        _leave_out("es4.3", ("glide", "vqdm", "sd15"), "without GLIDE, VQDM, SD 1.5"),
        _leave_out("es4.4", ("wukong", "sd14", "sd15"), "without Wukong, SD 1.4, SD 1.5"),
        _leave_out("es4.5", ("wukong", "adm", "glide"), "without Wukong, ADM, GLIDE"),
    )
}


_LAYOUT_NAMES = {"genimage": "GenImage", "forensynths": "ForenSynths"}


def resolve_setting(
    name: str | None,
    available: Iterable[str],
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    layout: str | None = None,
    root: str | None = None,
) -> Setting:
    """The setting to train with, checked against the classes found in the data.

    ``name`` None (or ``custom``) means every available class, narrowed by
    ``include`` (keep only these) and ``exclude`` (drop these). With a named
    setting, ``include``/``exclude`` adjust its trained classes. Classes in
    the data that the encoder does not train on are zero-shot. ``layout``, the
    layout detected in the data, and ``root``, the data's folder, are named when the
    data lacks a setting's classes.
    """
    available = sorted(set(available))
    if name in (None, "", "custom", "all"):
        base_trained = tuple(available)
        label = "custom"
        dataset = "any"
        known_zero_shot: tuple[str, ...] = ()
    else:
        key = name.lower()
        if key not in SETTINGS:
            raise AidetectError(f"unknown setting {name!r}; choose one of {', '.join(SETTINGS)} or use --include/--exclude")
        setting = SETTINGS[key]
        base_trained, label, dataset = setting.trained, setting.name, setting.dataset
        known_zero_shot = setting.zero_shot
        missing = [c for c in setting.trained if c not in available]
        if missing:
            where = f"layout {layout}; " if layout else ""
            expects = (f"; {setting.name} expects {_LAYOUT_NAMES.get(setting.dataset, setting.dataset)} data"
                       if layout and setting.dataset not in ("any", layout) else "")
            raise AidetectError(
                f"setting {setting.name} trains on {', '.join(missing)}, which {root or 'the data'} does not hold "
                f"({where}found: {', '.join(available) or 'nothing'}){expects}; check --data and --layout"
            )
    trained = list(base_trained)
    if include:
        unknown = [c for c in include if c not in available]
        if unknown:
            raise AidetectError(f"--include names {', '.join(unknown)}, not in the data (found: {', '.join(available)})")
        trained = [c for c in trained if c in include] if label != "custom" else list(include)
    if exclude:
        trained = [c for c in trained if c not in exclude]
    if len(trained) < 2:
        raise AidetectError("the encoder needs at least two classes to train on; widen --include or narrow --exclude")
    if include or exclude:
        label = f"{label}+custom" if label != "custom" else "custom"
    zero_shot = [c for c in available if c not in trained]
    # A named setting's zero-shot classes count even when absent from this data
    # (es3 is trained on ForenSynths and tested on GenImage).
    zero_shot += [c for c in known_zero_shot if c not in zero_shot and c not in trained]
    return Setting(label, dataset, tuple(trained), tuple(zero_shot))
