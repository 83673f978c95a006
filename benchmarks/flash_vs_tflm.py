"""Flash of tinyasc's generated model against TFLite Micro's, on the models of memory_plans.py.

    .venv/bin/python benchmarks/flash_vs_tflm.py      (~1-2 min; writes results/flash_vs_tflm.json)

tinyasc: the generated `model.c` (kernels, weights, per-op parameters, labels: everything the
model adds to an application) cross-compiled for a Cortex-M4F (nrf52840 board flags, -O2, the
firmware build's flags) into one object; its flash is the size of the object's allocated,
non-zero-initialised sections (.text*, .rodata*, .data*), read with pyelftools. `.bss` (the arena)
is RAM and counted in memory_plans.py. Library routines the object calls (memcpy, ...) are listed:
they are not in the figure (an application links them anyway; none is large).

TFLM: the `.tflite` flatbuffer (which TFLM keeps in flash) plus its runtime's code flash measured
on the anchor model in DESIGN §6: 28.6 KB with the reference kernels, 59.1 KB with CMSIS-NN. The
runtime figure depends on the op set linked; the anchor's (conv, pool, mean, dense) is the smallest
of these models', so the TFLM column is a lower estimate for the others.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from elftools.elf.elffile import ELFFile

sys.path.insert(0, str(Path(__file__).parent))

from memory_plans import MODELS, int8_tflite  # noqa: E402

from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources  # noqa: E402
from tinyasc.compile.tflite_reader import parse_tflite  # noqa: E402
from tinyasc.errors import TinyascError  # noqa: E402
from tinyasc.report.reference_figures import ANCHOR_TFLM_CMSIS_NN, ANCHOR_TFLM_REFERENCE  # noqa: E402
from tinyasc.artifacts.boards import get_board  # noqa: E402
from tinyasc.firmware.build import COMPILER, compile_flags  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "flash_vs_tflm.json"
BOARD = "nrf52840"  # Cortex-M4F, as DESIGN §6's TFLM figures
TFLM_RUNTIME_BYTES = {"reference": ANCHOR_TFLM_REFERENCE.code_flash_bytes, "cmsis_nn": ANCHOR_TFLM_CMSIS_NN.code_flash_bytes}
SHF_ALLOC, SHT_NOBITS = 0x2, "SHT_NOBITS"


def object_flash(object_path: Path) -> dict:
    """Flash bytes of a relocatable object by section kind, and the symbols it needs from libraries."""
    sizes = {"code": 0, "constants": 0, "data": 0}
    with object_path.open("rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if not section["sh_flags"] & SHF_ALLOC or section["sh_type"] == SHT_NOBITS:
                continue
            kind = "constants"
            if section.name.startswith(".text"):
                kind = "code"
            elif section.name.startswith(".data"):
                kind = "data"
            sizes[kind] += section["sh_size"]
        symtab = elf.get_section_by_name(".symtab")
        undefined = sorted(s.name for s in symtab.iter_symbols() if s["st_shndx"] == "SHN_UNDEF" and s.name)
    return {**sizes, "flash": sum(sizes.values()), "library_calls": undefined}


def measure(name: str, model_bytes: bytes, folder: Path) -> dict:
    row = {"model": name, "tflite_bytes": len(model_bytes)}
    row["tflm_flash_reference"] = len(model_bytes) + TFLM_RUNTIME_BYTES["reference"]
    row["tflm_flash_cmsis_nn"] = len(model_bytes) + TFLM_RUNTIME_BYTES["cmsis_nn"]
    board = get_board(BOARD)
    try:
        compiled = compile_graph(parse_tflite(model_bytes, source=f"{name}.tflite"), board=board)
    except TinyascError as e:
        return {**row, "unsupported": str(e)}
    src = folder / name
    write_sources(render_model_sources(compiled, f"{name}.tflite", []), src)
    subprocess.run([COMPILER, *compile_flags(board), "-c", str(src / "model.c"), "-I", str(src),
                    "-o", str(src / "model.o")], check=True)
    flash = object_flash(src / "model.o")
    return {
        **row,
        "tinyasc_flash": flash["flash"],
        "tinyasc_code": flash["code"],
        "tinyasc_constants": flash["constants"],
        "tinyasc_weight_bytes": compiled.weight_bytes,
        "library_calls": flash["library_calls"],
        "ratio_to_tflm_reference": round(flash["flash"] / row["tflm_flash_reference"], 3),
        "ratio_to_tflm_cmsis_nn": round(flash["flash"] / row["tflm_flash_cmsis_nn"], 3),
    }


def table(rows: list[dict]) -> str:
    header = (f"{'model':20} {'.tflite':>8} {'tinyasc':>8} {'code':>7} {'consts':>7} {'TFLM ref':>9} "
              f"{'TFLM+CMSIS':>10} {'ratio':>6} {'ratio':>6}")
    lines = [header, "-" * len(header)]
    for r in rows:
        if "unsupported" in r:
            lines.append(f"{r['model']:20} unsupported: {r['unsupported']}")
            continue
        lines.append(
            f"{r['model']:20} {r['tflite_bytes']:>8,} {r['tinyasc_flash']:>8,} {r['tinyasc_code']:>7,} "
            f"{r['tinyasc_constants']:>7,} {r['tflm_flash_reference']:>9,} {r['tflm_flash_cmsis_nn']:>10,} "
            f"{r['ratio_to_tflm_reference']:>6.2f} {r['ratio_to_tflm_cmsis_nn']:>6.2f}"
        )
    lines.append("bytes of flash; TFLM = .tflite + runtime code (28.6 KB reference, 59.1 KB CMSIS-NN, DESIGN §6); "
                 "ratios = tinyasc / TFLM ref, tinyasc / TFLM+CMSIS-NN")
    return "\n".join(lines)


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            rows.append(measure(name, int8_tflite(name, Path(folder)), Path(folder)))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"board": BOARD, "tflm_runtime_bytes": TFLM_RUNTIME_BYTES, "models": rows},
                                  indent=2) + "\n")
    print(table(rows))
    print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
