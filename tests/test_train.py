import json

import pytest

from finetune_lab import train


def test_the_training_clock_carries_on_the_epochs_a_resumed_run_keeps(tmp_path):
    """The clock restores the seconds of the epochs the backup holds; a count ahead of the backup (the backup
    rolled back) is not carried, since those epochs run again."""
    backup = tmp_path / train.BACKUP_DIR
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2}))
    saved = backup / train.TrainClock.FILE
    saved.write_text(json.dumps({"epoch": 2, "epochs_timed": 2, "seconds": 5.0}))
    clock = train.TrainClock(str(backup))
    clock.on_train_begin()
    assert (clock.seconds, clock.epochs) == (5.0, 2)
    clock.on_epoch_begin(2)
    clock.on_epoch_end(2)
    assert clock.epochs == 3 and clock.seconds > 5.0
    assert json.loads(saved.read_text()) == {"epoch": 3, "epochs_timed": 3, "seconds": clock.seconds}

    saved.write_text(json.dumps({"epoch": 3, "epochs_timed": 3, "seconds": 9.0}))
    ahead = train.TrainClock(str(backup))
    ahead.on_train_begin()
    assert (ahead.seconds, ahead.epochs) == (0.0, 0)


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
