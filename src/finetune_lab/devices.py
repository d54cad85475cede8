"""Choose devices before TensorFlow starts."""
from __future__ import annotations

import contextlib
import os


def setup(device_cfg) -> None:
    """Set CUDA_VISIBLE_DEVICES from device.gpus (None leaves it alone, "" hides every GPU) and oneDNN,
    then import TensorFlow and turn on GPU memory growth. Must run before TensorFlow is first imported for
    `gpus` to take effect."""
    if device_cfg.gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device_cfg.gpus
    if device_cfg.onednn:  # oneDNN CPU kernels: 2x VGG16 training throughput on the 2-core AMD EPYC here
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _native_stderr_silenced(os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0"):
        import keras  # noqa: F401  (TensorFlow and Keras announce themselves on stderr at import)
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    if device_cfg.memory_growth:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised by an earlier job in this process
                pass


@contextlib.contextmanager
def _native_stderr_silenced(enabled: bool):
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL.
    Python exceptions raised inside still reach the terminal, after the descriptor is restored."""
    if not enabled:
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def distribution(strategy: str):
    """The tf.distribute strategy named by device.strategy: `default` (TensorFlow's default, no distribution) or
    `mirrored` (MirroredStrategy: one replica per visible GPU, or the CPU when there is none). Build and compile
    the model inside its scope()."""
    import tensorflow as tf

    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
