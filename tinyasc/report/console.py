"""One rich console for every table tinyasc prints."""

import shutil

from rich.console import Console


def wide_console() -> Console:
    """Wide enough for our tables even when stdout is a pipe or a CI log (rich assumes 80)."""
    return Console(width=max(shutil.get_terminal_size((140, 24)).columns, 100))
