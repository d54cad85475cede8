"""The config schema (a structured config under the YAML files) and the checks a type cannot express.

`validate` is the one place that knows which values are allowed; every error names the key, the value
and what is allowed.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import catalog
from .errors import ConfigError

CONFIGS = "finetune_lab.conf"  # the package of the YAML configs (conf/ at the top of the repository links to it)

# analysis.feature_maps.layers' default: the base's own feature maps (catalog.feature_map_layers), resolved from
# model.base whenever the config is read, so `model.base=resnet50` alone draws ResNet layers.
DEFAULT_FEATURE_MAPS = "${base_feature_maps:${model.base}}"
OmegaConf.register_new_resolver("base_feature_maps", catalog.feature_map_layers, replace=True)


@dataclass
class AugmentConfig:
    """Training batches only; geometry by Keras' RandomRotation / RandomTranslation / RandomZoom."""
    enabled: bool = False
    rotation: float = 0.05  # fraction of a full turn, both ways (0.05: up to +-18 degrees)
    shift: float = 0.1  # fraction of the canvas (data.input_size), both axes, both ways
    zoom: float = 0.1  # fraction, in or out, aspect kept
    noise: float = 0.0  # standard deviation of Gaussian noise in pixel units (0..255), before preprocessing


@dataclass
class DataConfig:
    source: str = "mnist_embedded"
    cutoff_rate: float = 1.0
    cutoff_test: bool = False
    test_images: Optional[int] = None  # null: the whole test pool (after cutoff_test); N: its first N
    validation_fraction: float = 0.2
    split_seed: int = 0
    input_size: int = 48
    placement: str = "center"
    channels: str = "replicate"
    preprocess: str = "vgg16"
    path: Optional[str] = None  # data.source=folder: one subfolder per class (or train/ and test/ holding them)
    test_fraction: float = 0.2  # data.source=folder without train/ and test/: the share of each class held out
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class HeadConfig:
    name: str = "small"
    units: List[int] = field(default_factory=lambda: [256])
    dropout: Any = 0.5  # one rate after every hidden layer, or a list: one rate per hidden layer
    activation: str = "relu"


@dataclass
class ModelConfig:
    base: str = "vgg16"
    weights: Optional[str] = "hed_bsds500"
    freeze: str = "none"
    output_units: Optional[int] = 10  # null: the number of classes of the data
    head: HeadConfig = field(default_factory=HeadConfig)


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 1e-4
    momentum: float = 0.0
    nesterov: bool = False
    decay: float = 0.0


@dataclass
class EarlyStoppingConfig:
    enabled: bool = False
    monitor: str = "val_loss"
    patience: int = 3


@dataclass
class TrainingConfig:
    epochs: int = 4
    batch_size: int = 32
    samples_per_epoch: Optional[int] = None  # null: one pass over the training set per epoch
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    deterministic: bool = False
    strategy: str = "finetune"
    cache_features: bool = True
    cache_max_gb: float = 4.0
    # null: no store (a frozen base's outputs are computed in every run); default: outputs/feature_store
    feature_store: Optional[str] = "${oc.env:FINETUNE_LAB_FEATURE_STORE,outputs/feature_store}"
    precision: str = "fp32"
    lp_epochs: int = 2
    lp_lr: float = 1e-3


@dataclass
class FeatureMapsConfig:
    enabled: bool = True
    layers: List[str] = DEFAULT_FEATURE_MAPS  # type: ignore[assignment] - an interpolation, resolved to a list
    image_index: int = 0
    max_channels: int = 64


@dataclass
class OriginalTaskConfig:
    enabled: bool = True
    probe_size: int = 128
    builtin_photos: bool = True
    probe_dir: Optional[str] = None
    labelled_dir: Optional[str] = None
    threshold: float = 0.5


@dataclass
class LayerChangeConfig:
    enabled: bool = True
    max_images: int = 200


@dataclass
class TrainEvalConfig:
    enabled: bool = True
    max_images: int = 10000


@dataclass
class AnalysisConfig:
    train_eval: TrainEvalConfig = field(default_factory=TrainEvalConfig)
    feature_maps: FeatureMapsConfig = field(default_factory=FeatureMapsConfig)
    original_task: OriginalTaskConfig = field(default_factory=OriginalTaskConfig)
    layer_change: LayerChangeConfig = field(default_factory=LayerChangeConfig)


@dataclass
class DeviceConfig:
    backend: str = "tensorflow"
    gpus: Optional[str] = None
    memory_growth: bool = True
    onednn: bool = True
    strategy: str = "default"


@dataclass
class OutputConfig:
    save_model: bool = True
    resume: bool = False  # true: a folder that already holds this job is carried on (completed: skipped)


