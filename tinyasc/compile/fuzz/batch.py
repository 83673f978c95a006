"""Many generated models in one host executable: the fuzzer's fast path.

Each model's `model.c` is its own translation unit (its kernels are static functions), compiled
with the flags `tinyasc verify` uses (warnings as errors, AddressSanitizer and UBSan) by a small
wrapper that renames the two external symbols a model.c defines, `tinyasc_invoke` and
`tinyasc_labels`, with the preprocessor. One generated main() links them all and serves requests
on stdin: (model index, input count, inputs) → outputs, in the models' own I/O types. Compiling
the translation units runs `jobs` compilers at a time.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyasc.compile.host import SANITIZERS, WARNINGS
from tinyasc.errors import ToolchainError

_WRAPPER = """/* Model {index} of a fuzz batch: its model.c with its external symbols renamed. */
#define tinyasc_invoke tas_fuzz_invoke_{index}
#define tinyasc_labels tas_fuzz_labels_{index}
#include "model.c"
int tas_fuzz_run_{index}(const void *input, void *output);
int tas_fuzz_run_{index}(const void *input, void *output)
{{
    return tinyasc_invoke((const tinyasc_input_t *)input, (tinyasc_output_t *)output);
}}
const int tas_fuzz_bytes_{index}[2] = {{TINYASC_INPUT_SIZE * (int)sizeof(tinyasc_input_t),
                                        TINYASC_OUTPUT_SIZE * (int)sizeof(tinyasc_output_t)}};
"""

_MAIN = """/* A fuzz batch's runner: reads (int32 model, int32 count, count inputs) records from stdin and
 * writes count outputs for each. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

{declarations}
static int (*const run[])(const void *, void *) = {{ {runs} }};
static const int *const bytes[] = {{ {bytes} }};

int main(void)
{{
    static unsigned char input[1 << 20], output[1 << 20];
    int32_t header[2];
    while (fread(header, sizeof header, 1, stdin) == 1) {{
        const int32_t model = header[0];
        if (model < 0 || model >= {count} || bytes[model][0] > (int)sizeof input || bytes[model][1] > (int)sizeof output) {{
            fprintf(stderr, "fuzz runner: bad request for model %d\\n", (int)model);
            return 2;
        }}
        for (int32_t n = 0; n < header[1]; ++n) {{
            if (fread(input, 1, (size_t)bytes[model][0], stdin) != (size_t)bytes[model][0]) {{
                return 2;
            }}
            if (run[model](input, output) != 0) {{
                return 3;
            }}
            fwrite(output, 1, (size_t)bytes[model][1], stdout);
        }}
    }}
    return 0;
}}
"""


# Where a generated model.c's own part starts: above it are the includes, labels and kernels.
MODEL_PART_MARKER = "/* ---- constants (flash) ---- */"
_FILE_SCOPE_STATIC = re.compile(r"^static\b[^=;(\[]*?\b([A-Za-z_]\w*)\s*[\[=;(]", re.MULTILINE)
_HEADER_MACRO = re.compile(r"^#define\s+(TINYASC_\w+)", re.MULTILINE)
_MODEL_SYMBOLS = ("tinyasc_invoke", "tinyasc_labels", "tinyasc_input_t", "tinyasc_output_t")


def merged_source(models: list[tuple[int, dict[str, str], list[str]]]) -> str | None:
    """One translation unit for many models (batch position, sources, kernel files): the kernels
    they use once, then each model's own part (constants, arena, parameters, invoke) with its
    file-scope names renamed by macros. None when a model.c has no recognisable own part."""
    from tinyasc.compile.kernel_library import model_sections

    files = list(dict.fromkeys(name for _, _, kernel_files in models for name in kernel_files))
    parts = ["#include <stddef.h>\n#include <stdint.h>\n#define TAS_KERNEL static\n"
             "#define TAS_KERNEL_INLINE static inline __attribute__((always_inline))\n"]
    parts += [text for _, text in model_sections(files)]
    for position, sources, _ in models:
        model_c, header = sources["model.c"], sources["model.h"]
        if MODEL_PART_MARKER not in model_c:
            return None
        own = model_c[model_c.index(MODEL_PART_MARKER):]
        names = [*_MODEL_SYMBOLS, *dict.fromkeys(_FILE_SCOPE_STATIC.findall(own))]
        macros = _HEADER_MACRO.findall(header)
        parts.append("".join(f"#define {name} {name}_m{position}\n" for name in names))
        parts.append(re.sub(r"^#(ifndef|define|endif).*TINYASC_MODEL_H.*$", "", header, flags=re.MULTILINE))
        parts.append(own)
        parts.append(_WRAPPER.split('#include "model.c"\n', 1)[1].format(index=position))
        parts.append("".join(f"#undef {name}\n" for name in [*names, *macros]))
    return "\n".join(parts)


@dataclass
class BatchRunner:
    path: Path
    models: list[int]  # batch positions that compiled, in runner order
    build_errors: dict[int, str]  # batch position → compiler message


def _compiler() -> str:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise ToolchainError("no host C compiler (gcc) found; install it with `apt-get install gcc`")
    return compiler


