"""Render the board files into an export folder and cross-compile the firmware.

    render_firmware(export_dir, board)   firmware/{startup.c, main.c, semihosting.[ch], board.h,
                                         linker.ld, Makefile} from firmware_templates/board/, and
                                         the real-board project/ and renode/ next to it
    build_firmware(export_dir)           src/*.c + firmware/*.c → build/firmware.{elf,hex,bin,map},
                                         and the manifest's "build" section (sizes, flags, compiler)

Decisions (flags, addresses, sizes) are made here; the templates only print them. Everything
written into the export folder is written atomically: gcc works in a temporary folder and the
finished files are moved into build/ by rename.
"""

import dataclasses
import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2

from tinyasc.artifacts.boards import Board, format_kb, get_board, kb_number
from tinyasc.artifacts.export_folder import BUILD_DIR, ELF_NAME, FIRMWARE_DIR, SRC_DIR
from tinyasc.artifacts.manifest import atomic_write_text, read_manifest, update_manifest, write_manifest
from tinyasc.artifacts.twin import CMDLINE_CAPACITY, qemu_base_args
from tinyasc.errors import DoesNotFitError, TinyascError, ToolchainError
from tinyasc.firmware.size import size_report
from tinyasc.paths import TEMPLATES_DIR as SHARED_TEMPLATES_DIR

TEMPLATES_DIR = SHARED_TEMPLATES_DIR / "board"
# template → file written into <export>/firmware/
TEMPLATE_OUTPUTS = {
    "startup.c.j2": "startup.c",
    "main.c.j2": "main.c",
    "semihosting.c.j2": "semihosting.c",
    "semihosting.h.j2": "semihosting.h",
    "board.h.j2": "board.h",
    "linker.ld.j2": "linker.ld",
    "Makefile.j2": "Makefile",
}
REQUIRED_SOURCES = ("model.h", "test_vectors.h")

DEFAULT_STACK_SIZE = 8 * 1024
DEFAULT_OPT = "-O2"
PROFILE_BUILD_DIR = f"{BUILD_DIR}/profile"  # the -DTINYASC_PROFILE variant (per-op ticks)
PROFILE_DEFINE = "TINYASC_PROFILE"
STACK_PAINT_WORD = 0xDEADBEEF
SYSTICK_RELOAD = 0xFFFFFF  # 24-bit counter: the longest period

COMPILER = "arm-none-eabi-gcc"
OBJCOPY = "arm-none-eabi-objcopy"
APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi"
WARNING_FLAGS = ["-Wall", "-Wextra", "-Werror"]
# nano/nosys give the generated code memcpy/memset and libm; startup and semihosting are ours.
LINK_FLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]
LINK_LIBRARIES = ["-lm"]


@dataclass(frozen=True)
class BuildResult:
    board: Board
    elf_path: Path
    hex_path: Path
    bin_path: Path
    map_path: Path
    sizes: dict
    compiler_version: str
    cflags: list
    seconds: float

    def summary(self) -> str:
        s = self.sizes
        return (
            f"built {self.elf_path} for {self.board.name} in {self.seconds:.1f} s\n"
            f"  flash {s['flash']:,} of {self.board.flash_size:,} B "
            f"(model weights {s['weights_bytes']:,}, code {s['code_bytes']:,}, self-test vectors {s.get('test_vector_bytes', 0):,})\n"
            f"  RAM   {s['ram']:,} of {self.board.ram_size:,} B "
            f"(arena {s['arena_bytes']:,}, stack {s['stack']:,}, other {s['ram'] - s['arena_bytes'] - s['stack']:,})"
        )


# ---- flags ---------------------------------------------------------------------------------------

def compile_flags(board: Board, opt: str = DEFAULT_OPT) -> list[str]:
    return [*board.gcc_flags(), "-std=gnu11", opt, "-g", *WARNING_FLAGS,
            "-ffunction-sections", "-fdata-sections"]


def link_flags(linker_script: str) -> list[str]:
    return [*LINK_FLAGS, f"-T{linker_script}", *LINK_LIBRARIES]


