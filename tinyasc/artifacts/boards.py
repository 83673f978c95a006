"""The board database (`boards.yaml`): load, validate, look up, print.

Every board is emulated on a QEMU machine with the same core (DESIGN §5). A Board therefore carries
two memory maps: the real board's (origins and sizes, used for flashing and for the size limits)
and the emulator twin's (where the image is linked so it runs in QEMU). Validation happens once, on
load, and every error names the file, the board and the key, and says what was expected.
"""

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tinyasc.artifacts.yaml_input import clip_repr, load_user_yaml
from tinyasc.errors import BoardConfigError

BOARDS_ENV_VAR = "TINYASC_BOARDS"
# The copy inside an installed wheel (setup.py puts it there), else the one at the repo root. Found
# here rather than through tinyasc.paths: artifacts imports no other module (DESIGN §2).
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_SHIPPED_BOARDS = _PACKAGE_DIR / "_shipped" / "boards.yaml"
DEFAULT_BOARDS_PATH = _SHIPPED_BOARDS if _SHIPPED_BOARDS.is_file() else _PACKAGE_DIR.parent / "boards.yaml"
FLOAT_ABIS = ("soft", "softfp", "hard")
NO_FPU = "none"
ARMV6M_CPUS = ("cortex-m0", "cortex-m0plus", "cortex-m1")
# ISA extensions a board may list; kernels name the ones they need (compile/ops: Kernel.requires).
ISA_EXTENSIONS = ("dsp", "fpu", "mve")
# Cores that cannot have DSP or MVE instructions, whatever boards.yaml says.
CPUS_WITHOUT_DSP = ARMV6M_CPUS + ("cortex-m3",)
# The Cortex-M cores arm-none-eabi-gcc 12 takes as -mcpu (the kernels and startup code are written for these).
CORTEX_M_CPUS = ARMV6M_CPUS + ("cortex-m3", "cortex-m4", "cortex-m7", "cortex-m23", "cortex-m33", "cortex-m35p",
                               "cortex-m55")


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    cpu: str
    fpu: str  # gcc -mfpu value, or "none"
    float_abi: str
    clock_hz: int
    flash_size: int
    ram_size: int
    flash_origin: int
    ram_origin: int
    emulator_machine: str
    emulator_flash_origin: int
    emulator_ram_origin: int
    systick_hz: int
    renode_platform: str | None
    flasher: dict = field(default_factory=dict, hash=False, compare=False)
    emulator_flash_size: int = 4 * 1024 * 1024
    emulator_ram_size: int = 4 * 1024 * 1024
    extensions: frozenset[str] = frozenset()  # ISA extensions of the core (ISA_EXTENSIONS)

    @property
    def has_fpu(self) -> bool:
        return self.fpu != NO_FPU

    @property
    def is_armv6m(self) -> bool:
        """Thumb-1 only cores: no IT blocks, no CFSR/HFSR; the startup code differs."""
        return self.cpu in ARMV6M_CPUS

    @property
    def linked_for_board_addresses(self) -> bool:
        """True when the twin's memory map is the board's, so the emulation image is flashable."""
        return (self.flash_origin == self.emulator_flash_origin
                and self.ram_origin == self.emulator_ram_origin)

    def gcc_flags(self) -> list[str]:
        flags = [f"-mcpu={self.cpu}", "-mthumb", f"-mfloat-abi={self.float_abi}"]
        if self.has_fpu:
            flags.append(f"-mfpu={self.fpu}")
        return flags


# ---- schema: key -> (expected type, description for error messages) -----------------------------

def _is_name(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", value) is not None


# A description reaches C and linker-script comments, Makefiles, CMake, README and Renode scripts:
# one line of words, digits and plain punctuation (no '*', '\\', quotes, '$', braces or '<>').
PLAIN_TEXT = re.compile(r"[\w .,:;()+/@%&'!?#=\[\]-]{1,160}")
# A Renode platform description: a relative (Renode's own platforms/...) or absolute .repl path.
REPL_PATH = re.compile(r"/?[A-Za-z0-9_][A-Za-z0-9_./-]*\.repl")
# A tool argument such as an openocd target script: a path, never an option.
TOOL_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./+-]*")
FLASHER_KEYS = ("pyocd_target", "nrfjprog_family", "openocd_config", "bossac_offset")


