"""The file operations the rest of the package shares: a file's content hash (and one over a set of arrays),
reading a JSON file that may be missing or half-written, writing rows as CSV, and writing a file so that readers
see the old one or the complete new one, never a part; and the natural order of names (run folders 0, 1, ..., 10)."""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import tempfile


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def arrays_sha256(arrays) -> str:
    """One sha256 over the arrays in order, each with its dtype and shape (a model's weights)."""
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def read_json(path: str | os.PathLike):
    """A JSON file's content; None when it is missing or not JSON (yet)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    """Rows (dicts with the same keys, in the first row's order) as a CSV file with a header."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_atomic(path: str, write, binary: bool = True) -> None:
    """Call `write(file)` on a temporary file in the same folder, then rename it to `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with naming(path), os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def naming(path: str):
    """An OSError raised inside that names no file (a failed write or flush) names `path`, so the line that
    reports it (a full disk: errors.out_of_space) can say which file it was."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = path
        raise


def natural_key(text: str):
    """Sorts "2" before "10" (numbers by value; "0001" and "001" by their digits), and numbered names before the
    others. No two different texts tie, so a sort by it does not depend on the order it was given."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]
