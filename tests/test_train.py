import json

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
