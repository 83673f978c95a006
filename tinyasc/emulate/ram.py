"""Where a built image's RAM goes on the real board, with the stack counted as measured.

    ram_budget(elf, ram_limit, stack_used)   → the "ram" figures of the manifest's emulation section
    ram_line(budget)                         → the sentence `tinyasc emulate` prints

The linker reserves a fixed stack (linker.ld.j2); the firmware paints it at reset and reports the
deepest word that changed (startup.c.j2, `stack_used` on every TINYASC_ result line). Two totals:

    used_bytes           data + bss + the measured stack high-water mark: what the run touched
    used_linked_bytes    data + bss + the whole reserved stack: what the linked image occupies

and "free" for each against the board's RAM. Static RAM splits into the activation arena
(`tas_arena`), the PCM front-end's buffers (the offline log-mel's `tas_logmel_*` and the stream's
`tas_stream_*`) and everything else (harness, counters). Buffers placed in the twin's memory beyond
the board's RAM (eval mode's `.emulator_only`) are not the board's and are not counted.
"""

from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from tinyasc.errors import ToolchainError

ARENA_SYMBOL = "tas_arena"
FRONTEND_PREFIXES = ("tas_logmel_", "tas_stream_")
BOARD_RAM_SECTIONS = (".data", ".bss")


def _ram_objects(elf: ELFFile) -> dict[str, int]:
    """Name → size of every data object in the board's RAM sections (.data, .bss)."""
    indices = {i for i, section in enumerate(elf.iter_sections()) if section.name in BOARD_RAM_SECTIONS}
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        return {}
    return {symbol.name: symbol["st_size"] for symbol in symtab.iter_symbols()
            if symbol["st_info"]["type"] == "STT_OBJECT" and symbol["st_shndx"] in indices}


def _section_size(elf: ELFFile, name: str) -> int:
    section = elf.get_section_by_name(name)
    return section["sh_size"] if section is not None else 0


def ram_budget(elf_path, ram_limit: int, stack_used: int) -> dict:
    """The board-RAM figures of the image at `elf_path`, with `stack_used` the measured high-water mark."""
    try:
        with Path(elf_path).open("rb") as f:
            elf = ELFFile(f)
            objects = _ram_objects(elf)
            static = sum(_section_size(elf, name) for name in BOARD_RAM_SECTIONS)
            stack_reserved = _section_size(elf, ".stack")
    except FileNotFoundError:
        raise ToolchainError(f"{elf_path} does not exist; run `tinyasc build` first.") from None
    arena = objects.get(ARENA_SYMBOL, 0)
    frontend = sum(size for name, size in objects.items() if name.startswith(FRONTEND_PREFIXES))
    used, used_linked = static + stack_used, static + stack_reserved
    return {
        "limit_bytes": ram_limit,
        "arena_bytes": arena,
        "frontend_bytes": frontend,
        "other_static_bytes": static - arena - frontend,
        "static_bytes": static,
        "stack_used_bytes": stack_used,
        "stack_reserved_bytes": stack_reserved,
        "used_bytes": used,
        "free_bytes": ram_limit - used,
        "used_linked_bytes": used_linked,
        "free_linked_bytes": ram_limit - used_linked,
        "method": "data + bss from the ELF (board RAM only) + the stack high-water mark measured in the "
                  "emulator (stack painted at reset, deepest overwritten word)",
    }


def ram_line(budget: dict) -> str:
    b = budget
    return (f"RAM on the board: {b['used_bytes']:,} of {b['limit_bytes']:,} B used, {b['free_bytes']:,} B free "
            f"(arena {b['arena_bytes']:,}, front-end {b['frontend_bytes']:,}, other static {b['other_static_bytes']:,}, "
            f"stack high-water mark {b['stack_used_bytes']:,} of {b['stack_reserved_bytes']:,} reserved; "
            f"with the whole reserved stack {b['free_linked_bytes']:,} B free)")
