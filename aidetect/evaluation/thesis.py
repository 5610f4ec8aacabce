"""The thesis's own numbers (GenImage, RTX 4070), printed beside ours when setting and data match."""

GENERATOR_ORDER = ("adm", "biggan", "glide", "midjourney", "vqdm", "sd14", "sd15", "wukong")

#: Table 4.1: detection AUC per generator (real positive).
DETECTION_AUC = {
    "es1": dict(zip(GENERATOR_ORDER, (98.2, 98.4, 98.4, 94.7, 98.3, 98.1, 98.5, 97.9))),
    "es2": dict(zip(GENERATOR_ORDER, (99.8, 99.7, 99.8, 99.6, 99.8, 99.8, 99.8, 99.8))),
    "es3": dict(zip(GENERATOR_ORDER, (74.5, 68.4, 60.3, 47.4, 48.7, 64.6, 64.6, 55.9))),
}

#: Table 4.3: attribution precision / recall / F1, zero-shot and seen (None where the thesis has "-").
ATTRIBUTION = {
    "es1": {"zero_shot": (91.2, 83.4, 87.1), "seen": (82.9, 83.6, 83.2)},
    "es2": {"zero_shot": None, "seen": (84.6, 84.3, 84.4)},
    "es4.1": {"zero_shot": (59.9, 61.3, 60.3), "seen": (83.6, 81.5, 82.3)},
    "es4.2": {"zero_shot": (60.5, 66.9, 63.2), "seen": (67.6, 61.7, 64.0)},
    "es4.3": {"zero_shot": (63.4, 54.8, 58.4), "seen": (67.1, 73.1, 69.8)},
    "es4.4": {"zero_shot": (38.2, 33.9, 35.1), "seen": (88.7, 95.9, 91.6)},
    "es4.5": {"zero_shot": (72.9, 66.0, 68.5), "seen": (68.9, 73.0, 70.7)},
}

#: Table 4.16 (ES4.1 encoder): F1 zero-shot / seen by gallery size per class.
GALLERY_SWEEP_F1 = {
    10: (49.8, 73.7), 20: (51.0, 76.0), 50: (55.2, 80.0), 100: (57.2, 80.1), 500: (57.6, 80.5),
    1000: (58.1, 80.3), 5000: (59.5, 80.8), 10000: (59.7, 81.1), 20000: (60.0, 81.2),
    50000: (60.3, 81.8), 100000: (60.0, 82.1), 162000: (60.3, 82.3),
}
