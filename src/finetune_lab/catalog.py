"""What the config may name: the allowed values of every enumerated key and the layers of each base.

This module imports no Keras, so a config can be checked before the backend (and CUDA) start.
"""

DATA_SOURCES = ("mnist", "mnist_embedded")
PLACEMENTS = ("seed", "center", "resize")
CHANNELS = ("seed", "replicate", "gray")
PREPROCESS = ("unit", "vgg16")
BASES = ("vgg16", "scratch_cnn")
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

# The digit images every source yields, before placement.
DIGIT_SIZE = 28
NUM_DIGITS = 10

# VGG16's conv blocks: (block number, number of conv layers). Layer names follow keras.applications.
VGG16_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
VGG16_MIN_INPUT = 32


def vgg16_layer_names() -> tuple[str, ...]:
    names = []
    for block, convs in VGG16_BLOCKS:
        names += [f"block{block}_conv{i}" for i in range(1, convs + 1)]
        names.append(f"block{block}_pool")
    return tuple(names)


# The seed's E3 network, convolutional part (the dense part is a head).
SCRATCH_CNN_LAYERS = ("conv1", "conv2", "pool1", "dropout1", "conv3", "conv4", "pool2", "dropout2")
SCRATCH_CNN_MIN_INPUT = 28

BASE_LAYERS = {"vgg16": vgg16_layer_names(), "scratch_cnn": SCRATCH_CNN_LAYERS}
BASE_MIN_INPUT = {"vgg16": VGG16_MIN_INPUT, "scratch_cnn": SCRATCH_CNN_MIN_INPUT}


def freeze_choices(base: str) -> tuple[str, ...]:
    """`none`, `all`, and for VGG16 `blockN`: freeze blocks 1..N."""
    blocks = tuple(f"block{b}" for b, _ in VGG16_BLOCKS) if base == "vgg16" else ()
    return ("none", "all") + blocks
