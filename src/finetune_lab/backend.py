"""The one module that talks to the Keras backend (TensorFlow or JAX) directly.

Everything else in finetune_lab is plain Keras (keras.ops, keras.random, keras.callbacks): it runs unchanged on
either backend. What cannot be backend-neutral lives here: choosing the backend and the visible GPUs before it
starts, start-up chatter, device discovery, GPU memory growth, distribution, op determinism, TensorBoard
writing, and releasing what a run leaves in the backend's global state.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

from .errors import UserError

log = logging.getLogger(__name__)

FRESH_PROCESS_LAUNCHERS = "hydra/launcher=parallel (joblib) or hydra/launcher=submitit_local"

# What the first start in this process asked for: (backend, CUDA_VISIBLE_DEVICES). None before it.
_started: tuple[str, str | None] | None = None


def start(device_cfg, deterministic: bool = False) -> str:
    """Choose the backend (device.backend) and the GPUs (device.gpus: None leaves CUDA_VISIBLE_DEVICES alone,
    "" hides every GPU), then import Keras with the backend's start-up lines kept off the console, and return
    the backend's name. Both take effect only before the backend starts: a second start in the same process
    that asks for something else (a later job of a sweep under Hydra's basic launcher) is refused in one line.
    Every run starts here, so this is where a run that asks for deterministic ops (training.deterministic)
    gets them, on a second start too; once on, they stay on in this process."""
    _refuse_late_change(device_cfg)
    if _started is None:
        _first_start(device_cfg, deterministic)
    if deterministic:
        enable_determinism()
    return _started[0]


def _first_start(device_cfg, deterministic: bool) -> None:
    global _started
    wanted = (device_cfg.backend, device_cfg.gpus)
    os.environ["KERAS_BACKEND"] = device_cfg.backend
    if device_cfg.gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device_cfg.gpus
    if device_cfg.backend == "tensorflow":
        if device_cfg.onednn:  # oneDNN CPU kernels: 2x VGG16 training throughput on the 2-core AMD EPYC here
            os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        quiet = os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0"
    else:
        if device_cfg.memory_growth:  # JAX's form of memory growth: take GPU memory as needed
            os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        if deterministic:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
        # JAX logs at INFO each platform it probes and does not find (TPU, CUDA on a CPU machine): not the run's
        logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
        quiet = True
    asked_gpu = bool(device_cfg.gpus)
    with _native_stderr_silenced(quiet):
        import keras  # noqa: F401  (TensorFlow and Keras announce themselves on stderr at import)

        gpus = _gpus(device_cfg.backend, device_cfg.memory_growth)
    _started = wanted
    if asked_gpu and not gpus:
        raise UserError(f"device.gpus={device_cfg.gpus!r}: no GPU is visible to {device_cfg.backend} on this machine; "
                        "allowed here: device.gpus='' (CPU only) or null")


def _refuse_late_change(device_cfg) -> None:
    """A UserError when this process's backend already started with another backend or other GPUs."""
    import importlib

    if _started is None and "keras" not in sys.modules:
        return
    running = _started[0] if _started else importlib.import_module("keras").backend.backend()
    if device_cfg.backend != running:
        raise UserError(f"device.backend={device_cfg.backend!r} cannot take effect: this process already runs "
                        f"Keras on {running} (an earlier job of a sweep?); run each job in a fresh process: "
                        f"{FRESH_PROCESS_LAUNCHERS}")
    visible = _started[1] if _started and _started[1] is not None else os.environ.get("CUDA_VISIBLE_DEVICES")
    if device_cfg.gpus is not None and device_cfg.gpus != visible and (_started or _backend_imported()):
        raise UserError(f"device.gpus={device_cfg.gpus!r} cannot take effect: this process already started "
                        f"{running} with CUDA_VISIBLE_DEVICES={visible!r} (an earlier job of a sweep?); run each "
                        f"job in a fresh process: {FRESH_PROCESS_LAUNCHERS}")


def _backend_imported() -> bool:
    return "tensorflow" in sys.modules or "jax" in sys.modules


def _gpus(backend: str, memory_growth: bool) -> list:
    if backend == "jax":
        import jax

        return [d for d in jax.devices() if d.platform == "gpu"]
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if memory_growth:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised by an earlier job in this process
                pass
    return gpus


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


def name() -> str:
    import keras

    return keras.backend.backend()


def devices_used() -> list[str]:
    """The devices the backend runs on in this process, e.g. ['/device:CPU:0'] or ['cuda:0']."""
    if name() == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices()]


