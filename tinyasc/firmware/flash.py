"""`tinyasc flash export/<name>`: program a real board with the export's image.

    plan_flash(export_dir, ...)   which image, which tool, which command; checks that the image
                                  was built for this board and is linked at its addresses
    flash(plan)                   runs it: pyocd through its Python API, nrfjprog or openocd as
                                  programs

The image is the real-board project's ELF (project/build/, linked at the part's own addresses,
console over RTT), never the emulation image (build/firmware.elf), whose semihosting calls stop a
core that has no debugger attached. The tool comes from the board's `flasher`
settings in boards.yaml: bossac_offset → bossac (a USB bootloader, no probe), pyocd_target → pyocd,
nrfjprog_family → nrfjprog, openocd_config → openocd, tried in that order unless `--tool` picks one.
"""

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

from tinyasc.artifacts.boards import Board, get_board
from tinyasc.artifacts.export_folder import PROJECT_DIR
from tinyasc.artifacts.manifest import read_manifest
from tinyasc.errors import ToolchainError, TinyascError
from tinyasc.firmware.project import CMAKE_BUILD_DIR, project_name

# bossac first: where a board has it (a USB bootloader), it needs no debug probe.
TOOLS = ("bossac", "pyocd", "nrfjprog", "openocd")
TOOL_SETTING = {"bossac": "bossac_offset", "pyocd": "pyocd_target", "nrfjprog": "nrfjprog_family",
                "openocd": "openocd_config"}
OPENOCD_INTERFACE = "interface/cmsis-dap.cfg"
INSTALL_HINTS = {
    "pyocd": "install it into tinyasc's venv: `.venv/bin/pip install pyocd`",
    "nrfjprog": "install Nordic's nRF Command Line Tools (nrfjprog is not on PyPI or Debian)",
    "openocd": "install it: `apt-get install openocd`",
    "bossac": "install Arduino's bossac (arduino-cli core install arduino:mbed_nano ships it) or `apt-get install bossa-cli`",
}


class FlashError(ToolchainError):
    """No probe, no tool, or an image that does not belong on this board."""


@dataclass(frozen=True)
class FlashPlan:
    board: Board
    tool: str
    image: Path
    description: str  # what will happen, in words
    command: list = field(default_factory=list)  # the program run (nrfjprog, openocd), or []
    probe: str | None = None

    def dry_run_text(self) -> str:
        lines = [f"would flash {self.image}", f"  board   {self.board.name} ({self.board.description})",
                 f"  tool    {self.tool}: {self.description}"]
        if self.command:
            lines.append("  command " + " ".join(self.command))
        return "\n".join(lines)


# ---- choosing the image --------------------------------------------------------------------------

def _project_elf(export_dir: Path) -> Path:
    return export_dir / PROJECT_DIR / CMAKE_BUILD_DIR / f"{project_name(export_dir)}.elf"


def _built_board_name(export_dir: Path, manifest: dict) -> str:
    name = manifest.get("build", {}).get("board") or manifest.get("board")
    if not name:
        raise TinyascError(f"{export_dir}/manifest.json names no board; re-run `tinyasc export`.")
    return name


def _choose_image(export_dir: Path, board: Board, manifest: dict) -> Path:
    """The real-board project's image, never the emulation image: that one talks to the host through
    semihosting (BKPT), which stops a core with no debugger attached on its first print."""
    project_elf = _project_elf(export_dir)
    if project_elf.is_file():
        return project_elf
    project = export_dir / PROJECT_DIR
    raise FlashError(
        f"{export_dir} has no real-board image yet: run `tinyasc build --project {export_dir}` (or "
        f"`cmake -S {project} -B {project / CMAKE_BUILD_DIR} -DCMAKE_TOOLCHAIN_FILE={project / 'cmake/arm-none-eabi.cmake'} "
        f"&& cmake --build {project / CMAKE_BUILD_DIR}`); build/firmware.elf is the emulation image, whose "
        "semihosting would stop the board without a debugger."
        + ("" if manifest.get("build", {}).get("linked_for_board_addresses") is not False else
           f" It is also linked at the {board.emulator_machine} twin's addresses, not {board.name}'s.")
    )


def _check_image_fits_board(image: Path, board: Board) -> None:
    """Every byte the flasher writes must land in the board's flash, else it is another board's."""
    with open(image, "rb") as f:
        segments = [(s["p_paddr"], s["p_filesz"]) for s in ELFFile(f).iter_segments()
                    if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0]
    end = board.flash_origin + board.flash_size
    for address, size in segments:
        if not (board.flash_origin <= address and address + size <= end):
            raise FlashError(
                f"{image} writes {size} bytes at {address:#010x}, outside {board.name}'s flash "
                f"({board.flash_origin:#010x}-{end:#010x}): it was built for another board or "
                f"memory map. Re-export with `--board {board.name}` and rebuild."
            )


# ---- choosing the tool ---------------------------------------------------------------------------

