"""benchmarks/zoo/detection_scores.py: the centred isotonic curve keeps the score's order where the step curve ties."""

from __future__ import annotations

import numpy as np

from helpers import load_script


def test_centred_isotonic_puts_each_step_at_its_centre_and_keeps_the_order():
    scores = load_script("benchmarks/zoo/detection_scores.py", "detection_scores_under_test")
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    is_ai = np.array([False, True, False, True, True, True])  # one violation: 1.0 (AI) before 2.0 (real)
    centres, values = scores.fit_centred_isotonic(x, is_ai, np.ones(6))
    # blocks of the isotonic fit: {0} -> 0, {1, 2} -> 0.5, {3, 4, 5} -> 1
    assert centres.tolist() == [0.0, 1.5, 4.0] and values.tolist() == [0.0, 0.5, 1.0]
    p = np.interp(x, centres, values)
    assert np.all(np.diff(p[:5]) > 0)  # the step curve gives 1.0 and 2.0 the same 0.5; this keeps them apart
    assert p[1] < 0.5 < p[2]


def test_a_step_sits_at_the_weighted_centre_of_its_images():
    scores = load_script("benchmarks/zoo/detection_scores.py", "detection_scores_under_test")
    # an AI image below a real one weighing three times as much: one step, P = 1/4, centred at (1·1 + 2·3) / 4
    centres, values = scores.fit_centred_isotonic(np.array([1.0, 2.0]), np.array([True, False]), np.array([1.0, 3.0]))
    assert centres.tolist() == [1.75] and values.tolist() == [0.25]
