"""A content-keyed store on disk for a frozen base's outputs, and `finetune-lab-store`, which lists and prunes it.

Whatever asks the same question (the same weights, base, output layer, input settings, precision, Keras and
backend, and the same digits) gets the answer computed once: every job of a sweep, every seed, every later
session. The caller names the question as a dict of plain values (`fields`); its key is the sha256 of their
canonical JSON, so any change of any field is another entry.

An entry is a folder named by its key in the store's folder: `features.npy` (float32, read memory-mapped, so
memory does not grow with the set) and `entry.json` (the fields, shape, dtype, the data's sha256, the seconds it
took, when it was made). It is written in a temporary folder beside it and renamed into place in one step: a
reader sees a whole entry or none, and of two writers of one key the first rename wins and the other's copy is
dropped (both go on with their features). An entry that does not read back as its entry.json says (truncated,
edited, half deleted) is removed and computed again, never trusted. Last used: the mtime of its features.npy.

    finetune-lab-store [--dir DIR] [--prune-older-than DAYS | --prune-all]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from typing import Callable

import numpy as np

from . import files
from .errors import UserError, exit_on_user_error, out_of_space

log = logging.getLogger(__name__)

DATA, ENTRY, TMP_PREFIX = "features.npy", "entry.json", ".tmp-"
STALE_TMP_SECONDS = 3600  # a temporary folder this old is a killed writer's: prune removes it
SHORT = 12  # hex digits of a key in logs, metrics and listings


def key(fields: dict) -> str:
    """The sha256 of `fields` as canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def digest(images) -> dict:
    """An image set's identity: the sha256 of its bytes, with its shape and dtype; a set read from files
    (datasets.FileImages) names its own (the content of its files)."""
    if hasattr(images, "digest"):
        return images.digest()
    images = np.ascontiguousarray(images)
    return {"sha256": hashlib.sha256(images.data).hexdigest(), "shape": list(images.shape), "dtype": str(images.dtype)}


