"""What the config may name: the allowed values of every enumerated key, the bases and the data sources.

A base is a registry entry (`BASES`), never a branch in code: its Keras Applications constructor, the module of
its own `preprocess_input`, its minimum input, its family and the layer that ends each of its stages (what
`model.freeze=stages:K`, the default feature maps and CKA per stage address). A data source is an entry of
`DATASETS`. This module imports no Keras, so a config can be checked before the backend (and CUDA) start.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

PLACEMENTS = ("seed", "center", "resize", "center_crop")
FOLDER_PLACEMENTS = ("center", "resize", "center_crop")  # images of any size: scaled to data.input_size on the host
CHANNELS = ("seed", "replicate", "gray")
PREPROCESS = ("unit", "vgg16", "base")
NAMED_WEIGHTS = ("imagenet", "hed_bsds500")
WEIGHT_FILE_SUFFIXES = (".weights.h5", ".h5")
OPTIMIZERS = ("sgd", "adam")
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "linear")
EARLY_STOPPING_MONITORS = ("val_loss", "val_accuracy")
PRECISIONS = ("fp32", "bf16", "fp16")  # -> Keras policies float32, mixed_bfloat16, mixed_float16
DEVICE_STRATEGIES = ("default", "mirrored")  # device.strategy: no distribution, or data parallel over the devices
BACKENDS = ("tensorflow", "jax")  # device.backend: KERAS_BACKEND, set before Keras is first imported
STRATEGIES = ("finetune", "lp_ft")  # lp_ft: linear probe (base frozen) first, then fine-tune
LOGGERS = ("none", "mlflow")  # logger (conf/logger/): experiment tracking

# The digit images of the MNIST sources, before placement.
DIGIT_SIZE = 28
NUM_DIGITS = 10


# ----- data sources -----

@dataclass(frozen=True)
class Dataset:
    """A data source by name. `keras`: the keras.datasets module that loads it (None: loaded here);
    `cache`: what Keras keeps of it under $KERAS_HOME/datasets/ (for the offline message)."""

    classes: tuple[str, ...] | None  # None: read from the data (a folder's subfolders)
    image_shape: tuple[int, ...] | None  # (H, W) or (H, W, 3) of every image; None: any size (a folder)
    keras: str | None = None
    cache: str | None = None


DIGIT_NAMES = tuple(str(d) for d in range(NUM_DIGITS))
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_MNIST_NAMES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                       "ankle_boot")
CIFAR100_NAMES = (  # the fine labels, in label order (alphabetical)
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm")

DATASETS = {
    "mnist": Dataset(DIGIT_NAMES, (DIGIT_SIZE, DIGIT_SIZE)),
    "mnist_embedded": Dataset(DIGIT_NAMES, (DIGIT_SIZE, DIGIT_SIZE)),
    "fashion_mnist": Dataset(FASHION_MNIST_NAMES, (28, 28), keras="fashion_mnist", cache="fashion-mnist/"),
    "cifar10": Dataset(CIFAR10_NAMES, (32, 32, 3), keras="cifar10", cache="cifar-10-batches-py-target"),
    "cifar100": Dataset(CIFAR100_NAMES, (32, 32, 3), keras="cifar100", cache="cifar-100-python-target"),
    "folder": Dataset(None, None),
}
DATA_SOURCES = tuple(DATASETS)


# ----- bases -----

@dataclass(frozen=True)
class Family:
    """How a family's layers group into stages (the docs' words), and whether `blockN` names its stages."""

    stages: str
    block_specs: bool = False


FAMILIES = {
    "vgg": Family("blocks 1-5 (block1_* .. block5_*), each ending in its pooling layer", block_specs=True),
    "resnet": Family("conv2_x, conv3_x, conv4_x, conv5_x (stage K is conv{K+1}_block*); the stem (conv1, pool1) "
                     "goes with stage 1; ResNetV2's post_bn/post_relu come after the last stage"),
    "mobilenet_v2": Family("Keras' blocks (expanded_conv = block 0, block_1 .. block_16) grouped by output "
                           "resolution: [0], [1-2], [3-5], [6-12], [13-16]; Conv_1 comes after the last stage"),
    "mobilenet_v3": Family("Keras' blocks (expanded_conv = block 0, expanded_conv_1 ..) grouped by output "
                           "resolution: Small [0], [1-2], [3-7], [8-10]; Large [0], [1-2], [3-5], [6-11], "
                           "[12-14]; conv_1 comes after the last stage"),
    "efficientnet": Family("Keras' blocks block1* .. block7* (V2-B0: block1* .. block6*), one stage each; the "
                           "stem goes with stage 1, top_conv comes after the last stage"),
    "convnext": Family("the four stages (<name>_stage_0_* .. _stage_3_*), each ending in its last residual sum; "
                       "a downsampling layer goes with the stage after it; the last layer_normalization comes after "
                       "the last stage"),
    "scratch": Family("the study's E3 network: conv1, conv2, pool1 | conv3, conv4, pool2"),
}


def vgg_layer_names(blocks: tuple[tuple[int, int], ...]) -> tuple[str, ...]:
    names = []
    for block, convs in blocks:
        names += [f"block{block}_conv{i}" for i in range(1, convs + 1)]
        names.append(f"block{block}_pool")
    return tuple(names)


def vgg_stage_ends(blocks: tuple[tuple[int, int], ...]) -> tuple[str, ...]:
    return tuple(f"block{block}_pool" for block, _ in blocks)


@dataclass(frozen=True)
class Base:
    """One base: `constructor` (an attribute of keras.applications; None: the study's scratch CNN, built in
    model.py), `preprocessing` (the keras.applications module whose preprocess_input data.preprocess=base
    applies), `stage_ends` (the layer whose output ends each stage, in order), the smallest input side Keras
    builds it for, the default feature maps (None: the stage ends), and every layer name where they are known
    without building the base (the rest are checked when it is built)."""

    family: str
    constructor: str | None
    preprocessing: str | None
    stage_ends: tuple[str, ...]
    min_input: int = 32
    feature_maps: tuple[str, ...] | None = None
    layers: tuple[str, ...] | None = None


# VGG16's conv blocks: (block number, number of conv layers). Layer names follow keras.applications.
VGG16_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
VGG19_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
VGG16_MIN_INPUT = 32
# The study's feature-map layers, the default for vgg16.
SEED_FEATURE_MAP_LAYERS = ("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
                           "block3_conv2", "block5_conv3")
# The study's E3 network (docs/study.md#e3), convolutional part (the dense part is a head).
SCRATCH_CNN_LAYERS = ("conv1", "conv2", "pool1", "dropout1", "conv3", "conv4", "pool2", "dropout2")
SCRATCH_CNN_MIN_INPUT = 28
RESNET_ENDS = ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out")

BASES = {
    "vgg16": Base("vgg", "VGG16", "vgg16", vgg_stage_ends(VGG16_BLOCKS), VGG16_MIN_INPUT,
                  feature_maps=SEED_FEATURE_MAP_LAYERS, layers=vgg_layer_names(VGG16_BLOCKS)),
    "vgg19": Base("vgg", "VGG19", "vgg19", vgg_stage_ends(VGG19_BLOCKS), layers=vgg_layer_names(VGG19_BLOCKS)),
    "resnet50": Base("resnet", "ResNet50", "resnet", RESNET_ENDS),
    "resnet101": Base("resnet", "ResNet101", "resnet",
                      ("conv2_block3_out", "conv3_block4_out", "conv4_block23_out", "conv5_block3_out")),
    "resnet50_v2": Base("resnet", "ResNet50V2", "resnet_v2", RESNET_ENDS),
    "mobilenet_v2": Base("mobilenet_v2", "MobileNetV2", "mobilenet_v2",
                         ("expanded_conv_project_BN", "block_2_add", "block_5_add", "block_12_add",
                          "block_16_project_BN")),
    "mobilenet_v3_small": Base("mobilenet_v3", "MobileNetV3Small", "mobilenet_v3",
                               ("expanded_conv_project_bn", "expanded_conv_2_add", "expanded_conv_7_add",
                                "expanded_conv_10_add")),
    "mobilenet_v3_large": Base("mobilenet_v3", "MobileNetV3Large", "mobilenet_v3",
                               ("expanded_conv_add", "expanded_conv_2_add", "expanded_conv_5_add",
                                "expanded_conv_11_add", "expanded_conv_14_add")),
    "efficientnet_b0": Base("efficientnet", "EfficientNetB0", "efficientnet",
                            ("block1a_project_bn", "block2b_add", "block3b_add", "block4c_add", "block5c_add",
                             "block6d_add", "block7a_project_bn")),
    "efficientnet_v2_b0": Base("efficientnet", "EfficientNetV2B0", "efficientnet_v2",
                               ("block1a_project_activation", "block2b_add", "block3b_add", "block4c_add",
                                "block5e_add", "block6h_add")),
    # ConvNeXt adds each block's residual with an unnamed op: model.py names unnamed layers and ops by their
    # kind and their count within the base (add, add_1, ...), so the stage ends are its 3rd, 6th, 15th, 18th sums.
    "convnext_tiny": Base("convnext", "ConvNeXtTiny", "convnext", ("add_2", "add_5", "add_14", "add_17")),
    "scratch_cnn": Base("scratch", None, None, ("pool1", "pool2"), SCRATCH_CNN_MIN_INPUT,
                        feature_maps=("conv1", "conv2", "conv3", "conv4"), layers=SCRATCH_CNN_LAYERS),
}
KERAS_BASES = tuple(name for name, spec in BASES.items() if spec.constructor)


def feature_map_layers(base: str) -> list[str]:
    """The default analysis.feature_maps.layers of `base`: its own list, else the end of each stage."""
    spec = BASES.get(base)
    if spec is None:
        return []
    return list(spec.feature_maps or spec.stage_ends)


# ----- model.freeze -----

def freeze_help(base: str) -> str:
    spec = BASES[base]
    n = len(spec.stage_ends)
    blocks = f", blockN (N in 1..{n}: the first N blocks)" if FAMILIES[spec.family].block_specs else ""
    return (f"none, all{blocks}, stages:K (K in 1..{n}: every layer up to the end of stage K; "
            f"{FAMILIES[spec.family].stages}) or upto:LAYER (every layer up to and including LAYER)")


def frozen_through(base: str, spec: str) -> str | None:
    """The layer up to which (included) `spec` freezes the base: None for `none` and `all` (no layer, every
    layer); `blockN` and `stages:K` name the end of that stage, `upto:LAYER` the layer. A ValueError for a spec
    that is not one of these for this base (the name after upto: is checked where the layers are known)."""
    if spec in ("none", "all"):
        return None
    ends = BASES[base].stage_ends
    block = re.fullmatch(r"block(\d+)", spec)
    stages = re.fullmatch(r"stages:(\d+)", spec)
    if block and FAMILIES[BASES[base].family].block_specs and 1 <= int(block[1]) <= len(ends):
        return ends[int(block[1]) - 1]
    if stages and 1 <= int(stages[1]) <= len(ends):
        return ends[int(stages[1]) - 1]
    if spec.startswith("upto:") and spec[len("upto:"):].strip():
        return spec[len("upto:"):].strip()
    raise ValueError(spec)


def unknown_layer(name: str, known) -> str:
    """`'NAME' is not a layer of the base (did you mean 'X'?)`, for a name missing from `known`."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"{name!r} is not a layer of the base{hint}"
