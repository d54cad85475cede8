"""What finetune-lab-predict (predict.py, the study's E1) and finetune-lab-features (feature_grids.py, E2) share:
checks of their options before any model is built, and an image file as a model's input.

Model input: with named weights or a weights file, an image is resized to the base's ImageNet input (224;
features: --size) and goes through the base's own preprocess_input (vgg16's for vgg16); a gray file has its gray
copied to R, G and B. With --run, the run's model.keras takes the run's own uint8 images and carries the rest of its
input path (data.DigitInput): an image file is only brought to the form of those images (run_images). Everything
the user named is checked before any model is built, except a non-VGG16 base's ImageNet weights, which Keras finds
as it builds the base (the same one-line error: how to get them).
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


def run_images(run: Run, model, photos: list[np.ndarray]) -> np.ndarray:
    """RGB 0..255 images of any size -> the uint8 images a run's model.keras takes (model: it, loaded), as the run's
    own images were made: a folder run's placed on the host by its data.placement (datasets.fit: letterboxed,
    cropped or stretched); the digits' gray (a colour image's luminance) or colour, resized to their size when it
    differs (images.as_raw), so a 28x28 gray file of a digit is exactly one of the run's digits."""
    shape = tuple(model.input_shape[1:])
    if not photos:
        return np.zeros((0, *shape), np.uint8)
    if run.cfg.data.source == "folder":
        from .datasets import fit

        return np.stack([fit(np.clip(np.rint(p), 0, 255).astype(np.uint8), shape[0], run.cfg.data.placement)
                         for p in photos])
    return np.stack([images.as_raw(p, shape) for p in photos])


def load_run_model(run: Run):
    """The run's model.keras (model.load_saved), its errors naming --run."""
    from .model import load_saved

    try:
        return load_saved(run.model_file)
    except UserError as exc:
        raise UserError(f"--run {run.folder!r}: {exc}") from None
