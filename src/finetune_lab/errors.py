"""Errors that reach the user as one line instead of a traceback."""
import functools
import sys


class UserError(Exception):
    """Something the user can fix: a bad config value, a missing file, an unavailable source."""


class ConfigError(UserError):
    """A config value that is not allowed. The message names the key, the value and what is allowed."""

    def __init__(self, key: str, value, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")


EXIT_USER_ERROR = 2  # every command's exit status for a user error


def exit_on_user_error(prog: str):
    """Decorate a command's main: a UserError ends it as `prog: error: message` on stderr, exit status 2."""
    def wrap(main):
        @functools.wraps(main)
        def command(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except UserError as exc:
                print(f"{prog}: error: {exc}", file=sys.stderr)
                sys.exit(EXIT_USER_ERROR)
        return command
    return wrap
