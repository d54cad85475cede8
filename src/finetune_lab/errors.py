"""Errors that reach the user as one line instead of a traceback, and the one way a command ends on one."""
from __future__ import annotations

import errno
import functools
import os
import re
import sys
from typing import NoReturn

from omegaconf.errors import OmegaConfBaseException


class UserError(Exception):
    """Something the user can fix: a bad config value, a missing file, an unavailable source."""


class ConfigError(UserError):
    """A config value that is not allowed. The message names the key, the value and what is allowed."""

    def __init__(self, key: str, value, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")


class OutOfSpace(UserError):
    """A write refused for want of space (no space left, a quota, a file-size limit): the run it struck is left
    interrupted, resumable once space is back. The message names the file and the cause."""


EXIT_USER_ERROR = 2  # every command's exit status for a user error


def fail(prog: str, message: str) -> NoReturn:
    """End the command `prog` on a user error: `PROG: error: MESSAGE` on stderr, exit status EXIT_USER_ERROR."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def exit_on_user_error(prog: str):
    """Decorate a command's main: a UserError ends it as `prog: error: message` on stderr, exit status 2."""
    def wrap(main):
        @functools.wraps(main)
        def command(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except UserError as exc:
                fail(prog, str(exc))
        return command
    return wrap


def one_line(exc: BaseException) -> str:
    """Hydra's and OmegaConf's multi-line messages folded into one line (indented lines are list items)."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else exc
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        return f"{cause.full_key}: {getattr(cause, 'msg', str(cause)).strip().splitlines()[0]}"
    text = str(exc).split("Config search path")[0]
    parts: list[str] = []
    for line in filter(str.strip, text.splitlines()):
        if line[0].isspace() and parts:
            parts[-1] += (" " if parts[-1].endswith(":") else ", ") + line.strip()
        else:
            parts.append(line.strip())
    return "; ".join(parts)


# A write refused for want of space, by errno, as the one line that reports it calls it
OUT_OF_SPACE = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded",
                errno.EFBIG: "file size limit exceeded"}
# The same in the text of wrappers that keep only the message (h5py, TensorFlow): the C library's own words
# ("No space left on device", "Disk quota exceeded", "File too large") or h5py's `errno = 27`
_IN_TEXT = [(re.compile(re.escape(os.strerror(code)) + rf"|\berrno = {code}\b", re.IGNORECASE), cause)
            for code, cause in OUT_OF_SPACE.items()]
# A short write that no errno explains (numpy's tofile: "4096 requested and 2048 written")
_SHORT_WRITE = re.compile(r"\b\d+ requested and \d+ written\b")
_FILE_IN_TEXT = re.compile(r"\b(?:file)?name = '([^']+)'")


def out_of_space(exc: BaseException) -> tuple[str, str | None] | None:
    """(the cause, the file when known) when `exc`, or an exception it was raised from or while handling, is a
    write refused for want of space: errno ENOSPC, EDQUOT or EFBIG, or a wrapper's message that carries one (h5py,
    TensorFlow), or a short write; None for any other error."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        cause = OUT_OF_SPACE.get(getattr(exc, "errno", None)) if isinstance(exc, OSError) else None
        text = str(exc)
        cause = cause or next((c for pattern, c in _IN_TEXT if pattern.search(text)), None)
        if cause is None and isinstance(exc, OSError) and _SHORT_WRITE.search(text):
            cause = "a short write (no space, a quota or a file-size limit)"
        if cause:
            named = _FILE_IN_TEXT.search(text)
            return cause, getattr(exc, "filename", None) or (named.group(1) if named else None)
        exc = exc.__cause__ or exc.__context__
    return None
