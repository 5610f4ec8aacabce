from collections import Counter

import pytest

from aidetect.data.sampler import AlignedBatchSampler, ClassBalancedBatchSampler, ExtraClassesBatchSampler, source_groups
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


def test_extra_classes_join_every_batch_without_changing_the_main_batches():
    """--extra-classes: each batch is the batch the data's own classes would have had, then k extra
    classes x m images drawn from the items after them; seeded per epoch; ids must not overlap."""
    main_labels = [i % 3 for i in range(60)]
    extra_labels = [3 + i % 10 for i in range(50)]  # 10 extra classes of 5 items, items 60..109
    plain = ClassBalancedBatchSampler(main_labels, 12, seed=4)
    sampler = ExtraClassesBatchSampler(ClassBalancedBatchSampler(main_labels, 12, seed=4), extra_labels, 4, 2, seed=4)
    assert len(sampler) == len(plain) and sampler.batch_size == 12 + 4 * 2 and sampler.m == plain.m
    labels = main_labels + extra_labels
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        sampler.set_epoch(epoch)
        for expected, batch in zip(plain, sampler):
            assert batch[:12] == expected
            extra = batch[12:]
            assert all(i >= 60 for i in extra)
            counts = Counter(labels[i] for i in extra)
            assert len(counts) == 4 and set(counts.values()) == {2}
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    # more extra classes asked for than there are: all of them
    assert ExtraClassesBatchSampler(ClassBalancedBatchSampler(main_labels, 12), [3, 3, 4, 4], 64, 2).extra_classes == 2
    with pytest.raises(ValueError, match="differ"):
        ExtraClassesBatchSampler(ClassBalancedBatchSampler(main_labels, 12), [2, 3], 1, 2)


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


def test_source_groups_match_file_names_across_class_folders():
    groups = source_groups(["d/real/a_w0.png", "d/gen/a_w0.png", "d/real/b.jpg", "d/gen/b.png", "d/gen/c.png"])
    assert groups[0] == groups[1] and groups[2] == groups[3]
    assert len(set(groups.tolist())) == 3


def test_aligned_batches_take_the_same_sources_across_classes():
    # 3 classes of 20 sources each (the same names), plus a class of 12 unrelated images
    labels = [c for c in range(3) for _ in range(20)] + [3] * 12
    groups = [g for _ in range(3) for g in range(20)] + list(range(100, 112))
    sampler = AlignedBatchSampler(labels, groups, batch_size=16, m=4, seed=0)
    assert sampler.aligned_share() == 60 / 72
    batches = list(sampler)
    assert len(batches) == len(ClassBalancedBatchSampler(labels, 16, 4))
    for batch in batches:
        assert Counter(labels[i] for i in batch) == {0: 4, 1: 4, 2: 4, 3: 4}
        by_class = {c: {groups[i] for i in batch if labels[i] == c} for c in range(3)}
        assert by_class[0] == by_class[1] == by_class[2] and len(by_class[0]) == 4
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_aligned_batches_fill_from_the_class_where_a_source_is_missing():
    labels = [0] * 10 + [1] * 4
    groups = list(range(10)) + [0, 1, 2, 3]
    for batch in AlignedBatchSampler(labels, groups, batch_size=6, m=3, seed=1):
        counts = Counter(labels[i] for i in batch)
        assert counts == {0: 3, 1: 3}
        assert len(set(batch)) == 6  # no image twice while its class has enough


def test_aligned_sampler_without_shared_sources_is_the_class_balanced_one():
    labels = [i % 3 for i in range(30)]
    aligned = AlignedBatchSampler(labels, list(range(30)), batch_size=9, seed=4)
    assert aligned.aligned_share() == 0.0
    assert list(aligned) == list(ClassBalancedBatchSampler(labels, 9, seed=4))
