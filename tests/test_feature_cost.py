"""benchmarks/feature_cost.py: the welch recipe's fixed readings timed side by side."""

import torch

from helpers import load_script


def test_the_cost_benchmark_prints_every_reading_and_both_training_steps(capsys):
    script = load_script("benchmarks/feature_cost.py", "feature_cost_under_test")
    threads = torch.get_num_threads()
    try:
        assert script.main(["--batch-size", "2", "--image-size", "64", "--repeats", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets one thread for the rest of its process
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "ms an image" not in line]
    step = "training step (forward + backward)"
    assert [r[0] for r in rows] == ["Welch spectrum, reading", "co-occurrences, reading",
                                    f"welch-mlp, {step}", f"welch-cooc-mlp, {step}"]
    assert all(float(r[1]) >= 0 and float(r[2]) >= 0 for r in rows)
    # each kind is set against its own first row (a step against the welch-mlp's step, not against a reading)
    assert rows[0][2] == rows[2][2] == "1.00"
