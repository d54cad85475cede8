"""Choose devices before TensorFlow starts."""
from __future__ import annotations

import os


def setup(device_cfg) -> None:
    """Set CUDA_VISIBLE_DEVICES from device.gpus (None leaves it alone, "" hides every GPU) and oneDNN,
    then turn on GPU memory growth. Must run before TensorFlow is first imported for `gpus` to take effect."""
    if device_cfg.gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device_cfg.gpus
    if device_cfg.onednn:  # oneDNN CPU kernels: 2x VGG16 training throughput on the 2-core AMD EPYC here
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if device_cfg.memory_growth:
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised by an earlier job in this process
                pass
