"""The C kernels (firmware_templates/kernels/) compile on their own as a static library, one object
per kernel source, warnings as errors: with the host's gcc (plain, and with ASan + UBSan as the
host verify build runs) and with arm-none-eabi-gcc for a core with the DSP extension (the
nRF52840's Cortex-M4F flags), one without (Cortex-M3) and the ARMv6-M cores (Cortex-M0+ and M0:
Thumb-1, their own assembly in tas_mat_mult_s8.h). -Wmissing-prototypes makes every
kernel's declaration in the one prototype header, tas_kernels.h, a condition of the build."""

import re
import shutil
import subprocess

import pytest

from tinyasc.compile.host import SANITIZERS, WARNINGS
from tinyasc.compile.kernel_library import KERNELS_DIR, library_sources, model_sections
from tinyasc.artifacts.boards import get_board
from tinyasc.firmware.build import compile_flags

LIBRARY_WARNINGS = [*WARNINGS, "-Wmissing-prototypes"]


def _arm_flags(board_name):
    """The firmware's own compile flags for the board (its -std replaces the host's -std=c11)."""
    return compile_flags(get_board(board_name))


TARGETS = {
    "host": ("gcc", "ar", lambda: ["-O2"]),
    "host-sanitized": ("gcc", "ar", lambda: ["-O1", "-g", *SANITIZERS]),
    "cortex-m4f-dsp": ("arm-none-eabi-gcc", "arm-none-eabi-ar", lambda: _arm_flags("nrf52840")),
    "cortex-m3-no-dsp": ("arm-none-eabi-gcc", "arm-none-eabi-ar", lambda: _arm_flags("cortex-m3")),
    "cortex-m0plus-armv6m": ("arm-none-eabi-gcc", "arm-none-eabi-ar", lambda: _arm_flags("rp2040")),
    "cortex-m0-armv6m": ("arm-none-eabi-gcc", "arm-none-eabi-ar", lambda: _arm_flags("microbit-v1")),
}


def build_library(target, folder):
    compiler, archiver, flags = TARGETS[target]
    assert shutil.which(compiler), f"{compiler} is not on PATH (`make setup` installs it)"
    sources = [str(path) for path in library_sources()]
    command = [compiler, *LIBRARY_WARNINGS, *flags(), "-I", str(KERNELS_DIR), "-c", *sources]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, f"{target} build of the kernel library failed:\n{result.stderr}"
    library = folder / "libtinyasc_kernels.a"
    subprocess.run([archiver, "rcs", str(library), *sorted(p.name for p in folder.glob("*.o"))], cwd=folder, check=True)
    return library


@pytest.mark.parametrize("target", list(TARGETS))
def test_kernel_library_builds_without_warnings_and_exports_one_function_per_source(target, tmp_path):
    library = build_library(target, tmp_path)
    nm = "nm" if TARGETS[target][0] == "gcc" else "arm-none-eabi-nm"
    listing = subprocess.run([nm, "--defined-only", "--extern-only", str(library)],
                             capture_output=True, text=True, check=True).stdout
    exported = {line.split()[-1] for line in listing.splitlines() if line.count(" ") == 2}
    exported = {name for name in exported if name.startswith("tas_")}
    assert exported == {path.stem for path in library_sources()}


def kernels_called_by(source):
    """The other library kernels a kernel source calls (a model pastes them before it)."""
    text = source.read_text()
    return [other.name for other in library_sources()
            if other != source and re.search(rf"\b{other.stem}\(", text)]


@pytest.mark.parametrize("source", library_sources(), ids=lambda path: path.name)
def test_each_kernel_pasted_alone_as_a_model_pastes_it_compiles_without_the_prototype_header(source, tmp_path):
    """model.c takes no tas_kernels.h: a kernel's own includes must bring everything it uses."""
    sections = model_sections([*kernels_called_by(source), source.name])
    text = "\n".join(["#define TAS_KERNEL static",
                      "#define TAS_KERNEL_INLINE static inline __attribute__((always_inline))",
                      *(f"/* ---- {name} ---- */\n{body}" for name, body in sections)])
    assert "tas_kernels.h" not in dict(sections) and '#include "tas_' not in text
    (tmp_path / "model_like.c").write_text(text)
    # Unused is fine here: a model calls every kernel it pastes, this file calls none.
    command = ["gcc", *WARNINGS, "-Wno-unused-function", "-fsyntax-only", str(tmp_path / "model_like.c")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_requantize_has_one_body_in_c():
    """The fast requantize lives in tas_requantize.h only; kernels call it, none rewrites it."""
    body_line = "(((int64_t)shifted * multiplier + (1LL << 30)) >> 31)"
    holders = [p.name for p in KERNELS_DIR.iterdir() if body_line in p.read_text()]
    assert holders == ["tas_requantize.h"]