def _is_text(value) -> bool:
    return isinstance(value, str) and PLAIN_TEXT.fullmatch(value.strip()) is not None


def _is_repl_path(value) -> bool:
    return value is None or (isinstance(value, str) and REPL_PATH.fullmatch(value) is not None)


def _is_flasher(value) -> bool:
    """{} or known settings whose values are names (pyocd target, nrfjprog family), a path
    (openocd_config) or a flash address (bossac_offset)."""
    if not isinstance(value, dict) or any(key not in FLASHER_KEYS for key in value):
        return False
    return all(_is_flasher_setting(key, item) for key, item in value.items())


def _is_flasher_setting(key: str, item) -> bool:
    if key == "bossac_offset":
        return isinstance(item, int) and not isinstance(item, bool) and 0 <= item < 2**32
    if not isinstance(item, str):
        return False
    return TOOL_PATH.fullmatch(item) is not None if key == "openocd_config" else _is_name(item)


def comment_safe(text) -> str:
    """Text that cannot end or open a comment, or start a new line, in C, linker scripts, Make,
    CMake or Renode (every template quoting a board field uses it, on top of the validation)."""
    text = re.sub(r"[\x00-\x1f\x7f]", " ", str(text))
    return text.replace("*/", "* /").replace("/*", "/ *")


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_clock(value) -> bool:
    """Hz in a uint32: the clock reaches C as an unsigned constant (TAS_BOARD_CLOCK_HZ)."""
    return _is_positive_int(value) and value < 2**32


def _is_address(value) -> bool:
    """A 32-bit address, word-aligned (the stack and vector table start at memory origins)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32 and value % 4 == 0


def _is_size(value) -> bool:
    return _parse_size(value) is not None


def _is_mapping(value) -> bool:
    return isinstance(value, dict)


def _is_extension_list(value) -> bool:
    return isinstance(value, list) and all(v in ISA_EXTENSIONS for v in value) and len(set(value)) == len(value)


MEMORY_SCHEMA = {
    "origin": (_is_address, "a word-aligned address such as 0x20000000"),
    "size": (_is_size, "a size in bytes, or a string such as 256K or 1M"),
}
EMULATOR_SCHEMA = {
    "machine": (_is_name, "a QEMU machine name such as mps2-an386"),
    "flash_origin": (_is_address, "a word-aligned address such as 0x00000000"),
    "flash_size": (_is_size, "the twin's code memory size, such as 4M"),
    "ram_origin": (_is_address, "a word-aligned address such as 0x20000000"),
    "ram_size": (_is_size, "the twin's RAM size, such as 4M"),
    "systick_hz": (_is_clock, "the twin's SysTick clock in Hz (below 2**32), such as 25000000"),
}
BOARD_SCHEMA = {
    "description": (_is_text, "a one-line description of at most 160 letters, digits, spaces and "
                              ".,:;()+/@%&'!?#=[]- (no quotes, '*', '\\', '$', braces or new lines)"),
    "cpu": (lambda v: v in CORTEX_M_CPUS, "a Cortex-M core gcc knows: " + ", ".join(CORTEX_M_CPUS)),
    "fpu": (_is_name, "a gcc -mfpu value such as fpv4-sp-d16, or none"),
    "float_abi": (lambda v: v in FLOAT_ABIS, "one of " + ", ".join(FLOAT_ABIS)),
    "extensions": (_is_extension_list, "a list of ISA extensions without repeats, each one of "
                                       + ", ".join(ISA_EXTENSIONS) + " (such as [dsp, fpu], or [])"),
    "clock_hz": (_is_clock, "the core clock in Hz (below 2**32), such as 64000000"),
    "flash": (_is_mapping, "a mapping {origin: ..., size: ...}"),
    "ram": (_is_mapping, "a mapping {origin: ..., size: ...}"),
    "emulator": (_is_mapping, "a mapping {machine, flash_origin, flash_size, ram_origin, "
                              "ram_size, systick_hz}"),
    "renode_platform": (_is_repl_path, "a Renode .repl path (letters, digits, _ . / -), or null"),
    "flasher": (_is_flasher, "a mapping of flasher settings (may be {}): " + ", ".join(FLASHER_KEYS)
                             + ", each a name such as nrf52840 (openocd_config: a path such as target/stm32f4x.cfg; "
                             "bossac_offset: a flash address such as 0x10000)"),
}
NESTED_SCHEMAS = {"flash": MEMORY_SCHEMA, "ram": MEMORY_SCHEMA, "emulator": EMULATOR_SCHEMA}


def _parse_size(value) -> int | None:
    """Bytes from an int or a string like "256K", "1M", "64 KB"; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([KkMm]?)i?[Bb]?\s*", value)
    if match is None or int(match.group(1)) == 0:
        return None
    multiplier = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    return int(match.group(1)) * multiplier