def _choose_tool(board: Board, tool: str | None) -> str:
    available = [name for name in TOOLS if board.flasher.get(TOOL_SETTING[name])]
    if tool is not None:
        if tool not in TOOLS:
            raise FlashError(f"unknown flash tool '{tool}'; use one of {', '.join(TOOLS)}.")
        if tool not in available:
            raise FlashError(
                f"boards.yaml has no '{TOOL_SETTING[tool]}' for {board.name}, which {tool} needs; "
                f"add it under the board's flasher, or use "
                f"{', '.join(available) or 'a board with flasher settings'}."
            )
        return tool
    if not available:
        raise FlashError(
            f"{board.name} has no flasher settings in boards.yaml (pyocd_target, nrfjprog_family "
            "or openocd_config); add one to flash it, e.g. `flasher: {pyocd_target: <target>}`."
        )
    return available[0]


def _tool_command(tool: str, board: Board, image: Path, probe: str | None) -> list[str]:
    if tool == "bossac":
        # the bootloader writes the raw image at its application offset (checked in plan_flash)
        port = [f"--port={probe}"] if probe else []
        return ["bossac", "-d", *port, "-U", "-i", "-e", "-w", str(image.with_suffix(".bin")), "-R"]
    if tool == "nrfjprog":
        command = ["nrfjprog", "-f", board.flasher["nrfjprog_family"], "--program",
                   str(image.with_suffix(".hex")), "--sectorerase", "--verify", "--reset"]
        return command + (["--snr", probe] if probe else [])
    if tool == "openocd":
        adapter = ["-c", f"adapter serial {probe}"] if probe else []
        return ["openocd", "-f", OPENOCD_INTERFACE, *adapter, "-f", board.flasher["openocd_config"],
                "-c", f"program {image} verify reset exit"]
    return []


def plan_flash(export_dir, board_name: str | None = None, tool: str | None = None,
               probe: str | None = None) -> FlashPlan:
    """Everything `flash` will do, checked, without touching a probe."""
    if probe is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", probe):
        # It reaches openocd's Tcl (`adapter serial ...`): a serial number, never a command.
        raise FlashError(f"--probe {probe[:40]!r}: a probe id is letters, digits and _ . : - (at most 64); "
                         "`pyocd list` or `nrfjprog --ids` shows them")
    export_dir = Path(export_dir).resolve()
    manifest = read_manifest(export_dir)
    built_for = _built_board_name(export_dir, manifest)
    if board_name is not None and board_name != built_for:
        raise FlashError(
            f"{export_dir} was built for {built_for}, not {board_name}; re-export with "
            f"`tinyasc export --board {board_name}` or flash a {built_for}."
        )
    board = get_board(built_for)
    chosen = _choose_tool(board, tool)  # first: a board no tool can program needs no build advice
    image = _choose_image(export_dir, board, manifest)
    _check_image_fits_board(image, board)
    if chosen == "bossac" and int(board.flasher["bossac_offset"]) != board.flash_origin:
        raise FlashError(f"boards.yaml: {board.name}'s bossac_offset {int(board.flasher['bossac_offset']):#x} is "
                         f"not its flash origin {board.flash_origin:#x}; the bootloader would misplace the image.")
    if chosen == "pyocd":
        description = (f"pyocd Python API: target {board.flasher['pyocd_target']}, "
                       f"probe {probe or 'the only one connected'}, program {image.name}, reset")
    elif chosen == "bossac":
        description = (f"bossac over the USB bootloader ({probe or 'first serial port found'}; double-tap reset "
                       "if the board does not enter it), write the .bin, reset")
    else:
        description = f"{chosen} program, verify and reset"
    return FlashPlan(board=board, tool=chosen, image=image, description=description,
                     command=_tool_command(chosen, board, image, probe), probe=probe)


# ---- flashing ------------------------------------------------------------------------------------

def _flash_with_pyocd(plan: FlashPlan) -> str:
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise FlashError(f"pyocd is not installed; {INSTALL_HINTS['pyocd']}.") from None
    probes = ConnectHelper.get_all_connected_probes(blocking=False)
    if not probes:
        raise FlashError(
            f"no debug probe found (pyocd sees none): connect {plan.board.name} through its USB "
            "debug port (CMSIS-DAP, J-Link or ST-Link), check the cable and the udev rules, "
            "then retry. `pyocd list` shows what pyocd sees."
        )
    if plan.probe is None and len(probes) > 1:
        raise FlashError(
            "several debug probes are connected (" + ", ".join(p.unique_id for p in probes)
            + "); pick one with --probe <unique id>."
        )
    session = ConnectHelper.session_with_chosen_probe(
        unique_id=plan.probe, blocking=False, target_override=plan.board.flasher["pyocd_target"])
    if session is None:
        raise FlashError(f"no debug probe with id {plan.probe!r}; `pyocd list` shows the ids.")
    with session:
        FileProgrammer(session).program(str(plan.image))
        session.board.target.reset()
    return f"flashed {plan.image} to {plan.board.name} with pyocd"


def _flash_with_program(plan: FlashPlan) -> str:
    if shutil.which(plan.command[0]) is None:
        raise FlashError(f"{plan.command[0]} not found on PATH; {INSTALL_HINTS[plan.tool]}.")
    result = subprocess.run(plan.command, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise FlashError(f"{plan.tool} failed (exit {result.returncode}); is the board connected "
                         f"and powered?\n{output[-2000:]}")
    return f"flashed {plan.image} to {plan.board.name} with {plan.tool}"


def flash(plan: FlashPlan) -> str:
    """Program the board; returns one line saying what was done."""
    if plan.tool == "pyocd":
        return _flash_with_pyocd(plan)
    return _flash_with_program(plan)
