"""The backend seam: device.backend checked, a late device or backend request refused in one line, TensorBoard
scalars written without TensorFlow, and a sweep under the basic launcher that cannot silently share devices."""
import json
from types import SimpleNamespace

import pytest

from finetune_lab import backend
from finetune_lab.errors import UserError


def _device(**kw):
    return SimpleNamespace(**{"backend": "tensorflow", "gpus": None, "memory_growth": True, "onednn": True, **kw})


def test_a_second_backend_in_the_same_process_is_refused_naming_fresh_process_launchers():
    import keras  # noqa: F401  (this test process runs Keras on TensorFlow already)

    with pytest.raises(UserError, match=r"device.backend='jax' cannot take effect.*hydra/launcher=parallel"):
        backend.start(_device(backend="jax"))


def test_other_gpus_after_the_backend_started_are_refused(monkeypatch):
    import tensorflow  # noqa: F401

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(UserError, match=r"device.gpus='0' cannot take effect.*CUDA_VISIBLE_DEVICES=''.*submitit_local"):
        backend.start(_device(gpus="0"))
    assert backend.start(_device(gpus="")) == "tensorflow"  # what is running already: fine


def test_a_later_start_that_asks_for_deterministic_ops_gets_them(monkeypatch):
    """Every run starts its backend, the first or a later one in the process: determinism is switched on there."""
    import keras  # noqa: F401  (this test process runs Keras on TensorFlow already)

    calls = []
    monkeypatch.setattr(backend, "_started", ("tensorflow", None))  # as after a first run in this process
    monkeypatch.setattr(backend, "enable_determinism", lambda: calls.append("on"))
    assert backend.start(_device(), deterministic=False) == "tensorflow" and calls == []
    assert backend.start(_device(), deterministic=True) == "tensorflow" and calls == ["on"]


def test_epoch_scalars_are_readable_by_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for epoch in range(2):
        backend.write_epoch_logs(str(tmp_path), epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0, "val_accuracy": 0.5})
    train = EventAccumulator(str(tmp_path / "train")).Reload()
    assert [(e.step, e.value) for e in train.Scalars("epoch_loss")] == [(0, 1.0), (1, 0.5)]
    val = EventAccumulator(str(tmp_path / "validation")).Reload()
    assert sorted(val.Tags()["scalars"]) == ["epoch_accuracy", "epoch_loss"]


@pytest.mark.e2e
def test_a_gpu_sweep_under_the_basic_launcher_stops_the_job_that_cannot_get_its_devices(late_device_sweep):
    sweep, result = late_device_sweep
    assert json.loads((sweep / "0" / "metrics.json").read_text())["status"] == "completed"
    failed = json.loads((sweep / "1" / "metrics.json").read_text())  # device.gpus='0' after '' started
    assert failed["status"] == "failed"
    assert "device.gpus='0' cannot take effect" in failed["error"] and "hydra/launcher=parallel" in failed["error"]
    assert "4 jobs: 1 completed, 3 failed" in result.stderr
    assert "cuInit" not in result.stderr  # TensorFlow's C++ start-up lines stay off the console
