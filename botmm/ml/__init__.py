"""Machine learning and self-optimisation: training data from the pipeline (:mod:`botmm.ml.training`), the fill
predictor and the quoter's fill-model filter (:mod:`botmm.ml.predictor`) and the auto-tuner
(:mod:`botmm.ml.autotune`); scikit-learn is imported only when a model is trained or loaded.

This package is also the ``ml`` plugin (entry point group ``botmm``): it adds ``botmm train`` through
``botmm_register_commands`` as any third-party plugin adds a command, and loading it puts the root schemas of
``botmm train``, ``botmm reoptimize`` and ``botmm supervise`` into Hydra's ConfigStore before any config is composed:
each is the job schema plus the command's own typed node.

Public for plugins: ``__all__``, the auto-tuner a strategy policy runs (the built-in ``strategy=basic`` does) and
the fill predictor a quoter filters its levels with (the built-in ``quoter=avellaneda`` does).
"""

from typing import Callable

import click
from hydra.core.config_store import ConfigStore

from botmm.ml.autotune import AutoTuneParams, AutoTuning
from botmm.ml.predictor import FEATURES, FillFilter, FillPredictor, ModelError, check_use
from botmm.ml.training import TrainJob, print_report, train
from botmm.registry import hookimpl
from botmm.runners.reoptimize import ReoptimizeJob
from botmm.runners.supervise import SuperviseJob

__all__ = ["AutoTuneParams", "AutoTuning", "FEATURES", "FillFilter", "FillPredictor", "ModelError", "check_use"]

SCHEMAS = {"botmm_train_schema": TrainJob, "botmm_reoptimize_schema": ReoptimizeJob,
           "botmm_supervise_schema": SuperviseJob}

for _name, _node in SCHEMAS.items():
    ConfigStore.instance().store(name=_name, node=_node)


@hookimpl
def botmm_register_commands(register: Callable[[click.Command], None]) -> None:
    """``botmm train``: a job command on ``conf/train.yaml``."""
    from botmm.cli import job_command

    register(job_command("train", "Generate fill-prediction training data with the pipeline, train the fill "
                                  "predictor, report held-out AUC and calibration (default: synthetic L2 replay).",
                         train, print_report))
