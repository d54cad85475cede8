"""Compile and fit with Keras callbacks: CSV history, NaN stop, backup/restore for resume, early stopping."""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import threading
import time

import keras

from . import backend, rundir, tracking
from .files import read_json, write_atomic

log = logging.getLogger(__name__)

BACKUP_DIR = "backup"
STOP = threading.Event()  # a stop was asked for (the runner's SIGTERM handler sets it)


def optimizer(opt_cfg) -> keras.optimizers.Optimizer:
    """`decay` is the legacy Keras per-step decay the study used: lr / (1 + decay * step)."""
    lr = opt_cfg.lr
    if opt_cfg.decay:
        lr = keras.optimizers.schedules.InverseTimeDecay(opt_cfg.lr, decay_steps=1, decay_rate=opt_cfg.decay)
    if opt_cfg.name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=opt_cfg.momentum, nesterov=opt_cfg.nesterov)
    return keras.optimizers.Adam(learning_rate=lr)


def compile_model(model: keras.Model, training_cfg) -> None:
    model.compile(optimizer=optimizer(training_cfg.optimizer), loss="categorical_crossentropy",
                  metrics=["accuracy"])


class EpochLedger:
    """One entry per finished epoch, in a JSON file of the backup folder (none without one), rewritten atomically
    at each epoch's end before BackupAndRestore's checkpoint of the epoch (its callback runs earlier), so a resumed
    run finds an entry for every epoch its checkpoint holds; entries past the checkpoint (a kill between the two
    writes) are dropped on restore, as those epochs run again."""

    def __init__(self, backup_dir: str | None, name: str, key: str):
        self.backup_dir, self.name, self.key = backup_dir, name, key
        self.entries: list = []

    def restore(self) -> list:
        if self.backup_dir:
            saved = read_json(os.path.join(self.backup_dir, self.name)) or {}
            self.entries = list(saved.get(self.key, []))[:finished_epochs(os.path.dirname(self.backup_dir))]
        return self.entries

    def append(self, entry) -> None:
        self.entries.append(entry)
        if self.backup_dir:
            os.makedirs(self.backup_dir, exist_ok=True)
            write_atomic(os.path.join(self.backup_dir, self.name),
                         lambda f: json.dump({self.key: self.entries}, f), binary=False)


class TrainClock(keras.callbacks.Callback):
    """Seconds spent in training steps, validation excluded, and the epochs they timed: each finished epoch's
    seconds in an EpochLedger (the clock comes first in `fit`'s callbacks), so a resumed run carries on the
    seconds of exactly the epochs its backup holds (an epoch cut short is timed again when it runs again)."""

    FILE = "train_clock.json"

    def __init__(self, backup_dir: str | None = None):
        super().__init__()
        self.ledger = EpochLedger(backup_dir, self.FILE, "epoch_seconds")
        self._start = self._end = None

    @property
    def seconds(self) -> float:
        return float(sum(self.ledger.entries))

    @property
    def epochs(self) -> int:
        return len(self.ledger.entries)

    def on_train_begin(self, logs=None):
        self.ledger.restore()

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        self._end = time.perf_counter()  # the epoch's validation is not training

    def on_epoch_end(self, epoch, logs=None):
        self.ledger.append((self._end or time.perf_counter()) - self._start)


class HonourStop(keras.callbacks.Callback):
    """Ends training at the next batch once a stop was asked for (STOP), also where code inside a training step
    or a callback swallowed the KeyboardInterrupt that the signal handler raised."""

    def on_train_batch_end(self, batch, logs=None):
        if STOP.is_set():
            raise KeyboardInterrupt("stop requested")

    on_epoch_end = on_train_batch_end


class EpochLog(keras.callbacks.Callback):
    """One log line per epoch (Hydra sends it to the run's log file)."""

    def on_epoch_end(self, epoch, logs=None):
        values = " ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        log.info("epoch %d/%d %s", epoch + 1, self.params.get("epochs", 0), values)


class RandomStateBackup(keras.callbacks.Callback):
    """Keeps the state of the model's random generators (dropout masks, augmentation) at the end of each epoch
    in an EpochLedger next to BackupAndRestore's checkpoint, which holds weights and optimizer but not these, so
    a resumed run draws what an uninterrupted one would (first in `callbacks`, before the checkpoint)."""

    FILE = "random_state.json"

    def __init__(self, backup_dir: str):
        super().__init__()
        self.ledger = EpochLedger(backup_dir, self.FILE, "by_epoch")

    def _states(self):
        return [v for v in self.model.variables if v.path.endswith("seed_generator_state")]

    def on_train_begin(self, logs=None):
        kept = self.ledger.restore()
        if kept and len(kept[-1]) == len(self._states()):
            for variable, value in zip(self._states(), kept[-1]):
                variable.assign(value)

    def on_epoch_end(self, epoch, logs=None):
        self.ledger.append([[int(x) for x in keras.ops.convert_to_numpy(v.value)] for v in self._states()])