@dataclass
class LoggerConfig:
    """Experiment tracking (conf/logger/): `none`, or `mlflow` into `tracking_uri` (any MLflow tracking URI)."""
    name: str = "none"
    tracking_uri: Optional[str] = None  # null: MLflow's own default (MLFLOW_TRACKING_URI, else ./mlruns)
    experiment_name: str = "finetune-lab"
    artifact_location: Optional[str] = None  # for a new experiment; null: the tracking store's default


@dataclass
class Config:
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


def register_schema() -> None:
    """Make the schema available to the primary config's defaults list as `schema`."""
    ConfigStore.instance().store(name="schema", node=Config)


def compose(*overrides: str) -> DictConfig:
    """The primary config with `overrides`, composed from the package as the command line composes it (Hydra's
    compose API; for tests, benchmarks and notebooks)."""
    from hydra import compose as hydra_compose, initialize_config_module

    register_schema()
    with initialize_config_module(config_module=CONFIGS, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def from_saved(path: str | os.PathLike) -> DictConfig:
    """A run's saved `.hydra/config.yaml`, typed against the schema."""
    return OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(path))


# Keys that say how a job is carried out, not what it is: a job rerun with another value is the same job.
NOT_THE_JOB = ("output.resume", "training.feature_store")


def differences(saved_path: str | os.PathLike, cfg: DictConfig) -> list[str]:
    """`key: saved -> now` for each key whose value in the saved config differs from `cfg`'s. Keys only one
    side has are not differences: a key added to the schema since the run started had no say in it. Values are
    compared resolved (an interpolation is the value it stands for: a run saved with the list that
    analysis.feature_maps.layers now takes from model.base is the same job)."""
    saved = flatten(plain(OmegaConf.load(saved_path)))
    now = flatten(plain(cfg))
    return [f"{key}: {saved[key]} -> {now[key]}" for key in saved
            if key in now and key not in NOT_THE_JOB and str(saved[key]) != str(now[key])]


def plain(cfg: DictConfig) -> dict:
    """The config as plain Python, resolved; as written where an interpolation only resolves inside Hydra."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException:
        return OmegaConf.to_container(cfg, resolve=False)


def _choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(key, value, "one of " + ", ".join(map(str, allowed)))


def _check(key: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value the schema's types let through but the product does not."""
    _validate_finite(cfg)
    _check("seed", cfg.seed, cfg.seed >= 0, "an integer >= 0")
    _choice("model.base", cfg.model.base, catalog.BASES)
    _validate_data(cfg.data, cfg.model.base)
    _validate_model(cfg.model, cfg.data.source)
    _validate_training(cfg.training)
    _validate_forgetting(cfg.analysis, cfg.training, cfg.model.freeze)
    _validate_analysis(cfg.analysis, cfg.model.base)
    gpus = cfg.device.gpus
    _check("device.gpus", gpus, gpus is None or all(p.strip().isdigit() for p in gpus.split(",") if p.strip()),
           'null (leave as is), "" (CPU only) or comma-separated GPU indices such as "0,1"')
    _choice("device.strategy", cfg.device.strategy, catalog.DEVICE_STRATEGIES)
    _choice("logger.name", cfg.logger.name, catalog.LOGGERS)
    _choice("device.backend", cfg.device.backend, catalog.BACKENDS)


def _validate_finite(cfg: DictConfig) -> None:
    """nan and inf slip through range checks (inf > 0 holds; lr=inf would train to NaN and end `diverged`):
    refuse them in every key, once. An interpolation is checked at the key it points to."""
    for key, value in flatten(OmegaConf.to_container(cfg, resolve=False)).items():
        if isinstance(value, float):
            _check(key, value, math.isfinite(value), "a finite number (not nan or inf)")