def accelerators() -> int:
    """How many of devices_used() are not the CPU (GPUs, TPUs)."""
    return sum("cpu" not in d.lower() for d in devices_used())


def set_seed(seed: int) -> None:
    """keras.utils.set_random_seed (Python, NumPy, Keras' global generator). Under JAX, TensorFlow is hidden
    from it for the call: it would import TensorFlow (when installed) only to seed tf.random, unused there."""
    import keras

    if name() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    sys.modules["tensorflow"] = None  # `import tensorflow` raises ImportError: Keras skips it
    try:
        keras.utils.set_random_seed(seed)
    finally:
        del sys.modules["tensorflow"]


def enable_determinism() -> None:
    """Deterministic ops (training.deterministic), called by start(). JAX's flag is set before JAX starts."""
    if name() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def distribution(strategy: str):
    """A context for device.strategy: `default` (no distribution) or `mirrored` (one replica per visible GPU,
    or the CPU when there is none): tf.distribute.MirroredStrategy under TensorFlow,
    keras.distribution.DataParallel under JAX. Build, compile and fit the model inside it."""
    if strategy != "mirrored":
        return contextlib.nullcontext()
    if name() == "jax":
        import keras

        devices = keras.distribution.list_devices()
        log.info("device.strategy=mirrored: keras.distribution.DataParallel over %s", devices)
        return keras.distribution.DataParallel(devices=devices).scope()
    import tensorflow as tf

    return tf.distribute.MirroredStrategy().scope()


@contextlib.contextmanager
def released_after():
    """Drop what a run leaves in Keras' and the backend's global state when it ends, so that the next job of a
    sweep in this process starts at the same memory as the first. Under TensorFlow that includes the
    custom-gradient closures the train step registers (tf.distribute's all_reduce, which Keras' optimizer
    calls): they stay in TensorFlow's global gradient registry for the life of the process and hold the run's
    graph and, through it, every variable of its model and optimizer (tensorflow/tensorflow#97697): ~0.45 GiB
    a job for E5's model at 48x48 under Hydra's basic launcher, without this."""
    registry = _gradient_registry()
    registered = _custom_gradients(registry)
    try:
        yield
    finally:
        for key in _custom_gradients(registry) - registered:
            del registry[key]
        import keras

        keras.backend.clear_session()  # and a garbage collection, which frees the graph the registry held


def _gradient_registry() -> dict:
    """TensorFlow's op-name -> gradient-function table (private; {} under JAX or if TensorFlow moves it)."""
    if name() != "tensorflow":
        return {}
    from tensorflow.python.framework import ops

    return getattr(getattr(ops, "_gradient_registry", None), "_registry", {})


def _custom_gradients(registry: dict) -> set[str]:
    return {key for key in registry if key.startswith("CustomGradient-")}


def tensorboard_callback(log_dir: str):
    """Per-epoch scalars in <log_dir>/train and <log_dir>/validation: keras.callbacks.TensorBoard under
    TensorFlow (it writes through tf.summary); under JAX the tensorboard package's own record writer."""
    import keras

    if name() == "tensorflow":  # no histograms, graph or profiling (kept cheap)
        return keras.callbacks.TensorBoard(log_dir, histogram_freq=0, write_graph=False, profile_batch=0,
                                           update_freq="epoch")
    return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: write_epoch_logs(log_dir, epoch, logs))


def write_epoch_logs(log_dir: str, epoch: int, logs: dict | None) -> None:
    """The epoch_* scalars keras.callbacks.TensorBoard writes, without TensorFlow: train metrics to
    <log_dir>/train, val_* metrics to <log_dir>/validation."""
    logs = logs or {}
    train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}
    val = {f"epoch_{k[len('val_'):]}": v for k, v in logs.items() if k.startswith("val_")}
    for folder, values in (("train", train), ("validation", val)):
        if values:
            write_scalars(os.path.join(log_dir, folder), epoch, values)


def write_scalars(folder: str, step: int, values: dict[str, float]) -> None:
    """Append one event of scalar summaries to the TensorBoard event file in `folder` (made on first use)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    os.makedirs(folder, exist_ok=True)
    files = sorted(f for f in os.listdir(folder) if f.startswith("events.out.tfevents."))
    path = os.path.join(folder, files[-1] if files else f"events.out.tfevents.{int(time.time())}.finetune-lab")
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=k, simple_value=float(v))
                                         for k, v in values.items()])
    with open(path, "ab") as f:
        writer = RecordWriter(f)
        if not files:
            writer.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        writer.write(event_pb2.Event(wall_time=time.time(), step=step, summary=summary).SerializeToString())
