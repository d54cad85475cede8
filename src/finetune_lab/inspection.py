"""What finetune-lab-predict (predict.py, the study's E1) and finetune-lab-features (feature_grids.py, E2) share:
checks of their options before any model is built, and an image file as a model's input.

Model input: with named weights or a weights file, an image is resized to the base's ImageNet input (224;
features: --size) and goes through the base's own preprocess_input (vgg16's for vgg16); a gray file has its gray
copied to R, G and B. With --run, the run's data config decides (see run_input). Everything the user named is
checked before any model is built, except a non-VGG16 base's ImageNet weights, which Keras finds as it builds
the base (the same one-line error: how to get them).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from . import backend, catalog, images
from .errors import UserError
from .rundir import load_run_config

DEFAULT_BASE = "vgg16"
RUN_DECIDES = {"base": "model.base", "size": "data.input_size"}  # options a run's own config answers


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: an integer >= 1")
    return value


def add_base_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", choices=catalog.KERAS_BASES, metavar="NAME",
                        help=f"the Keras Applications base for --weights (default {DEFAULT_BASE}; not with --run): "
                             + ", ".join(catalog.KERAS_BASES))


# ----- checks (no TensorFlow) -----

@dataclass
class Run:
    folder: str
    model_file: str
    cfg: DictConfig  # the run's saved config, checked


def open_run(run_dir: str) -> Run:
    """A finished run folder: its saved config (checked) and its model.keras."""
    allowed = "a finished run folder that holds .hydra/config.yaml and model.keras"
    if not os.path.isdir(run_dir):
        raise UserError(f"--run {run_dir!r}: no such folder; allowed: {allowed}")
    model_file = os.path.join(run_dir, "model.keras")
    if not os.path.isfile(model_file):
        raise UserError(f"--run {run_dir!r}: no model.keras (the run did not finish, or ran with "
                        f"output.save_model=false); allowed: {allowed}")
    try:
        cfg = load_run_config(run_dir)
        backend.start(cfg.device, cfg.training.deterministic)
    except UserError as exc:
        raise UserError(f"--run {run_dir!r}: {exc}") from None
    return Run(run_dir, model_file, cfg)


def read_images(paths: list[str]) -> list[np.ndarray]:
    return [images.read_image(p) for p in paths]


def check_without_run(args: argparse.Namespace) -> None:
    """With --run, the options the run's own config answers (RUN_DECIDES) are not allowed."""
    for option, key in RUN_DECIDES.items():
        value = getattr(args, option, None)
        if value is not None:
            raise UserError(f"--{option} {value}: not allowed with --run (the run's model takes its own {key})")


def start_backend() -> None:
    """Default devices for named weights (a run starts its own): the backend of $KERAS_BACKEND (default
    tensorflow), quiet, GPU memory growth."""
    from .config import DeviceConfig

    backend.start(DeviceConfig(backend=os.environ.get("KERAS_BACKEND", "tensorflow")))


# ----- model input -----

def base_inputs(photos: list[np.ndarray], base: str, size: int) -> np.ndarray:
    """RGB 0..255 images of any size -> `base`'s input at size x size (resized, then the base's own
    preprocess_input)."""
    from .original_task import base_input

    return base_input(base)(images.resize(photos, size))


def run_input(data_cfg, photo: np.ndarray, base: str | None = None) -> np.ndarray:
    """One RGB 0..255 image as the run's model input (data_cfg: the run's `data` config; base: its model.base,
    whose preprocessing data.preprocess=base applies).

    A gray image (a digit) goes the run's own way: a 28x28 one is placed exactly as in training
    (data.placement), any other size is resized to data.input_size; then the run's channel rule (seed,
    replicate, gray) and preprocessing. A 28x28 gray file of a digit thus becomes the input the run's test
    digits became. A colour image is resized and keeps its three channels (a 1-channel model gets its
    luminance): the run never saw colour, so this is the least-altered input, not a like-for-like one."""
    from . import data

    gray = images.is_gray(photo)
    x = photo[..., :1] if gray else photo
    if x.shape[:2] == (catalog.DIGIT_SIZE, catalog.DIGIT_SIZE):
        x = np.asarray(data.place(x[np.newaxis], data_cfg.input_size, data_cfg.placement))[0]
    else:
        x = images.resize([x], data_cfg.input_size)[0]
    if gray:
        x = np.asarray(data.to_channels(np.asarray(x, np.float32), data_cfg.channels))
    elif data_cfg.channels == "gray":
        x = (x @ np.asarray(data.LUMINANCE, np.float32))[..., np.newaxis]
    return np.asarray(data.preprocess(np.asarray(x, np.float32), data_cfg.preprocess, base))


def load_run_model(run: Run):
    import keras

    try:
        return keras.models.load_model(run.model_file, compile=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file: one line for the user
        from .sources import first_line

        raise UserError(f"--run {run.folder!r}: could not load {run.model_file} ({type(exc).__name__}: "
                        f"{first_line(exc)}); "
                        "allowed: a model.keras saved by finetune-lab") from None