def flatten(tree: dict, prefix: str = "") -> dict:
    """A plain config tree as {dotted key: value}; lists as "[a, b]" (as on the command line), None as "null"."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = cell(value)
    return flat


def cell(value):
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(cell(v)) for v in value) + "]"
    if isinstance(value, dict):
        return "{}"
    return value


def _validate_data(data: DictConfig, base: str) -> None:
    _choice("data.source", data.source, catalog.DATA_SOURCES)
    source = catalog.DATASETS[data.source]
    if data.source == "folder":
        _check("data.path", data.path, data.path is not None and os.path.isdir(os.path.expanduser(data.path)),
               "an existing folder with one subfolder per class (or train/ and test/ subfolders holding them)")
    _check("data.test_fraction", data.test_fraction, 0 < data.test_fraction < 1, "a fraction in (0, 1)")
    _check("data.cutoff_rate", data.cutoff_rate, 0 < data.cutoff_rate <= 1, "a fraction in (0, 1]")
    _check("data.validation_fraction", data.validation_fraction, 0 <= data.validation_fraction < 1,
           "a fraction in [0, 1)")
    _check("data.split_seed", data.split_seed, data.split_seed >= 0, "an integer >= 0")
    _check("data.test_images", data.test_images, data.test_images is None or data.test_images >= 1,
           "null (the whole test pool) or an integer >= 1 (its first N images)")
    _choice("data.placement", data.placement,
            catalog.PLACEMENTS if source.image_shape else catalog.FOLDER_PLACEMENTS)
    _choice("data.channels", data.channels, catalog.CHANNELS)
    _choice("data.preprocess", data.preprocess, catalog.PREPROCESS)
    minimum = catalog.BASES[base].min_input
    if source.image_shape and data.placement in ("seed", "center"):  # a pad: the canvas holds the whole image
        minimum = max(minimum, max(source.image_shape[:2]) + (2 if data.placement == "seed" else 0))
    _check("data.input_size", data.input_size, minimum <= data.input_size <= 1024,
           f"an integer in [{minimum}, 1024] for model.base={base} with data.placement={data.placement}")
    if base in catalog.KERAS_BASES:
        _check("data.channels", data.channels, data.channels != "gray",
               f"seed or replicate: model.base={base} takes 3 channels")
    if data.preprocess in ("vgg16", "base"):
        _check("data.preprocess", data.preprocess, data.channels != "gray",
               f"unit: {data.preprocess} preprocessing needs 3 channels (data.channels=seed or replicate)")
    if data.preprocess == "base":
        _check("data.preprocess", data.preprocess, catalog.BASES[base].preprocessing is not None,
               f"unit or vgg16: model.base={base} has no preprocessing of its own")
    _validate_augment(data.augment)


def _validate_augment(augment: DictConfig) -> None:
    _check("data.augment.rotation", augment.rotation, 0 <= augment.rotation <= 0.5,
           "a fraction of a full turn in [0, 0.5] (0.05: up to +-18 degrees)")
    _check("data.augment.shift", augment.shift, 0 <= augment.shift < 1, "a fraction of the canvas in [0, 1)")
    _check("data.augment.zoom", augment.zoom, 0 <= augment.zoom < 1, "a fraction in [0, 1)")
    _check("data.augment.noise", augment.noise, augment.noise >= 0,
           "a standard deviation >= 0 in pixel units (0..255)")
    if augment.enabled:
        _check("data.augment.enabled", augment.enabled,
               any((augment.rotation, augment.shift, augment.zoom, augment.noise)),
               "false when rotation, shift, zoom and noise are all 0")


def _validate_model(model: DictConfig, source: str) -> None:
    weights = model.weights
    if model.base == "scratch_cnn":
        _check("model.weights", weights, weights is None or is_weights_path(weights),
               "null or a weights file: model.base=scratch_cnn has no pretrained weights")
    elif weights == "hed_bsds500":
        _check("model.weights", weights, model.base == "vgg16",
               f"imagenet, null or a weights file for model.base={model.base}: hed_bsds500 holds VGG16 weights")
    elif weights is not None and weights not in catalog.NAMED_WEIGHTS:
        _check("model.weights", weights, is_weights_path(weights),
               f"one of {', '.join(catalog.NAMED_WEIGHTS)}, null, or an existing "
               f"{' / '.join(catalog.WEIGHT_FILE_SUFFIXES)} file")
    _validate_freeze(model.base, model.freeze)
    classes = catalog.DATASETS[source].classes
    least = len(classes) if classes else 2
    _check("model.output_units", model.output_units, model.output_units is None or model.output_units >= least,
           f"null (the number of classes of the data) or an integer >= {least}"
           + (f" (the {least} classes of data.source={source}; more pad the labels with zero columns)"
              if classes else ""))
    head = model.head
    for i, units in enumerate(head.units):
        _check(f"model.head.units[{i}]", units, units >= 1, "a positive integer")
    rates = head.dropout if OmegaConf.is_list(head.dropout) else [head.dropout]
    _check("model.head.dropout", head.dropout,
           (len(rates) in (1, len(head.units)) and all(_is_rate(r) for r in rates)),
           f"a rate in [0, 1), or a list of {len(head.units)} such rates (one per hidden layer of model.head.units)")
    _choice("model.head.activation", head.activation, catalog.ACTIVATIONS)


def _is_rate(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1


def is_weights_path(value: str) -> bool:
    return value.endswith(catalog.WEIGHT_FILE_SUFFIXES) and os.path.isfile(os.path.expanduser(value))


def can_hold_folder(path: str) -> bool:
    """`path` is a writable folder, or one can be made there (its nearest existing parent is writable)."""
    if not path.strip():
        return False
    path = os.path.abspath(os.path.expanduser(path))
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _validate_training(training: DictConfig) -> None:
    _check("training.epochs", training.epochs, training.epochs >= 1, "an integer >= 1")
    _check("training.batch_size", training.batch_size, training.batch_size >= 1, "an integer >= 1")
    spe = training.samples_per_epoch
    _check("training.samples_per_epoch", spe, spe is None or spe >= 1,
           "null (one pass over the training set) or an integer >= 1")
    _check("training.cache_max_gb", training.cache_max_gb, training.cache_max_gb > 0, "a size in GiB > 0")
    store = training.feature_store
    _check("training.feature_store", store, store is None or can_hold_folder(store),
           "null (no store) or a folder that is, or can be made, a writable folder")
    _choice("training.precision", training.precision, catalog.PRECISIONS)
    opt = training.optimizer
    _choice("training.optimizer.name", opt.name, catalog.OPTIMIZERS)
    _check("training.optimizer.lr", opt.lr, opt.lr > 0, "a learning rate > 0")
    _check("training.optimizer.momentum", opt.momentum, 0 <= opt.momentum < 1, "a value in [0, 1)")
    _check("training.optimizer.decay", opt.decay, opt.decay >= 0, "a value >= 0 (lr / (1 + decay * step))")
    if opt.name != "sgd":
        _check("training.optimizer.momentum", opt.momentum, opt.momentum == 0, "0 unless optimizer.name=sgd")
        _check("training.optimizer.nesterov", opt.nesterov, not opt.nesterov, "false unless optimizer.name=sgd")
    stop = training.early_stopping
    _choice("training.early_stopping.monitor", stop.monitor, catalog.EARLY_STOPPING_MONITORS)
    _check("training.early_stopping.patience", stop.patience, stop.patience >= 0, "an integer >= 0")


def _validate_freeze(base: str, spec: str) -> None:
    """`model.freeze` as catalog.frozen_through reads it; a layer named after upto: is checked here when the
    base's layer names are known without building it, else when the base is built (model.freeze_base)."""
    try:
        layer = catalog.frozen_through(base, spec)
    except ValueError:
        raise ConfigError("model.freeze", spec, catalog.freeze_help(base)) from None
    known = catalog.BASES[base].layers
    if spec.startswith("upto:") and known is not None and layer not in known:
        raise ConfigError("model.freeze", spec, catalog.unknown_layer(layer, known))


