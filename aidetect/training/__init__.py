"""Training an encoder with SupCon (or the Euclidean contrastive loss) into a model directory.

* :mod:`~aidetect.training.options`: the run's typed configs (data, loss, optimisation, runtime,
  beside the encoder's architecture, preprocessing and augmentation) composed into
  :class:`TrainOptions`;
* :mod:`~aidetect.training.trainer`: :class:`Trainer`: prepare → fit (the epoch loop) →
  calibrate and save;
* :mod:`~aidetect.training.ui`: the loop's signal, progress and error wrapper;
* :mod:`~aidetect.training.batchnorm`: BatchNorm statistics re-estimated for the weights (issue 17);
* :mod:`~aidetect.training.schedule` and :mod:`~aidetect.training.checkpoint`: the epoch's
  batches and learning rate; the ``--resume`` checkpoint.
"""

from aidetect.training.batchnorm import batchnorm_layers, recalibrate_batchnorm
from aidetect.training.options import (
    DEFAULT_BN_BATCHES,
    DEFAULT_GALLERY_PER_CLASS,
    DataConfig,
    LossConfig,
    OptimConfig,
    RuntimeConfig,
    TrainOptions,
)
from aidetect.training.trainer import Trainer, TrainResult, train
from aidetect.training.ui import TrainingInterrupted

__all__ = [
    "DEFAULT_BN_BATCHES", "DEFAULT_GALLERY_PER_CLASS", "DataConfig", "LossConfig", "OptimConfig", "RuntimeConfig",
    "TrainOptions", "TrainResult", "Trainer", "TrainingInterrupted", "batchnorm_layers", "recalibrate_batchnorm", "train",
]
