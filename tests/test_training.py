import json
import os
import signal

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.training import TrainingInterrupted, train
from conftest import tiny_train_options
from helpers import make_genimage_tree
from synthetic import synthetic_image

runner = CliRunner()


@pytest.mark.slow
def test_cli_train_then_info_json(synthetic_data, tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", "--data", str(synthetic_data), "--out", str(out), "--arch", "tiny",
                                 "--image-size", "32", "--batch-size", "16", "--epochs", "1", "--workers", "0",
                                 "--exclude", "gen_c", "--gallery-per-class", "20"])
    assert result.exit_code == 0, result.output
    for name in ("config.json", "model.safetensors", "gallery.npz", "metrics.jsonl", "checkpoint.pt"):
        assert (out / name).is_file(), name
    info = runner.invoke(app, ["info", "--model", str(out), "--json"])
    assert info.exit_code == 0, info.output
    doc = json.loads(info.stdout)
    assert doc["zero_shot_classes"] == ["gen_c"]
    assert set(doc["trained_classes"]) == {"gen_a", "gen_b", "real"}
    assert doc["embedding_dim"] == 128 and doc["image_size"] == 32
    assert len(doc["fingerprint"]) == 16
    # The gallery holds every class, the zero-shot one included.
    assert doc["gallery"]["classes"] == {"gen_a": 20, "gen_b": 20, "gen_c": 20, "real": 20}
    # the unknown rule's floors, as attribute applies them to this gallery, one per class
    from aidetect.gallery.classifier import classifier_for
    from aidetect.session import open_session

    session = open_session(str(out), device="cpu")
    expected = classifier_for(session.gallery, session.rules).unknown_thresholds
    assert set(doc["gallery"]["unknown_floors"]) == {"gen_a", "gen_b", "gen_c", "real"} == set(expected)
    assert all(abs(doc["gallery"]["unknown_floors"][c] - expected[c]) < 1e-6 for c in expected)
    table = runner.invoke(app, ["info", "--model", str(out)], env={"COLUMNS": "200"})
    assert f"gen_a: 20, unknown below {expected['gen_a']:.3f}" in table.stdout
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["epoch"] == 1 and metrics[0]["train_loss"] > 0
    # the epoch's time accounted for: waiting for batches is part of the steps' seconds
    assert 0 < metrics[0]["data_wait_s"] < metrics[0]["seconds"]
    assert metrics[0]["batchnorm_s"] >= 0 and metrics[0]["validation_s"] > 0


def _write_png(path, label, index):
    synthetic_image(label, index, 48).save(path, format="PNG")


