"""The exported model as a C library for the user's own build: every external name and macro carries
the `--c-prefix` (so several models link into one image), laid out for CMake, Zephyr and Arduino.

The export's src/ keeps the default prefix `tinyasc` (the host check, the emulation firmware and the
real-board project call `tinyasc_invoke`); targets/ holds the same sources renamed:

    tinyasc_x → <prefix>_x      TINYASC_X → <PREFIX>_X
    tas_x     → <prefix>_tas_x  TAS_X     → <PREFIX>_TAS_X      (front-end symbols, include guards)

and each file gets its prefix too (<prefix>_model.h). The kernels need no renaming to be unique:
model.c pastes them as static functions of its one translation unit. String literals (labels) are
left as they are.
"""

import re

from tinyasc.errors import TinyascError

DEFAULT_PREFIX = "tinyasc"
PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,30}[a-z0-9]|[a-z]")
# Files of src/ that only the self-test firmware uses.
SELF_TEST_FILES = ("test_vectors.c", "test_vectors.h")
LIBRARY_VERSION = "0.1.0"

_TOKEN = re.compile(r'"(?:\\.|[^"\\\n])*"|\b(tinyasc_|TINYASC_|tas_|TAS_)')
_INCLUDE = re.compile(r'#include "([^"]+)"')


class CPrefixError(TinyascError):
    """--c-prefix is not a usable C identifier prefix."""


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix) or "__" in prefix:
        raise CPrefixError(
            f"--c-prefix {prefix!r}: use 1-32 lower-case letters, digits and single underscores, "
            "starting with a letter and not ending with '_' (e.g. kws)")
    return prefix


def file_name(name: str, prefix: str) -> str:
    return name if name.startswith(f"{prefix}_") else f"{prefix}_{name}"


def rename_identifiers(text: str, prefix: str) -> str:
    upper = prefix.upper()
    renames = {"tinyasc_": f"{prefix}_", "TINYASC_": f"{upper}_", "tas_": f"{prefix}_tas_", "TAS_": f"{upper}_TAS_"}

    def replace(match):
        return renames[match.group(1)] if match.group(1) else match.group(0)

    return _TOKEN.sub(replace, text)


def prefixed_sources(src_files: dict[str, str], prefix: str) -> dict[str, str]:
    """The model's sources (not the self-test vectors) with `prefix` on every name and file."""
    check_prefix(prefix)
    names = {name: file_name(name, prefix) for name in src_files if name not in SELF_TEST_FILES}

    def include(match):
        return f'#include "{names.get(match.group(1), match.group(1))}"'

    # the includes first: their file names are string literals, which the renaming leaves alone
    return {names[name]: rename_identifiers(_INCLUDE.sub(include, src_files[name]), prefix) for name in names}


def _render(env, template: str, **context) -> str:
    return env.get_template(f"library/{template}").render(**context)


def library_layouts(src_files: dict[str, str], name: str, prefix: str, board: str, arena_size: int) -> dict[str, str]:
    """Path under targets/ → text: the prefixed sources once per layout (each folder stands alone,
    as users copy one of them), plus each build system's files."""
    import tinyasc
    from tinyasc.compile.codegen import template_environment

    sources = prefixed_sources(src_files, prefix)
    c_files = sorted(f for f in sources if f.endswith(".c"))
    library = f"{prefix}_model"
    env = template_environment()
    context = dict(version=tinyasc.__version__, name=name, prefix=prefix, PREFIX=prefix.upper(), board=board,
                   arena_size=arena_size, sources=c_files, library=library, library_version=LIBRARY_VERSION)
    files = {}
    for layout in ("cmake", "zephyr", f"arduino/{library}"):
        files.update({f"{layout}/src/{f}": text for f, text in sources.items()})
    files["cmake/CMakeLists.txt"] = _render(env, "CMakeLists.txt.j2", **context)
    files["zephyr/zephyr/module.yml"] = _render(env, "module.yml.j2", **context)
    files["zephyr/zephyr/CMakeLists.txt"] = _render(env, "zephyr_CMakeLists.txt.j2", **context)
    files["zephyr/zephyr/Kconfig"] = _render(env, "Kconfig.j2", **context)
    files[f"arduino/{library}/library.properties"] = _render(env, "library.properties.j2", **context)
    files[f"arduino/{library}/examples/{name}/{name}.ino"] = _render(env, "sketch.ino.j2", **context)
    return files