# ---- validation ----------------------------------------------------------------------------------

def _check_mapping(entry: dict, schema: dict, where: str, path: Path) -> None:
    """Unknown keys (with a did-you-mean), missing keys and wrong types, in that order."""
    for key in entry:
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise BoardConfigError(
                f"{path}: {where} has an unknown key {clip_repr(key)}.{hint} "
                f"Known keys: {', '.join(schema)}."
            )
    for key, (is_valid, expected) in schema.items():
        if key not in entry:
            raise BoardConfigError(
                f"{path}: {where} is missing the key '{key}' ({expected}); add it."
            )
        if not is_valid(entry[key]):
            raise BoardConfigError(
                f"{path}: {where}: '{key}' must be {expected}. Received: {key}={clip_repr(entry[key])}."
            )


def _check_consistency(board: Board, path: Path) -> None:
    where = f"{path}: board '{board.name}'"
    if not board.has_fpu and board.float_abi == "hard":
        raise BoardConfigError(
            f"{where}: float_abi 'hard' needs an FPU but fpu is 'none'; use float_abi: soft."
        )
    if board.has_fpu != ("fpu" in board.extensions):
        raise BoardConfigError(
            f"{where}: fpu is '{board.fpu}' but extensions {sorted(board.extensions)} "
            f"{'lack' if board.has_fpu else 'list'} 'fpu'; list 'fpu' exactly when the core has an FPU."
        )
    if board.cpu in CPUS_WITHOUT_DSP and board.extensions & {"dsp", "mve"}:
        raise BoardConfigError(
            f"{where}: a {board.cpu} has no DSP or MVE instructions, but extensions lists "
            f"{sorted(board.extensions & {'dsp', 'mve'})}; remove them (kernels using them would fault)."
        )
    if board.flash_size > board.emulator_flash_size or board.ram_size > board.emulator_ram_size:
        raise BoardConfigError(
            f"{where}: the board's memories (flash {board.flash_size} B, RAM {board.ram_size} B) "
            f"exceed its emulator twin {board.emulator_machine} (flash "
            f"{board.emulator_flash_size} B, RAM {board.emulator_ram_size} B); pick a larger twin."
        )