@pytest.mark.slow
def test_genimage_es41_efficientnet_one_epoch(tmp_path):
    """The acceptance command: real EfficientNet-B0, one step at 64 px, on a tiny GenImage tree."""
    root = make_genimage_tree(tmp_path / "genimage", n_train=8, n_val=3, nested=True, image_writer=_write_png)
    out = tmp_path / "es41"
    result = runner.invoke(app, ["train", "--data", str(root), "--setting", "es4.1", "--epochs", "1",
                                 "--image-size", "64", "--max-per-class", "16", "--out", str(out), "--workers", "0",
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    doc = json.loads(runner.invoke(app, ["info", "--model", str(out), "--json"]).stdout)
    assert set(doc["zero_shot_classes"]) == {"biggan", "real", "sd14", "sd15"}
    assert set(doc["trained_classes"]) == {"adm", "glide", "midjourney", "vqdm", "wukong"}
    assert doc["architecture"] == "efficientnet_b0" and doc["setting"] == "es4.1"
    assert set(doc["gallery"]["classes"]) == {"adm", "biggan", "glide", "midjourney", "vqdm", "sd14", "sd15", "wukong", "real"}


@pytest.mark.parametrize(
    "levers, stop_at",
    [({}, (0, 5)), (dict(memory_size=40, warmup_temperature=0.5), (1, 3)),  # the memory is full by epoch 1
     (dict(extra_classes="written below", extra_classes_per_batch=2, extra_m_per_class=2), (1, 2)),
     (dict(loss="softmax"), (1, 2))],  # the classifier head resumes from the checkpoint too
    ids=["plain", "memory-and-warmup-temperature", "extra-classes", "softmax"],
)
@pytest.mark.slow
def test_resume_after_interruption_gives_the_same_weights(synthetic_data, tmp_path, levers, stop_at):
    if "extra_classes" in levers:
        from synthetic import write_folders_dataset

        levers = {**levers, "extra_classes": str(write_folders_dataset(tmp_path / "extra", ["proc_a", "proc_b", "proc_c"], 5, 0, 0))}
    options = dict(epochs=2, batch_size=16, gallery_per_class=5, **levers)
    straight = tmp_path / "straight"
    train(tiny_train_options(synthetic_data, straight, **options))

    resumed = tmp_path / "resumed"

    def interrupt(epoch, step, loss):
        if (epoch, step) == stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would

    with pytest.raises(TrainingInterrupted):
        train(tiny_train_options(synthetic_data, resumed, **options), on_step=interrupt)
    assert (resumed / "checkpoint.pt").is_file()
    train(tiny_train_options(synthetic_data, resumed, resume=True, **options))

    a = load_file(straight / "model.safetensors")
    b = load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # Checkpoints are tensors-only: loadable without unpickling arbitrary objects.
    torch.load(resumed / "checkpoint.pt", weights_only=True)


@pytest.mark.parametrize("deferred", [False, True], ids=["read-every-step", "read-as-on-a-gpu"])
def test_nan_loss_stops_with_a_message_and_keeps_last_checkpoint(synthetic_data, tmp_path, monkeypatch, deferred):
    """On a GPU losses are read every few steps, so a non-finite one is found after later steps
    have run: the run must still stop before any checkpoint holds those weights."""
    from aidetect.errors import AidetectError
    from aidetect.losses.supcon import SupConLoss
    from aidetect.training import trainer as trainer_module

    out = tmp_path / "nan"
    train(tiny_train_options(synthetic_data, out, epochs=1, batch_size=16, gallery_per_class=5))
    before = (out / "model.safetensors").read_bytes(), (out / "checkpoint.pt").read_bytes()
    if deferred:
        _read_losses_as_on_a_gpu(monkeypatch, trainer_module, every=100)
    monkeypatch.setattr(SupConLoss, "forward", lambda self, z, y: z.sum() * float("nan"))
    with pytest.raises(AidetectError, match="loss became nan at epoch 2, step 1;"):
        train(tiny_train_options(synthetic_data, out, epochs=2, batch_size=16, gallery_per_class=5, resume=True))
    assert ((out / "model.safetensors").read_bytes(), (out / "checkpoint.pt").read_bytes()) == before


def _read_losses_as_on_a_gpu(monkeypatch, trainer_module, every):
    original = trainer_module.Trainer.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.loss_read_every = every

    monkeypatch.setattr(trainer_module.Trainer, "__init__", init)


def test_reading_losses_every_few_steps_changes_nothing_trained(synthetic_data, tmp_path, monkeypatch):
    """The GPU's deferred loss reads give the same weights and the same recorded losses."""
    from aidetect.training import trainer as trainer_module

    options = dict(epochs=2, batch_size=16, gallery_per_class=5)
    every_step = train(tiny_train_options(synthetic_data, tmp_path / "a", **options))
    _read_losses_as_on_a_gpu(monkeypatch, trainer_module, every=3)
    deferred = train(tiny_train_options(synthetic_data, tmp_path / "b", **options))
    assert [h["train_loss"] for h in deferred.history] == [h["train_loss"] for h in every_step.history]
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_unreadable_training_image_is_skipped_and_counted(tmp_path):
    from synthetic import write_folders_dataset

    data = write_folders_dataset(tmp_path / "d", ["real", "gen_a"], 20, 4, 2)
    (data / "train" / "gen_a" / "broken.png").write_bytes(b"not an image at all")
    result = train(tiny_train_options(data, tmp_path / "m", epochs=1, batch_size=8, gallery_per_class=5))
    assert result.skipped_images >= 1




def test_real_weight_changes_the_loss_and_is_recorded(synthetic_data, tmp_path):
    """--real-weight reaches SupCon (the same run's first losses differ) and the model records it;
    without a real class among the trained ones it is refused before training."""
    options = dict(epochs=1, batch_size=16, max_per_class=12, gallery_per_class=4, workers=0)
    train(tiny_train_options(synthetic_data, tmp_path / "plain", **options))
    train(tiny_train_options(synthetic_data, tmp_path / "weighted", real_weight=4.0, **options))
    losses = [json.loads((tmp_path / name / "metrics.jsonl").read_text().splitlines()[0])["train_loss"]
              for name in ("plain", "weighted")]
    assert losses[0] != pytest.approx(losses[1], rel=1e-4)
    config = json.loads((tmp_path / "weighted" / "config.json").read_text())
    assert config["training"]["options"]["real_weight"] == 4.0
    result = runner.invoke(app, ["train", "--data", str(synthetic_data), "--out", str(tmp_path / "no-real"), "--arch", "tiny",
                                 "--image-size", "32", "--epochs", "1", "--workers", "0", "--exclude", "real",
                                 "--real-weight", "3"])
    assert result.exit_code == 2 and "--real-weight" in result.output and "no 'real' class" in result.output
    assert not (tmp_path / "no-real" / "model.safetensors").exists()


def test_extra_classes_train_the_encoder_only(synthetic_data, tmp_path):
    """--extra-classes: their images reach the loss (the first losses differ from a run without them)
    and the model records them, but its classes, gallery and validation stay the data's own; a
    folder whose class names clash with the data's, or no folder at all, is refused before training."""
    from synthetic import write_folders_dataset

    extra = write_folders_dataset(tmp_path / "extra", ["proc_a", "proc_b", "proc_c"], 6, 2, 0)
    options = dict(epochs=1, batch_size=16, max_per_class=12, gallery_per_class=4, workers=0)
    train(tiny_train_options(synthetic_data, tmp_path / "plain", **options))
    result = train(tiny_train_options(synthetic_data, tmp_path / "mixed", extra_classes=str(extra),
                                      extra_classes_per_batch=2, extra_m_per_class=3, **options))
    losses = [json.loads((tmp_path / name / "metrics.jsonl").read_text().splitlines()[0])["train_loss"]
              for name in ("plain", "mixed")]
    assert losses[0] != pytest.approx(losses[1], rel=1e-4)
    config = json.loads((tmp_path / "mixed" / "config.json").read_text())
    # train and val splits both train (6 + 2 a class); nothing validates on extra classes
    assert config["training"]["extra_classes"] == {"root": str(extra), "classes": 3, "images": 24, "per_batch": [2, 3]}
    assert config["training"]["batch_size"] == 16 + 2 * 3
    assert config["classes"] == json.loads((tmp_path / "plain" / "config.json").read_text())["classes"]
    doc = json.loads(runner.invoke(app, ["info", "--model", str(tmp_path / "mixed"), "--json"]).stdout)
    assert not any(c.startswith("proc_") for c in doc["gallery"]["classes"])
    assert doc["training"]["extra_classes"]["classes"] == 3
    shown = runner.invoke(app, ["info", "--model", str(tmp_path / "mixed")])
    assert "extra classes" in shown.output and "│ 3 from " in shown.output
    assert json.loads(runner.invoke(app, ["info", "--model", str(tmp_path / "plain"), "--json"]).stdout)["training"]["extra_classes"] is None
    assert result.history[0]["val_loss"] > 0

    # BatchNorm statistics come from batches drawn as in training, extra classes included (the
    # weights were trained under mixed batches' statistics); the readout/spectrum fits do not see them
    from aidetect.training.trainer import Trainer

    trainer = Trainer(tiny_train_options(synthetic_data, tmp_path / "unused", extra_classes=str(extra),
                                         extra_classes_per_batch=2, extra_m_per_class=3, **{**options, "bn_batches": 2}))
    trainer._prepare_data()
    trainer.bn_batches.epoch = 0
    for batch in trainer.bn_batches:
        indices = [i for _, i in batch]
        assert sum(i >= trainer.n_main for i in indices) == 2 * 3 and any(i < trainer.n_main for i in indices)

    clash = write_folders_dataset(tmp_path / "clash", ["gen_a", "proc_z"], 4, 0, 0)
    base = ["train", "--data", str(synthetic_data), "--arch", "tiny", "--image-size", "32", "--epochs", "1",
            "--workers", "0"]
    for folder, words in ((clash, "gen_a also a class of --data"), (tmp_path / "none", "no such folder")):
        out = tmp_path / f"refused-{folder.name}"
        result = runner.invoke(app, [*base, "--out", str(out), "--extra-classes", str(folder)])
        assert result.exit_code == 2 and words in result.output, result.output
        assert not (out / "model.safetensors").exists()


def test_softmax_loss_trains_the_encoder_with_extra_classes_and_is_recorded(synthetic_data, tmp_path):
    """--loss softmax: its head has a row for every trained and extra class (an extra class's label
    lies past the data's), the run's loss falls from where a softmax over C classes starts near
    ln C, the model records the loss, and its head is not part of the model; an unknown loss name
    is refused before anything is written."""
    import math

    from synthetic import write_folders_dataset

    extra = write_folders_dataset(tmp_path / "extra", ["proc_a", "proc_b", "proc_c"], 6, 2, 0)
    options = dict(epochs=3, batch_size=16, max_per_class=12, gallery_per_class=4, workers=0)
    result = train(tiny_train_options(synthetic_data, tmp_path / "softmax", loss="softmax", extra_classes=str(extra),
                                      extra_classes_per_batch=2, extra_m_per_class=3, **options))
    losses = [json.loads(line)["train_loss"] for line in (tmp_path / "softmax" / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((tmp_path / "softmax" / "config.json").read_text())
    n_classes = len(config["classes"]) + 3
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert losses[0] < 3 * math.log(n_classes)  # a softmax's start, not a runaway
    assert config["training"]["loss"] == "softmax"
    # the model holds the encoder alone, as a SupCon run's does: the classifier head stays behind
    train(tiny_train_options(synthetic_data, tmp_path / "supcon", **{**options, "epochs": 1}))
    assert load_file(tmp_path / "softmax" / "model.safetensors").keys() == load_file(tmp_path / "supcon" / "model.safetensors").keys()
    assert math.isfinite(result.history[-1]["val_loss"])
    refused = runner.invoke(app, ["train", "--data", str(synthetic_data), "--out", str(tmp_path / "bad"), "--arch", "tiny",
                                  "--image-size", "32", "--epochs", "1", "--workers", "0", "--loss", "arcface"])
    assert refused.exit_code == 2 and "--loss 'arcface'" in refused.output
    assert not (tmp_path / "bad").exists()
