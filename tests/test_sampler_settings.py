from collections import Counter

import pytest

from aidetect.data.sampler import ClassBalancedBatchSampler
from aidetect.errors import AidetectError
from aidetect.settings import GENIMAGE_CLASSES, SETTINGS, resolve_setting


def test_every_batch_has_m_per_class_and_every_anchor_a_positive():
    labels = [0] * 50 + [1] * 7 + [2] * 30
    sampler = ClassBalancedBatchSampler(labels, batch_size=12, seed=3)
    assert sampler.m == 4 and sampler.batch_size == 12
    for batch in sampler:
        counts = Counter(labels[i] for i in batch)
        assert counts == {0: 4, 1: 4, 2: 4}


def test_sampler_is_seeded_per_epoch():
    labels = [i % 3 for i in range(60)]
    a = ClassBalancedBatchSampler(labels, 9, seed=1)
    b = ClassBalancedBatchSampler(labels, 9, seed=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_thesis_batch_with_nine_classes_rounds_down():
    sampler = ClassBalancedBatchSampler([i % 9 for i in range(900)], batch_size=186)
    assert sampler.m == 20 and sampler.batch_size == 180


def test_more_classes_than_fit_in_a_batch():
    labels = [i % 20 for i in range(400)]
    sampler = ClassBalancedBatchSampler(labels, batch_size=8, m=2)
    for batch in sampler:
        counts = Counter(labels[i] for i in batch)
        assert len(counts) == 4 and set(counts.values()) == {2}


EXPECTED = {
    "es1": ({"adm", "biggan", "glide", "midjourney", "vqdm", "sd14", "sd15", "wukong"}, {"real"}),
    "es2": (set(GENIMAGE_CLASSES), set()),
    "es4.1": ({"adm", "glide", "midjourney", "vqdm", "wukong"}, {"biggan", "sd14", "sd15", "real"}),
    "es4.2": ({"adm", "glide", "sd14", "sd15", "wukong"}, {"midjourney", "biggan", "vqdm", "real"}),
    "es4.3": ({"adm", "biggan", "midjourney", "sd14", "wukong"}, {"glide", "vqdm", "sd15", "real"}),
    "es4.4": ({"adm", "biggan", "glide", "midjourney", "vqdm"}, {"wukong", "sd14", "sd15", "real"}),
    "es4.5": ({"biggan", "midjourney", "vqdm", "sd14", "sd15"}, {"wukong", "adm", "glide", "real"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_genimage_settings_match_product_table(name):
    trained, zero_shot = EXPECTED[name]
    setting = resolve_setting(name, GENIMAGE_CLASSES)
    assert set(setting.trained) == trained
    assert set(setting.zero_shot) == zero_shot


def test_es3_trains_on_progan_and_real_and_lists_genimage_as_zero_shot():
    setting = resolve_setting("es3", ["progan", "real"])
    assert set(setting.trained) == {"progan", "real"}
    assert set(setting.zero_shot) == set(SETTINGS["es3"].zero_shot)


def test_custom_include_exclude():
    s = resolve_setting(None, ["a", "b", "c", "real"], exclude=["c"])
    assert set(s.trained) == {"a", "b", "real"} and s.zero_shot == ("c",)
    s = resolve_setting(None, ["a", "b", "c", "real"], include=["a", "b"])
    assert set(s.zero_shot) == {"c", "real"}
    s = resolve_setting("es2", GENIMAGE_CLASSES, exclude=["midjourney"])
    assert "midjourney" in s.zero_shot and "midjourney" not in s.trained


def test_setting_errors_are_one_sentence():
    with pytest.raises(AidetectError, match="unknown setting"):
        resolve_setting("es9", GENIMAGE_CLASSES)
    with pytest.raises(AidetectError, match="does not hold"):
        resolve_setting("es1", ["real", "adm"])
    with pytest.raises(AidetectError, match="at least two"):
        resolve_setting(None, ["a", "b"], include=["a"])
