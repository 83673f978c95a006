"""One error type for user mistakes: the CLI prints its message, never a traceback."""

import contextlib
from collections.abc import Iterator


class TinyascError(Exception):
    """A problem the user can fix. The message says what is wrong and what to do."""


class UnsupportedModelError(TinyascError):
    """The model uses ops, types or shapes the compiler cannot generate code for."""


class BoardConfigError(TinyascError):
    """boards.yaml is malformed, or names a board that does not exist."""


class ToolchainError(TinyascError):
    """The cross compiler, QEMU or the host compiler failed or is missing."""


class DoesNotFitError(TinyascError):
    """The firmware image is larger than the board's flash or RAM."""


class DatasetError(TinyascError):
    """An audio file or dataset description is missing, broken or inconsistent."""


@contextlib.contextmanager
def naming(source) -> Iterator[None]:
    """Inside, a TinyascError that does not name `source` (a file) is raised again, same type,
    with "<source>: " in front: every error about a user's file says which file."""
    try:
        yield
    except TinyascError as error:
        if str(source) in str(error):
            raise
        raise type(error)(f"{source}: {error}") from None
