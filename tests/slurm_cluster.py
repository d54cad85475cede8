"""A one-node SLURM cluster on this machine for the suite's SLURM tests: Debian's slurm-wlm and munge installed
where sbatch is absent (as root, with apt-get), munged, slurmctld and slurmd started with their configs in a
temporary folder (SLURM_CONF points there), all stopped at the end. One cluster at a time on a machine: a file lock
is held while it lives, so a second pytest-xdist worker (or a second session) waits for the first to finish."""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
PARTITION = "debug"
CPUS = 4  # more than this machine's cores (SlurmdParameters=config_overrides): three tiny jobs at a time
LOCK = Path(tempfile.gettempdir()) / "finetune-lab-slurm.lock"
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")


class Unavailable(Exception):
    """The cluster cannot be had here; the message says why (the SLURM tests' skip reason)."""


def install() -> None:
    """Debian's slurm-wlm and munge, where sbatch is absent; Unavailable where they cannot be installed."""
    if shutil.which("sbatch") and shutil.which("slurmctld") and shutil.which("munged"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable("SLURM is not installed, and installing it needs root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise Unavailable(f"{' '.join(command)} failed: {last}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_configs(folder: Path, node: str) -> Path:
    """slurm.conf and cgroup.conf for one node named `node` on localhost, without accounting (as many small
    clusters run); returns slurm.conf's path."""
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "cgroup.conf").write_text("CgroupAutomount=no\nConstrainCores=no\nConstrainRAMSpace=no\n")
    conf = folder / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=finetunelab",
        f"SlurmctldHost={node}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "MpiDefault=none",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SlurmdParameters=config_overrides",
        "ReturnToService=2",
        "KillWait=10",        # seconds from SIGTERM to SIGKILL when a job is cancelled or requeued
        "MinJobAge=600",      # finished jobs stay listed by squeue for the tests' polls
        f"StateSaveLocation={folder / 'state'}",
        f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'slurmd.log'}",
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={CPUS} RealMemory=4000 State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ]))
    return conf


class Cluster:
    """The started cluster: its folder, its environment (SLURM_CONF) and the commands run against it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.node = socket.gethostname().split(".")[0]
        self.env = {**os.environ, "SLURM_CONF": str(write_configs(folder, self.node))}
        self.daemons: list[subprocess.Popen] = []

    def run(self, *command: str, check: bool = True) -> str:
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
        return done.stdout

    def _daemon(self, *command: str) -> None:
        self.daemons.append(subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL,
                                             stderr=open(self.folder / f"{Path(command[0]).name}.err", "w")))

    def start(self) -> None:
        if not MUNGE_SOCKET.exists():  # a munged already running (the machine's own) is used as it is
            MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
            self._daemon("runuser", "-u", "munge", "--", "munged", "--foreground")
            self._wait(MUNGE_SOCKET.exists, "munged")
        self._daemon("slurmctld", "-D", "-i")  # -i: no state from an earlier cluster
        self._wait(lambda: self.run("scontrol", "ping", check=False).find("UP") >= 0, "slurmctld")
        self._daemon("slurmd", "-D", "-N", self.node)
        self._wait(self._node_idle, "slurmd")

    def _node_idle(self) -> bool:
        return self.run("sinfo", "-h", "-N", "-o", "%T", check=False).strip() in ("idle", "mixed", "allocated")

    def _wait(self, ready, name: str, seconds: float = 60) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if ready():
                return
            if any(d.poll() is not None for d in self.daemons):
                break
            time.sleep(0.3)
        log = self.folder / f"{name}.log"
        err = self.folder / f"{name}.err"
        tail = " | ".join((log.read_text() if log.exists() else err.read_text() if err.exists() else "").strip()
                          .splitlines()[-2:])
        raise Unavailable(f"{name} did not start: {tail or 'no log'}")

    def stop(self) -> None:
        """scancel every job, then the daemons this cluster started, last started first."""
        self.run("scancel", "--full", "-p", PARTITION, check=False) if self.daemons else None
        for daemon in reversed(self.daemons):
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
        self.daemons.clear()

    def start_requeued(self, job_id: str, seconds: float = 120) -> None:
        """SLURM holds a requeued job for two minutes (Reason=BeginTime) before it may start again: wait until
        `job_id` is held so, then let it start at once."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.run("squeue", "-h", "-r", "-t", "all", "-o", "%T %r", "-j", job_id, check=False).split() == [
                    "PENDING", "BeginTime"]:
                self.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
                return
            time.sleep(0.5)
        raise AssertionError(f"SLURM job {job_id} was not requeued within {seconds} s")

    def state(self, job_id: str) -> str:
        """A job's state as squeue gives it (PENDING, RUNNING, COMPLETED, CANCELLED, ...); '' when not listed."""
        return self.run("squeue", "-h", "-r", "-t", "all", "-o", "%T", "-j", job_id, check=False).strip()


@contextlib.contextmanager
def running(folder: Path):
    """A started cluster (Unavailable where it cannot be had), stopped on exit; SLURM_CONF set in os.environ
    meanwhile, for the commands the tests start."""
    if not hasattr(os, "geteuid"):
        raise Unavailable("SLURM needs Linux")
    install()
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one cluster on this machine at a time
        cluster = Cluster(folder)
        previous = os.environ.get("SLURM_CONF")
        try:
            cluster.start()
            os.environ["SLURM_CONF"] = cluster.env["SLURM_CONF"]
            yield cluster
        finally:
            cluster.stop()
            if previous is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = previous
