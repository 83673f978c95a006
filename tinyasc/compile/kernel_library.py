"""The C kernel library (firmware_templates/kernels/) and how a model's C takes from it.

Each kernel is one .c file that includes the prototype header (tas_kernels.h) and the headers it
uses, so the files compile as they are into a library (tests/test_kernel_library.py). A generated
model.c is one translation unit instead: `model_sections` pastes each file the model needs after
the headers that file includes (each header once, first use first) and drops the
`#include "tas_…"` lines, whose text is then above. The prototype header is left out: model.c
defines TAS_KERNEL as static, so every kernel is a static function defined above its call, which
the compiler inlines and specializes there (and an unused declaration would be a warning).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tinyasc.paths import TEMPLATES_DIR

KERNELS_DIR = TEMPLATES_DIR / "kernels"
PROTOTYPE_HEADER = "tas_kernels.h"
_LIBRARY_INCLUDE = re.compile(r'^#include "(tas_\w+\.h)"\n', re.MULTILINE)


def library_sources() -> list[Path]:
    """Every kernel source of the library: one kernel per file, named after its function."""
    return sorted(KERNELS_DIR.glob("tas_*.c"))


def library_includes(text: str) -> list[str]:
    """The library headers a source includes, in order."""
    return _LIBRARY_INCLUDE.findall(text)


def pasted_text(name: str) -> str:
    """A library file as a model pastes it: its text without its library includes."""
    return _LIBRARY_INCLUDE.sub("", (KERNELS_DIR / name).read_text())


def model_sections(files: Iterable[str]) -> list[tuple[str, str]]:
    """(file name, text to paste) for each library file a model needs, headers before their users."""
    sections: list[tuple[str, str]] = []
    pasted: set[str] = {PROTOTYPE_HEADER}

    def paste(name: str) -> None:
        if name in pasted:
            return
        pasted.add(name)
        for header in library_includes((KERNELS_DIR / name).read_text()):
            paste(header)
        sections.append((name, pasted_text(name)))

    for name in files:
        paste(name)
    return sections
