"""The real-board project next to the emulation image: `export/<name>/project/`.

    render_project(export_dir, board)   project/ from firmware_templates/project/: the real part's
                                        linker script, startup, an RTT console, main.c, CMake +
                                        toolchain file, Makefile, README, and lib/tinyasc_model/
    build_project(export_dir)           cmake configure + build with the arm-none-eabi toolchain
                                        file → project/build/<name>.elf; sizes against the limits

The emulation image (`build/firmware.elf`) is linked at the QEMU twin's addresses; this project is
linked at the part's own, so it is what `tinyasc flash` programs when the two maps differ.
"""

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2

from tinyasc.artifacts.boards import Board, comment_safe, kb_number
from tinyasc.artifacts.export_folder import PROJECT_DIR, SRC_DIR
from tinyasc.artifacts.manifest import MANIFEST_NAME, atomic_write_bytes, atomic_write_text, read_manifest
from tinyasc.errors import DoesNotFitError, TinyascError, ToolchainError
from tinyasc.firmware.size import size_report
from tinyasc.paths import TEMPLATES_DIR as SHARED_TEMPLATES_DIR

LIBRARY_DIR = "lib/tinyasc_model"
TEMPLATES_DIR = SHARED_TEMPLATES_DIR / "project"
# template → path inside project/
TEMPLATE_OUTPUTS = {
    "README.md.j2": "README.md",
    "CMakeLists.txt.j2": "CMakeLists.txt",
    "arm-none-eabi.cmake.j2": "cmake/arm-none-eabi.cmake",
    "Makefile.j2": "Makefile",
    "linker.ld.j2": "linker.ld",
    "startup.c.j2": "src/startup.c",
    "main.c.j2": "src/main.c",
    "rtt_console.c.j2": "src/rtt_console.c",
    "rtt_console.h.j2": "src/rtt_console.h",
    "tinyasc_board.h.j2": "src/tinyasc_board.h",
}
# The export's src/ splits in two: the test vectors belong to the self-test application, every
# other file (model.c, model.h and anything they include) is the model library.
APPLICATION_SOURCES = ("test_vectors.c", "test_vectors.h")
RTT_BUFFER_SIZE = 1024
PROJECT_STACK_SIZE = 4 * 1024
COMMON_FLAGS = ["-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
                "-ffunction-sections", "-fdata-sections"]
LINK_FLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
              "-lm"]
CMAKE_BUILD_DIR = "build"
# What a reader of the real board must know that the memory map alone does not say.
BOARD_NOTES = {
    "arduino-nano-33-ble": "The Arduino bootloader occupies 0x0-0xFFFF; this image starts at "
                           "0x10000. A SWD probe programs only these pages, so the bootloader stays.",
    "rp2040": "The RP2040 boot ROM first runs a 256-byte second-stage bootloader (boot2) from the "
              "start of flash. It is not generated here: prepend the Pico SDK's boot2 (or use the "
              "Arduino/Pico SDK route below), otherwise the chip does not boot this image.",
}


@dataclass(frozen=True)
class ProjectBuild:
    elf_path: Path
    sizes: dict


def _manifest_or_empty(export_dir: Path) -> dict:
    """Board files may be rendered into a bare folder (tests do); the manifest is optional here."""
    return read_manifest(export_dir) if (Path(export_dir) / MANIFEST_NAME).is_file() else {}


def project_name(export_dir: Path) -> str:
    """A C/CMake-friendly target name: tinyasc_<export name>."""
    name = _manifest_or_empty(export_dir).get("name") or Path(export_dir).name
    return "tinyasc_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _context(export_dir: Path, board: Board) -> dict:
    manifest = _manifest_or_empty(export_dir)
    return {
        "board_name": board.name,
        "description": board.description,
        "board_note": BOARD_NOTES.get(board.name, ""),
        "project_name": project_name(export_dir),
        "cpu": board.cpu,
        "clock_hz": board.clock_hz,
        "clock_mhz": f"{board.clock_hz / 1e6:g}",
        "has_fpu": board.has_fpu,
        "cpu_flags": board.gcc_flags(),
        "common_flags": COMMON_FLAGS,
        "link_flags": LINK_FLAGS,
        "flash_origin_hex": f"0x{board.flash_origin:08X}",
        "ram_origin_hex": f"0x{board.ram_origin:08X}",
        "flash_size": board.flash_size,
        "ram_size": board.ram_size,
        "flash_size_kb": kb_number(board.flash_size),
        "ram_size_kb": kb_number(board.ram_size),
        "stack_size": PROJECT_STACK_SIZE,
        "emulator_machine": board.emulator_machine,
        "linked_for_board_addresses": board.linked_for_board_addresses,
        "pyocd_target": board.flasher.get("pyocd_target"),
        "rtt_buffer_size": RTT_BUFFER_SIZE,
        "arena_bytes": manifest.get("export", {}).get("arena_bytes", "?"),
        "num_vectors": manifest.get("export", {}).get("test_vectors", "N"),
        "stream": manifest.get("stream"),
    }


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters["comment_safe"] = comment_safe  # board text inside comments
    return environment


def render_project(export_dir, board: Board) -> Path:
    """Write project/ (templates + the model library copied from src/); returns the folder."""
    export_dir = Path(export_dir)
    project_dir = export_dir / PROJECT_DIR
    context = _context(export_dir, board)
    environment = _environment()
    for template_name, output_name in TEMPLATE_OUTPUTS.items():
        atomic_write_text(project_dir / output_name,
                          environment.get_template(template_name).render(context))
    # Board files can be rendered before the model's C exists: copy whatever src/ holds.
    for source in sorted((export_dir / SRC_DIR).glob("*.[ch]")):
        folder = "src" if source.name in APPLICATION_SOURCES else LIBRARY_DIR
        atomic_write_bytes(project_dir / folder / source.name, source.read_bytes())
    return project_dir


def _cmake() -> str:
    path = shutil.which("cmake")
    if path is None:
        raise ToolchainError("cmake not found on PATH; install it (`apt-get install cmake`).")
    return path


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        if "overflowed by" in output:
            raise DoesNotFitError(f"the real-board project does not fit: {output[-600:]}")
        raise ToolchainError(f"{what} failed:\n{output[-3000:]}")


def build_project(export_dir) -> ProjectBuild:
    """Configure and build project/ with CMake and its arm-none-eabi toolchain file."""
    project_dir = Path(export_dir).resolve() / PROJECT_DIR
    if not (project_dir / "CMakeLists.txt").is_file():
        raise TinyascError(f"{project_dir} has no CMakeLists.txt; run `tinyasc build` first.")
    if not (project_dir / LIBRARY_DIR / "model.c").is_file():
        raise TinyascError(f"{project_dir / LIBRARY_DIR} has no model.c; re-run `tinyasc export`.")
    build_dir = project_dir / CMAKE_BUILD_DIR
    _run([_cmake(), "-S", str(project_dir), "-B", str(build_dir),
          "-DCMAKE_TOOLCHAIN_FILE=" + str(project_dir / "cmake" / "arm-none-eabi.cmake")],
         "cmake configure")
    _run([_cmake(), "--build", str(build_dir)], "cmake build")
    elf = build_dir / f"{project_name(Path(export_dir))}.elf"
    return ProjectBuild(elf_path=elf, sizes=size_report(elf))