def _validate_analysis(analysis: DictConfig, base: str) -> None:
    maps = analysis.feature_maps
    if not maps.enabled:
        return
    known = catalog.BASES[base].layers
    for i, name in enumerate(maps.layers):
        if known is not None and name not in known:
            raise ConfigError(f"analysis.feature_maps.layers[{i}]", name, catalog.unknown_layer(name, known)
                              + f"; allowed: {', '.join(known)}")
    _check("analysis.feature_maps.image_index", maps.image_index, maps.image_index >= 0, "an integer >= 0")
    _check("analysis.feature_maps.max_channels", maps.max_channels, maps.max_channels >= 1, "an integer >= 1")


def _validate_forgetting(analysis: DictConfig, training: DictConfig, freeze: str) -> None:
    """The original-task probe, the per-layer change and the training strategy (linear probe, then fine-tune)."""
    ot = analysis.original_task
    _check("analysis.original_task.probe_size", ot.probe_size, 32 <= ot.probe_size <= 1024, "an integer in [32, 1024]")
    _check("analysis.original_task.threshold", ot.threshold, 0 < ot.threshold < 1, "an edge threshold in (0, 1)")
    for key in ("probe_dir", "labelled_dir"):
        folder = ot[key]
        if ot.enabled and folder is not None:
            _check(f"analysis.original_task.{key}", folder, os.path.isdir(os.path.expanduser(folder)),
                   "null or an existing folder")
    _check("analysis.train_eval.max_images", analysis.train_eval.max_images, analysis.train_eval.max_images >= 1,
           "an integer >= 1 (the first training images evaluated after training)")
    _check("analysis.layer_change.max_images", analysis.layer_change.max_images,
           analysis.layer_change.max_images >= 2, "an integer >= 2 (CKA needs at least 2 images)")
    _choice("training.strategy", training.strategy, catalog.STRATEGIES)
    _check("training.lp_epochs", training.lp_epochs, training.lp_epochs >= 1, "an integer >= 1")
    _check("training.lp_lr", training.lp_lr, training.lp_lr > 0, "a learning rate > 0")
    if training.strategy == "lp_ft":
        _check("model.freeze", freeze, freeze != "all",
               "none, blockN, stages:K or upto:LAYER with training.strategy=lp_ft (its second phase trains the "
               "unfrozen base)")