def _compile_one(compiler: str, folder: Path, opt: str, sanitize: bool) -> str | None:
    command = [compiler, opt, "-g", *WARNINGS, *(SANITIZERS if sanitize else []), "-I", str(folder),
               "-c", str(folder / "wrapper.c"), "-o", str(folder / "model.o")]
    result = subprocess.run(command, capture_output=True, text=True)
    return None if result.returncode == 0 else result.stderr.strip()[-3000:]


def build_merged(sources: list[dict[str, str]], kernel_files: list[list[str]], folder: Path, jobs: int = 1,
                 opt: str = "-O1", sanitize: bool = True) -> BatchRunner:
    """build_batch in `jobs` merged translation units (merged_source): the kernels are compiled
    once per unit instead of once per model. Falls back to build_batch (one unit per model, which
    names the model a compiler error comes from) when a unit does not compile."""
    compiler = _compiler()
    folder.mkdir(parents=True, exist_ok=True)
    groups = [list(range(len(sources)))[n::max(1, jobs)] for n in range(max(1, jobs))]
    texts = [merged_source([(p, sources[p], kernel_files[p]) for p in group]) for group in groups if group]
    if any(text is None for text in texts):
        return build_batch(sources, folder / "separate", jobs, opt, sanitize)
    units = []
    for n, text in enumerate(texts):
        unit = folder / f"merged{n}"
        unit.mkdir(exist_ok=True)
        (unit / "wrapper.c").write_text(text)
        units.append(unit)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        errors = list(pool.map(lambda f: _compile_one(compiler, f, opt, sanitize), units))
    if any(errors):
        return build_batch(sources, folder / "separate", jobs, opt, sanitize)
    built = sorted(p for group in groups for p in group)
    return _link(compiler, folder, built, [unit / "model.o" for unit in units], opt, sanitize, {})


def build_batch(sources: list[dict[str, str]], folder: Path, jobs: int = 1, opt: str = "-O1",
                sanitize: bool = True) -> BatchRunner:
    """Compile each model's {file: text} sources and link one runner for those that compiled."""
    compiler = _compiler()
    folder.mkdir(parents=True, exist_ok=True)
    folders = []
    for position, files in enumerate(sources):
        model_folder = folder / f"m{position}"
        model_folder.mkdir(exist_ok=True)
        for name, text in files.items():
            (model_folder / name).write_text(text)
        (model_folder / "wrapper.c").write_text(_WRAPPER.format(index=position))
        folders.append(model_folder)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        errors = list(pool.map(lambda f: _compile_one(compiler, f, opt, sanitize), folders))
    built = [p for p, e in enumerate(errors) if e is None]
    build_errors = {p: e for p, e in enumerate(errors) if e is not None}
    return _link(compiler, folder, built, [folders[p] / "model.o" for p in built], opt, sanitize, build_errors)


def _link(compiler: str, folder: Path, built: list[int], objects: list[Path], opt: str, sanitize: bool,
          build_errors: dict[int, str]) -> BatchRunner:
    declarations = "\n".join(
        f"int tas_fuzz_run_{p}(const void *, void *);\nextern const int tas_fuzz_bytes_{p}[2];" for p in built)
    main = folder / "main.c"
    main.write_text(_MAIN.format(declarations=declarations, count=len(built),
                                 runs=", ".join(f"tas_fuzz_run_{p}" for p in built) or "0",
                                 bytes=", ".join(f"tas_fuzz_bytes_{p}" for p in built) or "0"))
    runner = folder / "runner"
    command = [compiler, opt, "-g", *WARNINGS, *(SANITIZERS if sanitize else []), str(main),
               *map(str, objects), "-o", str(runner)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"linking the fuzz batch runner failed:\n{result.stderr.strip()[-3000:]}")
    return BatchRunner(runner, built, build_errors)


def run_batch(runner: BatchRunner, requests: list[tuple[int, np.ndarray]], output_dtypes: dict[int, np.dtype],
              output_sizes: dict[int, int], timeout_s: float = 600) -> tuple[dict[int, np.ndarray], str | None]:
    """Outputs {batch position: [N, output size]} for requests (batch position, inputs [N, input
    size] of the model's input type); and, when the runner failed (a sanitizer report, a crash),
    its message: then the outputs hold the models answered before the failure."""
    slot = {position: n for n, position in enumerate(runner.models)}
    payload = bytearray()
    for position, inputs in requests:
        payload += struct.pack("<ii", slot[position], len(inputs)) + np.ascontiguousarray(inputs).tobytes()
    result = subprocess.run([str(runner.path)], input=bytes(payload), capture_output=True, timeout=timeout_s,
                            env={"ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"})
    outputs, offset = {}, 0
    for position, inputs in requests:
        dtype = np.dtype(output_dtypes[position])
        size = len(inputs) * output_sizes[position] * dtype.itemsize
        if offset + size > len(result.stdout):
            break
        outputs[position] = np.frombuffer(result.stdout[offset:offset + size], dtype=dtype).reshape(len(inputs), -1)
        offset += size
    failure = None
    if result.returncode != 0:
        failure = f"exit {result.returncode}: " + result.stderr.decode(errors="replace")[-3000:]
    return outputs, failure
