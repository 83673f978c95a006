"""Size report of a firmware ELF, read with pyelftools: where the flash and the RAM go.

Sections follow firmware_templates/board/linker.ld.j2. Figures are bytes:

    text         .isr_vector + .text + .ARM.exidx (vector table and code)
    rodata       .rodata (constants: model weights, test vectors, strings)
    data         .data (initialised variables: stored in flash, copied to RAM at reset)
    bss          .bss (zeroed variables, including the model's tas_arena)
    stack        .stack (reserved; the measured high-water mark comes from the emulator)
    flash        text + rodata + data
    ram          data + bss + stack
    weights_bytes       sum of the tas_weights_* symbols (the model's constants)
    arena_bytes         the tas_arena symbol (the model's activation memory)
    test_vector_bytes   tinyasc_test_inputs + tinyasc_test_outputs (+ the PCM front-end's test window)
    code_bytes          flash - weights_bytes - test_vector_bytes: code, vector table, other
                        constants and .data initialisers, of both the model and the harness
    emulator_only_bytes buffers placed in the twin's memory beyond the board's RAM (eval mode);
                        not part of flash or ram
"""

from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from tinyasc.errors import ToolchainError

WEIGHTS_PREFIX = "tas_weights_"
ARENA_SYMBOL = "tas_arena"
TEST_VECTOR_SYMBOLS = ("tinyasc_test_inputs", "tinyasc_test_outputs", "tinyasc_test_pcm", "tinyasc_test_pcm_input")

SECTION_GROUPS = {
    ".isr_vector": "text",
    ".text": "text",
    ".ARM.exidx": "text",
    ".rodata": "rodata",
    ".data": "data",
    ".bss": "bss",
    ".stack": "stack",
    ".emulator_only": "emulator_only",
}
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4


def _group_of(section) -> str:
    """Our linker script names every section; guess from the flags for anything unexpected."""
    if section.name in SECTION_GROUPS:
        return SECTION_GROUPS[section.name]
    flags = section["sh_flags"]
    if flags & SHF_EXECINSTR:
        return "text"
    if flags & SHF_WRITE:
        return "bss" if section["sh_type"] == "SHT_NOBITS" else "data"
    return "rodata"


def _section_sizes(elf: ELFFile) -> dict:
    sizes = dict.fromkeys(("text", "rodata", "data", "bss", "stack", "emulator_only"), 0)
    for section in elf.iter_sections():
        if section["sh_flags"] & SHF_ALLOC and section["sh_size"] > 0:
            sizes[_group_of(section)] += section["sh_size"]
    return sizes


def _symbol_sizes(elf: ELFFile) -> dict[str, int]:
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        return {}
    return {symbol.name: symbol["st_size"] for symbol in symtab.iter_symbols()
            if symbol["st_info"]["type"] == "STT_OBJECT"}


def _read_elf(elf_path: Path, read):
    try:
        with elf_path.open("rb") as f:
            return read(ELFFile(f))
    except FileNotFoundError:
        raise ToolchainError(f"{elf_path} does not exist; run `tinyasc build` first.") from None
    except Exception as e:  # pyelftools raises several types on a corrupt file
        raise ToolchainError(f"{elf_path} is not a readable ELF file ({e}); rebuild it.") from None


def object_symbol_sizes(elf_path) -> dict[str, int]:
    """Size in bytes of every data object (global or static) in the ELF's symbol table."""
    return _read_elf(Path(elf_path), _symbol_sizes)


def size_report(elf_path) -> dict:
    sizes, symbols = _read_elf(Path(elf_path), lambda elf: (_section_sizes(elf), _symbol_sizes(elf)))

    weights = sum(size for name, size in symbols.items() if name.startswith(WEIGHTS_PREFIX))
    test_vectors = sum(symbols.get(name, 0) for name in TEST_VECTOR_SYMBOLS)
    flash = sizes["text"] + sizes["rodata"] + sizes["data"]
    return {
        **{key: sizes[key] for key in ("text", "rodata", "data", "bss", "stack")},
        "flash": flash,
        "ram": sizes["data"] + sizes["bss"] + sizes["stack"],
        "weights_bytes": weights,
        "arena_bytes": symbols.get(ARENA_SYMBOL, 0),
        "test_vector_bytes": test_vectors,
        "code_bytes": flash - weights - test_vectors,
        "emulator_only_bytes": sizes["emulator_only"],
    }