class FeatureStore:
    """The entries under one folder (made when the first entry is written)."""

    def __init__(self, folder: str):
        self.folder = os.path.expanduser(folder)

    def path(self, k: str) -> str:
        return os.path.join(self.folder, k)

    def fetch(self, fields: dict, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, str, bool]:
        """(the features for `fields`, their key, whether the store had them). A miss calls `compute()` and
        stores its result; a store that cannot be written is logged and the run goes on with what it computed."""
        k = key(fields)
        stored = self.load(k)
        if stored is not None:
            return stored, k, True
        start = time.perf_counter()
        array = np.asarray(compute(), np.float32)
        try:
            self.save(k, fields, array, time.perf_counter() - start)
        except OSError as exc:
            if out_of_space(exc):
                raise  # the disk the run writes to is likely full too: the run is interrupted (runner.run)
            log.warning("feature store %s: entry %s not written (%s); the run goes on without it",
                        self.folder, k[:SHORT], exc)
        return array, k, False

    def load(self, k: str) -> np.ndarray | None:
        """The entry's features, memory-mapped read-only; None when there is none or it is damaged (then it is
        removed)."""
        folder = self.path(k)
        if not os.path.isdir(folder):
            return None
        data = os.path.join(folder, DATA)
        try:
            with open(os.path.join(folder, ENTRY)) as f:
                entry = json.load(f)
            if files.sha256(data) != entry["sha256"]:
                raise ValueError(f"{DATA} does not match the sha256 in {ENTRY}")
            array = np.load(data, mmap_mode="r")
            if array.dtype != np.float32 or list(array.shape) != entry["shape"]:
                raise ValueError(f"{DATA} holds {array.dtype} {list(array.shape)}, {ENTRY} says float32 "
                                 f"{entry['shape']}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("feature store %s: entry %s is damaged (%s); it is removed and computed again",
                        self.folder, k[:SHORT], exc)
            self.remove(k)
            return None
        with contextlib.suppress(OSError):  # a store shared read-only is still read
            os.utime(data)  # last used
        return array

    def save(self, k: str, fields: dict, array: np.ndarray, seconds: float) -> None:
        """Write the entry `k` unless one is in place: built in a temporary folder, then renamed."""
        os.makedirs(self.folder, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.folder)
        try:
            data = os.path.join(tmp, DATA)
            with files.naming(data), open(data, "wb") as f:
                np.save(f, np.ascontiguousarray(array, np.float32))
                f.flush()
                os.fsync(f.fileno())
            entry = {"key": k, "fields": fields, "shape": list(array.shape), "dtype": "float32",
                     "sha256": files.sha256(data), "seconds": round(seconds, 3),
                     "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
            with open(os.path.join(tmp, ENTRY), "w") as f:
                json.dump(entry, f, indent=2)
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would keep the entry from others sharing the store
            try:
                os.rename(tmp, self.path(k))
            except OSError:
                if not os.path.isdir(self.path(k)):
                    raise  # not another writer's entry in the way: a real failure
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename succeeded

    def remove(self, k: str) -> None:
        """Take the entry out of sight in one rename, then delete it (a reader never sees half of it)."""
        gone = os.path.join(self.folder, f"{TMP_PREFIX}removed-{k}-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(self.path(k), gone)
        except OSError:
            return  # removed by someone else already
        shutil.rmtree(gone, ignore_errors=True)

    def entries(self) -> list[dict]:
        """One dict per entry: key, entry.json's content (empty when unreadable), bytes, last used (epoch s)."""
        if not os.path.isdir(self.folder):
            return []
        found = []
        for name in sorted(os.listdir(self.folder)):
            folder = self.path(name)
            if name.startswith(TMP_PREFIX) or not os.path.isdir(folder):
                continue
            data = os.path.join(folder, DATA)
            try:
                found.append({"key": name, "entry": files.read_json(os.path.join(folder, ENTRY)) or {},
                              "bytes": _folder_bytes(folder),
                              "last_used": os.path.getmtime(data if os.path.isfile(data) else folder)})
            except OSError:
                continue  # removed while it was being listed
        return found

    def prune(self, older_than_days: float | None = None) -> list[dict]:
        """Remove the entries last used more than `older_than_days` ago (None: all of them) and killed writers'
        temporary folders; return the entries removed."""
        now = time.time()
        removed = [e for e in self.entries()
                   if older_than_days is None or now - e["last_used"] > older_than_days * 86400]
        for e in removed:
            self.remove(e["key"])
        for name in os.listdir(self.folder) if os.path.isdir(self.folder) else []:
            tmp = self.path(name)
            with contextlib.suppress(OSError):  # gone already: renamed into place, or removed
                if name.startswith(TMP_PREFIX) and now - os.path.getmtime(tmp) > STALE_TMP_SECONDS:
                    shutil.rmtree(tmp, ignore_errors=True)
        return removed


def _folder_bytes(folder: str) -> int:
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file())


def default_folder() -> str | None:
    """training.feature_store as the schema sets it (FINETUNE_LAB_FEATURE_STORE, else outputs/feature_store)."""
    from omegaconf import OmegaConf

    from .config import Config

    return OmegaConf.structured(Config).training.feature_store


def listing(entries: list[dict]) -> str:
    """The entries as a table: key, what they are the outputs of, shape, size and last use."""
    import pandas as pd

    rows = []
    for e in entries:
        fields = e["entry"].get("fields", {})
        images = fields.get("images", {})
        rows.append({
            "key": e["key"][:SHORT],
            "base": f"{fields.get('base', '?')}:{fields.get('output_layer', '?')}",
            "weights": str(fields.get("weights_sha256", "?"))[:SHORT],
            "input": "{}px {}/{}/{}".format(*(fields.get(k, "?") for k in ("input_size", "placement", "channels",
                                                                          "preprocess"))),
            "precision": fields.get("precision", "?"),
            "keras": f"{fields.get('keras', '?')} {fields.get('backend', '?')}",
            "images": f"{images.get('shape', ['?'])[0]} ({str(images.get('sha256', '?'))[:8]})",
            "shape": "x".join(map(str, e["entry"].get("shape", []))) or "damaged",
            "size": _size(e["bytes"]),
            "last used": time.strftime("%Y-%m-%d %H:%M", time.localtime(e["last_used"])),
        })
    return pd.DataFrame(rows).to_string(index=False)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


@exit_on_user_error("finetune-lab-store")
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="finetune-lab-store",
                                     description="List the frozen-base feature store's entries and total size, "
                                                 "or prune it.")
    parser.add_argument("--dir", help="the store's folder (default: training.feature_store, that is "
                                      "$FINETUNE_LAB_FEATURE_STORE or outputs/feature_store)")
    prune = parser.add_mutually_exclusive_group()
    prune.add_argument("--prune-older-than", type=float, metavar="DAYS",
                       help="remove the entries not used for more than DAYS days")
    prune.add_argument("--prune-all", action="store_true", help="remove every entry")
    args = parser.parse_args(argv)
    folder = args.dir or default_folder()
    if not folder:
        raise UserError("training.feature_store is null (no store); name one with --dir DIR")
    if args.prune_older_than is not None and args.prune_older_than < 0:
        raise UserError(f"--prune-older-than={args.prune_older_than} is not allowed: a number of days >= 0")
    store = FeatureStore(folder)
    if args.prune_all or args.prune_older_than is not None:
        removed = store.prune(None if args.prune_all else args.prune_older_than)
        print(f"feature store {folder}: {len(removed)} entries removed, {_size(sum(e['bytes'] for e in removed))} "
              "freed")
    entries = store.entries()
    print(f"feature store {folder}: {len(entries)} entries, {_size(sum(e['bytes'] for e in entries))}")
    if entries:
        print(listing(entries))


if __name__ == "__main__":
    main()