def _tool_path(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolchainError(
            f"{tool} not found on PATH. Run `make setup`, or install the Debian packages "
            f"`apt-get install {APT_PACKAGES}`."
        )
    return path


@functools.lru_cache(maxsize=1)
def compiler_version() -> str:
    output = subprocess.run([_tool_path(COMPILER), "--version"], capture_output=True, text=True)
    return output.stdout.splitlines()[0].strip() if output.stdout else "unknown"


# ---- rendering -----------------------------------------------------------------------------------

def _template_context(board: Board, stack_size: int, opt: str) -> dict:
    emulator_only_origin = board.emulator_ram_origin + board.ram_size
    return {
        "board_name": board.name,
        "cpu": board.cpu,
        "has_fpu": board.has_fpu,
        "is_armv6m": board.is_armv6m,
        "emulator_machine": board.emulator_machine,
        "flash_origin_hex": f"0x{board.emulator_flash_origin:08X}",
        "ram_origin_hex": f"0x{board.emulator_ram_origin:08X}",
        "flash_size": board.flash_size,
        "ram_size": board.ram_size,
        "flash_size_kb": kb_number(board.flash_size),
        "ram_size_kb": kb_number(board.ram_size),
        "emulator_only_origin_hex": f"0x{emulator_only_origin:08X}",
        "emulator_only_size": board.emulator_ram_size - board.ram_size,
        "stack_size": stack_size,
        "stack_paint_hex": f"0x{STACK_PAINT_WORD:08X}",
        "systick_reload_hex": f"0x{SYSTICK_RELOAD:06X}",
        "cmdline_capacity": CMDLINE_CAPACITY,
        "cflags": compile_flags(board, opt),
        "ldflags": link_flags("linker.ld"),
        "qemu_args": qemu_base_args(board),
    }


@functools.lru_cache(maxsize=1)
def _template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_firmware(export_dir, board: Board, stack_size: int = DEFAULT_STACK_SIZE,
                    opt: str = DEFAULT_OPT) -> Path:
    """Write the board files (firmware/, project/, renode/) and return the firmware/ folder.
    Only `build` calls this: `export` writes the model's C and no board files."""
    if stack_size <= 0 or stack_size % 8:
        raise TinyascError(f"stack_size must be a positive multiple of 8 bytes, got {stack_size}.")
    firmware_dir = Path(export_dir) / FIRMWARE_DIR
    context = _template_context(board, stack_size, opt)
    environment = _template_environment()
    for template_name, output_name in TEMPLATE_OUTPUTS.items():
        text = environment.get_template(template_name).render(context)
        atomic_write_text(firmware_dir / output_name, text)
    _render_real_board_files(Path(export_dir), board)
    return firmware_dir


def _render_real_board_files(export_dir: Path, board: Board) -> None:
    """Next to the emulation image: the real-board project and, if any, the Renode script."""
    from tinyasc.firmware.project import render_project
    from tinyasc.firmware.renode import render_renode_script

    render_project(export_dir, board)
    render_renode_script(export_dir, board)


# ---- compiling -----------------------------------------------------------------------------------

def _resolve_board(export_dir: Path, board) -> Board:
    if isinstance(board, Board):
        return board
    if board is None:
        board = read_manifest(export_dir).get("board")
        if not board:
            raise TinyascError(
                f"{export_dir}/manifest.json names no board; pass one (`tinyasc build --board ...`)."
            )
    return get_board(board)


def _model_sources(export_dir: Path) -> list[Path]:
    src_dir = export_dir / SRC_DIR
    missing = [name for name in REQUIRED_SOURCES if not (src_dir / name).is_file()]
    sources = sorted(src_dir.glob("*.c"))
    if missing or not sources:
        what = ", ".join(missing) if missing else "any .c file"
        raise TinyascError(
            f"{src_dir} has no {what}: the generated C is incomplete. "
            "Re-run `tinyasc export` for this model."
        )
    return sources


_OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")


class _RegionOverflow(Exception):
    """ld said 'region X overflowed by N bytes'; carries {region: N}."""

    def __init__(self, overflows: dict[str, int]):
        super().__init__(overflows)
        self.overflows = overflows


def _run_tool(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        return
    output = (result.stderr + result.stdout).strip()
    overflows = {region: int(n) for region, n in _OVERFLOW.findall(output)}
    if overflows:
        raise _RegionOverflow(overflows)
    raise ToolchainError(f"{Path(command[0]).name} failed:\n{output}")


def _link(export_dir: Path, cflags: list[str], linker_script: Path, elf: Path, extra_sources=()) -> None:
    firmware_dir = export_dir / FIRMWARE_DIR
    sources = _model_sources(export_dir) + sorted(firmware_dir.glob("*.c")) + list(extra_sources)
    _run_tool([_tool_path(COMPILER), *cflags, f"-I{export_dir / SRC_DIR}", f"-I{firmware_dir}",
               *map(str, sources), *link_flags(str(linker_script)),
               f"-Wl,-Map={elf.with_suffix('.map')}", "-o", str(elf)])


def _sizes_without_limits(export_dir: Path, board: Board, cflags: list[str], stack_size: int,
                          work_dir: Path, extra_sources=()) -> dict | None:
    """Link once more with the twin's (larger) memories to learn where the bytes go."""
    roomy = dataclasses.replace(board, flash_size=board.emulator_flash_size,
                                ram_size=board.emulator_ram_size // 2)
    script = work_dir / "unlimited.ld"
    context = _template_context(roomy, stack_size, DEFAULT_OPT)
    script.write_text(_template_environment().get_template("linker.ld.j2").render(context))
    try:
        _link(export_dir, cflags, script, work_dir / "unlimited.elf", extra_sources)
    except (_RegionOverflow, ToolchainError):
        return None
    return size_report(work_dir / "unlimited.elf")


def _where_it_goes(region: str, sizes: dict | None) -> str:
    if sizes is None:
        return ""
    if region == "FLASH":
        parts = {"model weights": sizes["weights_bytes"], "test vectors": sizes["test_vector_bytes"],
                 "code and other constants": sizes["code_bytes"]}
    else:
        parts = {"activation arena": sizes["arena_bytes"], "stack": sizes["stack"],
                 "other variables": sizes["ram"] - sizes["arena_bytes"] - sizes["stack"]}
    return " It holds " + ", ".join(f"{name} {format_kb(size)}" for name, size in parts.items()) + "."


def _does_not_fit_error(overflows: dict[str, int], board: Board, sizes: dict | None):
    for region, limit, what in (("FLASH", board.flash_size, "flash"), ("RAM", board.ram_size, "RAM")):
        if region in overflows:
            extra = overflows[region]
            return DoesNotFitError(
                f"the firmware does not fit {board.name}: it needs {extra} bytes more {what} than "
                f"{board.name} has ({format_kb(limit + extra)} of {format_kb(limit)})."
                f"{_where_it_goes(region, sizes)} Use a smaller model (fewer channels or layers, "
                f"WS layers, pruning) or a board with more {what} (`tinyasc boards`)."
            )
    return DoesNotFitError(
        f"the model's input does not fit the emulator-only buffer of {board.emulator_machine} "
        f"({board.emulator_ram_size - board.ram_size} bytes beyond {board.name}'s RAM): the "
        "board's RAM is too close to its twin's; pick a twin with more RAM in boards.yaml."
    )


def _compile_and_link(export_dir: Path, board: Board, opt: str, stack_size: int,
                      work_dir: Path, defines: tuple[str, ...] = (), extra_sources: tuple[Path, ...] = ()) -> list[str]:
    """`extra_sources`: more .c files (a variant's own, e.g. the verification build's check table);
    their folders join the include path."""
    cflags = compile_flags(board, opt) + [f"-D{name}" for name in defines]
    cflags += [f"-I{folder}" for folder in dict.fromkeys(str(path.parent) for path in extra_sources)]
    elf = work_dir / ELF_NAME
    try:
        _link(export_dir, cflags, export_dir / FIRMWARE_DIR / "linker.ld", elf, extra_sources)
    except _RegionOverflow as overflow:
        sizes = _sizes_without_limits(export_dir, board, cflags, stack_size, work_dir, extra_sources)
        raise _does_not_fit_error(overflow.overflows, board, sizes) from None
    for output_format, suffix in (("ihex", ".hex"), ("binary", ".bin")):
        _run_tool([_tool_path(OBJCOPY), "-O", output_format, str(elf), str(elf.with_suffix(suffix))])
    return cflags


def _publish(work_dir: Path, build_dir: Path) -> dict[str, Path]:
    """Move the finished files into build/ by rename, so readers never see half an image."""
    published = {}
    for suffix in (".elf", ".hex", ".bin", ".map"):
        target = build_dir / f"firmware{suffix}"
        os.replace(work_dir / f"firmware{suffix}", target)
        published[suffix] = target
    return published


def _build_section(board: Board, sizes: dict, cflags: list, opt: str, stack_size: int,
                   seconds: float) -> dict:
    return {
        "board": board.name,
        "emulator_machine": board.emulator_machine,
        "compiler": compiler_version(),
        "cflags": cflags,
        "ldflags": LINK_FLAGS + LINK_LIBRARIES,
        "opt": opt,
        "stack_size": stack_size,
        "sizes": sizes,
        "flash_limit": board.flash_size,
        "ram_limit": board.ram_size,
        "flash_used_percent": round(100.0 * sizes["flash"] / board.flash_size, 2),
        "ram_used_percent": round(100.0 * sizes["ram"] / board.ram_size, 2),
        # The image is linked at the twin's addresses; it is flashable as is only when they match.
        "linked_for_board_addresses": board.linked_for_board_addresses,
        "artifacts": {kind: f"{BUILD_DIR}/firmware.{kind}" for kind in ("elf", "hex", "bin", "map")},
        "build_seconds": round(seconds, 3),
    }


def _forget_previous_build(export_dir: Path, build_dir: Path) -> None:
    """A failed build must not leave the previous image to be emulated or flashed by mistake."""
    for suffix in (".elf", ".hex", ".bin", ".map"):
        (build_dir / f"firmware{suffix}").unlink(missing_ok=True)
    manifest = read_manifest(export_dir)
    if "build" in manifest or "emulation" in manifest:
        manifest.pop("build", None)
        manifest.pop("emulation", None)
        write_manifest(export_dir, manifest)


def build_firmware(export_dir, board=None, opt: str = DEFAULT_OPT,
                   stack_size: int = DEFAULT_STACK_SIZE, profile: bool = False) -> BuildResult:
    """Cross-compile src/*.c with freshly rendered board files; sizes go to the manifest.

    `board` is a name, a Board, or None for the manifest's "board". `profile=True` builds the
    per-op profiling variant (-DTINYASC_PROFILE) into build/profile/ instead, leaving the
    release image and the manifest's "build" section alone.
    """
    started = time.perf_counter()
    export_dir = Path(export_dir).resolve()
    board = _resolve_board(export_dir, board)
    _tool_path(COMPILER)
    render_firmware(export_dir, board, stack_size=stack_size, opt=opt)
    if profile:
        return _build_profile_variant(export_dir, board, opt, stack_size, started)
    build_dir = export_dir / BUILD_DIR
    build_dir.mkdir(parents=True, exist_ok=True)
    _forget_previous_build(export_dir, build_dir)
    with tempfile.TemporaryDirectory(dir=build_dir, prefix=".build-") as work:
        cflags = _compile_and_link(export_dir, board, opt, stack_size, Path(work))
        artifacts = _publish(Path(work), build_dir)
    sizes = size_report(artifacts[".elf"])
    seconds = time.perf_counter() - started
    update_manifest(export_dir, "build",
                    _build_section(board, sizes, cflags, opt, stack_size, seconds))
    return BuildResult(board=board, elf_path=artifacts[".elf"], hex_path=artifacts[".hex"],
                       bin_path=artifacts[".bin"], map_path=artifacts[".map"], sizes=sizes,
                       compiler_version=compiler_version(), cflags=cflags, seconds=seconds)


def _build_profile_variant(export_dir: Path, board: Board, opt: str, stack_size: int,
                           started: float) -> BuildResult:
    """The same image with the per-op hook compiled in, published to build/profile/."""
    profile_dir = export_dir / PROFILE_BUILD_DIR
    profile_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=profile_dir, prefix=".build-") as work:
        cflags = _compile_and_link(export_dir, board, opt, stack_size, Path(work), defines=(PROFILE_DEFINE,))
        artifacts = _publish(Path(work), profile_dir)
    return BuildResult(board=board, elf_path=artifacts[".elf"], hex_path=artifacts[".hex"],
                       bin_path=artifacts[".bin"], map_path=artifacts[".map"],
                       sizes=size_report(artifacts[".elf"]), compiler_version=compiler_version(),
                       cflags=cflags, seconds=time.perf_counter() - started)
