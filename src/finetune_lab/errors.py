"""Errors that reach the user as one line instead of a traceback, and the one way a command ends on one."""
from __future__ import annotations

import functools
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