class Backup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, kept until the run's record is written (drop_backup) rather than deleted when
    training ends, so a run interrupted while it evaluates resumes without training again; and written so that a
    write that fails (no space, a quota, a file-size limit) or is killed leaves the last finished epoch's
    checkpoint whole: the epoch's weights and metadata go to files beside it, each renamed over its own once both
    are complete (weights first: a kill between the two renames runs that epoch again)."""

    NEXT = ".next"

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir, delete_checkpoint=False)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = os.path.join(self.backup_dir, self.NEXT + ".weights.h5")  # Keras asks for the .weights.h5 ending
        metadata = self._training_metadata_path + self.NEXT
        try:
            self.model.save_weights(weights, overwrite=True)
            write_atomic(metadata, lambda f: json.dump({"epoch": self._current_epoch,
                                                        "batch": self._last_batch_seen}, f), binary=False)
        except BaseException:
            for partial in (weights, metadata):
                if os.path.exists(partial):
                    os.unlink(partial)
            raise
        os.replace(weights, self._weights_path)
        os.replace(metadata, self._training_metadata_path)


def drop_backup(run_dir: str) -> None:
    """The backup of a run whose record is written: no longer needed to resume it."""
    shutil.rmtree(os.path.join(run_dir, BACKUP_DIR), ignore_errors=True)


def finished_epochs(run_dir: str) -> int:
    """Epochs already done by an interrupted run, from the backup that BackupAndRestore keeps."""
    meta = read_json(os.path.join(run_dir, BACKUP_DIR, "training_metadata.json")) or {}
    return int(meta.get("epoch", 0))  # Keras stores the count of finished epochs


def callbacks(run_dir: str, training_cfg) -> list[keras.callbacks.Callback]:
    cbs = [
        RandomStateBackup(os.path.join(run_dir, BACKUP_DIR)),  # before the checkpoint: see its docstring
        Backup(os.path.join(run_dir, BACKUP_DIR)),
        keras.callbacks.CSVLogger(os.path.join(run_dir, rundir.HISTORY), append=True),
        keras.callbacks.TerminateOnNaN(),
        EpochLog(),
        HonourStop(),
        backend.tensorboard_callback(os.path.join(run_dir, "tensorboard")),  # scalars per epoch
    ]
    stop = training_cfg.early_stopping
    if stop.enabled:
        cbs.append(keras.callbacks.EarlyStopping(monitor=stop.monitor, patience=stop.patience,
                                                 restore_best_weights=True))
    return cbs + tracking.keras_callbacks()  # logger=mlflow: MLflow's callback logs each epoch


def fit(model: keras.Model, train_batches, steps: int, images_per_epoch: int, val, training_cfg,
        run_dir: str) -> dict:
    """Train on `train_batches` (an iterator of every epoch's batches, data.training_batches), validate on
    `val` ((inputs, one-hot labels) or None); return what happened: epochs run in this attempt, seconds in
    training steps and images/s over every attempt's epochs (TrainClock), and whether the loss went NaN."""
    clock = TrainClock(os.path.join(run_dir, BACKUP_DIR))
    every = [clock, *callbacks(run_dir, training_cfg)]  # the clock's file before the checkpoint
    done, epochs = finished_epochs(run_dir), training_cfg.epochs
    if done >= epochs:  # an earlier attempt trained them all, then was stopped
        log.info("training: all %d epoch(s) were trained by an earlier attempt; its weights come from the backup",
                 epochs)
        keras.callbacks.CallbackList([cb for cb in every if isinstance(cb, (TrainClock, Backup))],
                                     model=model).on_train_begin()
        history = {}
    else:
        log.info("training: %d epoch(s) of %d steps%s", epochs, steps, f", from epoch {done + 1}" if done else "")
        history = model.fit(train_batches, validation_data=val, validation_batch_size=training_cfg.batch_size,
                            epochs=epochs, steps_per_epoch=steps, shuffle=False, callbacks=every,
                            verbose=1 if sys.stdout.isatty() else 2).history  # shuffle=False: the seed's order
    images = clock.epochs * images_per_epoch
    return {"epochs_this_session": len(history.get("loss", [])), "train_seconds": clock.seconds,
            "diverged": _nan_in(history), "images_per_second": images / clock.seconds if clock.seconds else None}


def _nan_in(history: dict) -> bool:
    return any(math.isnan(v) for values in history.values() for v in values)


def linear_probe(model: keras.Model, base: keras.Model, train_batches, steps: int, val, training_cfg,
                 freeze_spec: str) -> dict:
    """The LP phase of LP-FT (training.strategy=lp_ft): train the head on a frozen base for
    training.lp_epochs at training.lp_lr (same optimizer kind, no decay), then unfreeze the base per
    model.freeze and recompile with the configured optimizer, ready for the fine-tuning phase."""
    from types import SimpleNamespace

    from .model import freeze

    opt = training_cfg.optimizer
    lp_opt = SimpleNamespace(name=opt.name, lr=training_cfg.lp_lr, momentum=opt.momentum, nesterov=opt.nesterov,
                             decay=0.0)
    base.trainable = False
    model.compile(optimizer=optimizer(lp_opt), loss="categorical_crossentropy", metrics=["accuracy"])
    clock = TrainClock()
    history = model.fit(train_batches, validation_data=val, validation_batch_size=training_cfg.batch_size,
                        epochs=training_cfg.lp_epochs, steps_per_epoch=steps, shuffle=False,
                        callbacks=[keras.callbacks.TerminateOnNaN(), EpochLog(), HonourStop(), clock],
                        verbose=1 if sys.stdout.isatty() else 2).history
    freeze(base, freeze_spec)
    compile_model(model, training_cfg)
    return {"epochs": len(history.get("loss", [])), "train_seconds": clock.seconds, "diverged": _nan_in(history),
            **{k: v[-1] for k, v in history.items() if v}}
