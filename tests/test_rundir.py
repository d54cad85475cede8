import json
import os

import pytest

from finetune_lab import rundir
from finetune_lab.errors import UserError


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "m.json"
    rundir.write_json_atomic(str(path), {"a": 1})
    rundir.write_json_atomic(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2} and os.listdir(tmp_path) == ["m.json"]


def test_status_goes_from_empty_to_running_to_completed(tmp_path):
    d = str(tmp_path)
    assert rundir.status(d) == "empty"
    rundir.claim(d, resume=False)
    assert rundir.status(d) == "running"
    rundir.finish(d, {"status": "completed"})
    assert rundir.status(d) == "completed"
    with pytest.raises(UserError, match="never overwritten"):
        rundir.claim(d, resume=True)


def test_a_killed_run_is_not_running_and_needs_resume(tmp_path):
    d = str(tmp_path)
    rundir.write_json_atomic(os.path.join(d, rundir.STATUS),
                             {"status": "running", "pid": 2**22 + 12345, "host": os.uname().nodename})
    assert rundir.status(d) == "killed"
    with pytest.raises(UserError, match="finetune-lab-resume"):
        rundir.claim(d, resume=False)
    rundir.claim(d, resume=True)
    assert rundir.status(d) == "running"


def test_a_resumed_run_carries_its_earlier_attempts(tmp_path):
    """A killed attempt counts from its start to its newest file, not the job's log that the resuming sweep has
    just written to; an interrupted one's count is carried as it
    recorded it; a failed run's come from its metrics.json."""
    import time

    killed, interrupted, failed = (str(tmp_path / name) for name in ("killed", "interrupted", "failed"))
    for d in (killed, interrupted, failed):
        os.makedirs(d)
    now = time.time()
    rundir.write_json_atomic(os.path.join(killed, rundir.STATUS), {
        "status": "running", "pid": 2**22 + 12345, "host": os.uname().nodename,
        "time": time.strftime(rundir.TIME_FORMAT, time.localtime(now - 100)),
        "attempts": [{"status": "interrupted", "wall_seconds": 7.0}]})
    (tmp_path / "killed" / "history.csv").write_text("epoch\n0\n")
    for name in os.listdir(killed):
        os.utime(os.path.join(killed, name), (now - 40, now - 40))
    (tmp_path / "killed" / "cli.log").write_text("job 0: killed, resumed from its backup\n")
    earlier = rundir.claim(killed, resume=True)
    assert earlier[0] == {"status": "interrupted", "wall_seconds": 7.0} and earlier[1]["status"] == "killed"
    assert earlier[1]["wall_seconds"] == pytest.approx(60, abs=1.5)
    assert json.loads((tmp_path / "killed" / rundir.STATUS).read_text())["attempts"] == earlier

    rundir.write_json_atomic(os.path.join(interrupted, rundir.STATUS), {
        "status": "interrupted", "attempts": [{"status": "interrupted", "wall_seconds": 3.5}]})
    assert rundir.claim(interrupted, resume=True) == [{"status": "interrupted", "wall_seconds": 3.5}]

    rundir.record_failure(failed, RuntimeError("disk full"), attempts=[{"status": "failed", "wall_seconds": 2.0}])
    assert rundir.claim(failed, resume=True) == [{"status": "failed", "wall_seconds": 2.0}]


def test_a_failure_is_recorded_with_its_message(tmp_path):
    rundir.record_failure(str(tmp_path), UserError("data.cutoff_rate=1.5 is not allowed"))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "cutoff_rate" in metrics["error"] and metrics["user_error"]
