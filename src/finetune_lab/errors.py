"""Errors that reach the user as one line instead of a traceback."""


class UserError(Exception):
    """Something the user can fix: a bad config value, a missing file, an unavailable source."""


class ConfigError(UserError):
    """A config value that is not allowed. The message names the key, the value and what is allowed."""

    def __init__(self, key: str, value, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")
