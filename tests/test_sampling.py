"""aidetect.data.sampling: the one per-class draw."""

from dataclasses import dataclass

import numpy as np

from aidetect.data.sampling import rows_per_class, sample_per_class, sample_rows


@dataclass(frozen=True)
class Item:
    path: str
    label: str


def test_rows_per_class_caps_each_class_and_is_seeded():
    labels = ["a"] * 30 + ["b"] * 5 + ["c"] * 12
    rows = rows_per_class(labels, 10, seed=1)
    assert list(rows) == sorted(rows)
    counts = {name: sum(labels[i] == name for i in rows) for name in "abc"}
    assert counts == {"a": 10, "b": 5, "c": 10}
    np.testing.assert_array_equal(rows, rows_per_class(labels, 10, seed=1))
    assert not np.array_equal(rows, rows_per_class(labels, 10, seed=2))
    assert len(rows_per_class(labels, None, seed=0)) == len(labels)


def test_a_class_draw_does_not_depend_on_the_other_classes():
    a = [Item(f"a/{i:03d}.png", "a") for i in range(40)]
    b = [Item(f"b/{i:03d}.png", "b") for i in range(40)]
    with_b = [s for s in sample_per_class(a + b, 7, seed=3) if s.label == "a"]
    alone = sample_per_class(a, 7, seed=3)
    assert with_b == alone
    # nor on the input order
    assert sample_per_class(list(reversed(a + b)), 7, seed=3) == sample_per_class(a + b, 7, seed=3)


def test_sample_rows_is_the_discovery_draw():
    assert list(sample_rows(5, 10, 0, "x")) == [0, 1, 2, 3, 4]
    drawn = sample_rows(100, 10, 0, "x")
    assert len(set(drawn.tolist())) == 10 and list(drawn) == sorted(drawn)
    assert not np.array_equal(drawn, sample_rows(100, 10, 0, "y"))