def _board_from_entry(name: str, entry, path: Path) -> Board:
    where = f"board '{name}'"
    if not _is_name(name):
        raise BoardConfigError(
            f"{path}: board name {clip_repr(name)} must be letters, digits, '-', '_' or '.'."
        )
    if not isinstance(entry, dict):
        raise BoardConfigError(f"{path}: {where} must be a mapping of keys, got {clip_repr(entry)}.")
    _check_mapping(entry, BOARD_SCHEMA, where, path)
    for key, schema in NESTED_SCHEMAS.items():
        _check_mapping(entry[key], schema, f"{where}, {key}", path)
    flash, ram, emulator = entry["flash"], entry["ram"], entry["emulator"]
    board = Board(
        name=name,
        description=entry["description"].strip(),
        cpu=entry["cpu"],
        fpu=entry["fpu"],
        float_abi=entry["float_abi"],
        clock_hz=entry["clock_hz"],
        flash_size=_parse_size(flash["size"]),
        ram_size=_parse_size(ram["size"]),
        flash_origin=flash["origin"],
        ram_origin=ram["origin"],
        emulator_machine=emulator["machine"],
        emulator_flash_origin=emulator["flash_origin"],
        emulator_ram_origin=emulator["ram_origin"],
        systick_hz=emulator["systick_hz"],
        renode_platform=entry["renode_platform"],
        flasher=dict(entry["flasher"]),
        emulator_flash_size=_parse_size(emulator["flash_size"]),
        emulator_ram_size=_parse_size(emulator["ram_size"]),
        extensions=frozenset(entry["extensions"]),
    )
    _check_consistency(board, path)
    return board


def _read_yaml(path: Path):
    if not path.is_file():
        raise BoardConfigError(
            f"cannot read the board database {path} (no such file); "
            f"point {BOARDS_ENV_VAR} at a boards.yaml or restore the shipped one ({DEFAULT_BOARDS_PATH})."
        )
    return load_user_yaml(path, BoardConfigError, "board database")


# ---- public API ----------------------------------------------------------------------------------

def boards_path(path=None) -> Path:
    """The explicit path, else $TINYASC_BOARDS, else the shipped boards.yaml (repo root or wheel)."""
    if path is not None:
        return Path(path)
    if os.environ.get(BOARDS_ENV_VAR):
        return Path(os.environ[BOARDS_ENV_VAR])
    return DEFAULT_BOARDS_PATH


def load_boards(path=None) -> dict[str, Board]:
    path = boards_path(path)
    document = _read_yaml(path)
    if not isinstance(document, dict) or not isinstance(document.get("boards"), dict):
        raise BoardConfigError(
            f"{path}: expected a top-level key 'boards' mapping board names to their settings."
        )
    unknown = sorted(set(document) - {"boards"})
    if unknown:
        raise BoardConfigError(
            f"{path}: unknown top-level key(s) {clip_repr(unknown)}; only 'boards' is allowed."
        )
    if not document["boards"]:
        raise BoardConfigError(f"{path}: 'boards' is empty; describe at least one board.")
    return {str(name): _board_from_entry(str(name), entry, path)
            for name, entry in document["boards"].items()}


def get_board(name: str, path=None) -> Board:
    boards = load_boards(path)
    if name in boards:
        return boards[name]
    close = difflib.get_close_matches(str(name)[:100], list(boards), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise BoardConfigError(
        f"unknown board {clip_repr(name)}.{hint} Known boards: {', '.join(sorted(boards))} "
        f"(from {boards_path(path)}; `tinyasc boards` lists them)."
    )


def kb_number(size: int) -> str:
    """A size in KB as people write it: 256, 1.5."""
    return f"{size // 1024}" if size % 1024 == 0 else f"{size / 1024:.1f}"


def format_kb(size: int) -> str:
    """A board's memory as people write it: 256 KB, 1.5 KB; under 1 KB, in bytes (never "0 KB")."""
    return f"{size} bytes" if size < 1024 else f"{kb_number(size)} KB"


def format_boards_table(boards: dict[str, Board]):
    from rich.table import Table  # rich only matters for the CLI table

    table = Table(title="tinyasc boards")
    for column in ("board", "cpu", "fpu", "extensions", "clock", "flash", "RAM", "emulator", "renode"):
        table.add_column(column, no_wrap=column != "renode")
    for board in boards.values():
        table.add_row(
            board.name,
            board.cpu,
            board.fpu,
            " ".join(sorted(board.extensions)) or "-",
            f"{board.clock_hz / 1e6:g} MHz",
            format_kb(board.flash_size),
            format_kb(board.ram_size),
            board.emulator_machine,
            board.renode_platform or "-",
        )
    return table
