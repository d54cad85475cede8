import json

import keras
import pytest

from finetune_lab import train


def test_the_training_clock_carries_on_exactly_the_epochs_a_resumed_run_keeps(tmp_path):
    """The clock restores the seconds of the epochs the backup holds: none of an epoch timed after the backup's
    last checkpoint (a kill between the clock's write and the checkpoint's; that epoch runs again), and every
    one the checkpoint holds, since the clock writes first."""
    backup = tmp_path / train.BACKUP_DIR
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2}))
    saved = backup / train.TrainClock.FILE
    saved.write_text(json.dumps({"epoch_seconds": [2.0, 3.0]}))
    clock = train.TrainClock(str(backup))
    clock.on_train_begin()
    assert (clock.seconds, clock.epochs) == (5.0, 2)
    clock.on_epoch_begin(2)
    clock.on_epoch_end(2)
    assert clock.epochs == 3 and clock.seconds > 5.0
    assert json.loads(saved.read_text()) == {"epoch_seconds": [2.0, 3.0, clock.seconds - 5.0]}

    saved.write_text(json.dumps({"epoch_seconds": [2.0, 3.0, 4.0]}))  # epoch 3 timed, its checkpoint never written
    ahead = train.TrainClock(str(backup))
    ahead.on_train_begin()
    assert (ahead.seconds, ahead.epochs) == (5.0, 2)


def test_the_random_state_is_written_before_the_checkpoint():
    """A kill that lands between two callbacks' epoch-end writes must never leave a checkpoint of an epoch whose
    random state is missing: it comes before BackupAndRestore in the order Keras calls them (the clock, added
    by `fit`, comes first of all; the killed-run tests in test_robustness check its count)."""
    from omegaconf import OmegaConf

    cbs = train.callbacks("run", OmegaConf.create({"early_stopping": {"enabled": False}}))
    kinds = [type(cb) for cb in cbs]
    assert kinds.index(train.RandomStateBackup) < kinds.index(train.Backup)


def swallow_an_interrupt_at_batch_1(batch, logs=None):
    """A callback as a library might have one: at batch 1 the SIGTERM handler runs inside it, and it swallows the
    KeyboardInterrupt that the handler raises."""
    if batch == 1:
        try:
            train.STOP.set()  # the SIGTERM handler's first half; its raise is lost here
            raise KeyboardInterrupt("signal 15")
        except KeyboardInterrupt:
            pass


def test_a_swallowed_interrupt_still_stops_training_at_the_next_batch():
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=swallow_an_interrupt_at_batch_1)
    seen = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs=None: seen.append(batch))
    x, y = np.zeros((40, 3), "float32"), np.zeros((40, 2), "float32")
    train.STOP.clear()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[cb, train.HonourStop(), counter])
    finally:
        train.STOP.clear()
    assert seen == [0]  # batch 1's HonourStop raised before the later callbacks ran; no further batch


def test_a_backup_write_that_fails_for_want_of_space_leaves_the_last_checkpoint_whole(tmp_path, monkeypatch):
    """A checkpoint whose write fails (here a file-size limit: EFBIG after a part of the file) leaves the previous
    epoch's checkpoint as it was, nothing half-written beside it; a later run restores that epoch."""
    import errno

    import numpy as np

    def model():
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        m.compile(optimizer="adam", loss="mse")
        m.optimizer.build(m.trainable_variables)
        return m

    backup_dir = tmp_path / train.BACKUP_DIR
    first = model()
    backup = train.Backup(str(backup_dir))
    backup.set_model(first)
    backup.on_epoch_end(0)
    saved = [w.copy() for w in first.get_weights()]

    def partly_written(filepath, overwrite=True):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF\r\n" + b"\0" * 100)
        raise OSError(errno.EFBIG, "File too large")

    first.set_weights([w + 1 for w in saved])
    monkeypatch.setattr(first, "save_weights", partly_written)
    with pytest.raises(OSError):
        backup.on_epoch_end(1)
    assert sorted(p.name for p in backup_dir.iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    assert train.finished_epochs(str(tmp_path)) == 1

    second = model()
    restored = train.Backup(str(backup_dir))
    restored.set_model(second)
    restored.on_train_begin()
    assert all(np.array_equal(a, b) for a, b in zip(second.get_weights(), saved))
    assert second._initial_epoch == 1
