"""Build and run the generated front-end C: on the host (ASan + UBSan) and in the QEMU twins.

    build_frontend_host_runner(settings, folder)    host executable: int16 windows on stdin →
                                                    int16 Q10 bands on stdout
    run_frontend_host(runner, windows)              windows [F, window_length] → [F, n_mels]
    write_frontend_export(folder, settings, windows, board, stages=None)
        a firmware export whose tinyasc_invoke runs the front-end on one window (input bytes =
        int16 PCM, output bytes = int16 bands) with the twin's outputs as self-test vectors, for
        tinyasc.firmware.build_firmware + tinyasc.emulate.qemu.run_firmware. `stages=k` stops after
        stage k of STAGES; MEL_SUMS_ONLY runs stages 1-3 and the mel sums without their logs, so
        mel and log can be told apart.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from tinyasc.compile.host import SANITIZERS, WARNINGS
from tinyasc.errors import ToolchainError
from tinyasc.frontend.fixed_point import logmel_frames_q10
from tinyasc.frontend.logmel import LogMelSettings
from tinyasc.frontend.render import HEADER_FILE, KERNEL_FILE, TABLES_FILE, render_frontend_sources

STAGES = ("block exponent + window", "FFT", "split + magnitude", "mel + log")
MEL_SUMS_ONLY = len(STAGES) + 1

HOST_MAIN = r"""
#include <stdio.h>
#include "tas_logmel.h"
static int32_t scratch[TAS_LOGMEL_SCRATCH_WORDS];
int main(void)
{
    int16_t pcm[TAS_LOGMEL_WINDOW_LENGTH];
    int16_t bands[TAS_LOGMEL_N_MELS];
    while (fread(pcm, sizeof pcm, 1, stdin) == 1) {
        tas_logmel_frame(pcm, bands, scratch);
        fwrite(bands, sizeof bands, 1, stdout);
    }
    return 0;
}
"""


def write_frontend_sources(folder: Path, settings: LogMelSettings) -> dict[str, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in render_frontend_sources(settings).items():
        (folder / name).write_text(text)
        written[name] = folder / name
    return written


def build_frontend_host_runner(settings: LogMelSettings, folder: Path, sanitize: bool = True) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise ToolchainError("no host C compiler (gcc) found; install it with `apt-get install gcc`")
    folder = Path(folder)
    sources = write_frontend_sources(folder, settings)
    (folder / "host_main.c").write_text(HOST_MAIN)
    runner = folder / "logmel_host"
    command = [compiler, "-O1", "-g", *WARNINGS, *(SANITIZERS if sanitize else []), "-I", str(folder),
               str(folder / "host_main.c"), str(sources[TABLES_FILE]), str(sources[KERNEL_FILE]), "-o", str(runner)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"host build of the front-end failed:\n{result.stderr.strip()}")
    return runner


def run_frontend_host(runner: Path, windows: np.ndarray, n_mels: int) -> np.ndarray:
    windows = np.ascontiguousarray(windows, dtype=np.int16)
    result = subprocess.run([str(runner)], input=windows.tobytes(), capture_output=True, timeout=600,
                            env={"ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"})
    if result.returncode != 0:
        raise ToolchainError(f"the host front-end failed (exit {result.returncode}):\n"
                             f"{result.stderr.decode(errors='replace')[-4000:]}")
    return np.frombuffer(result.stdout, np.int16).reshape(len(windows), n_mels)


# ---- firmware export for QEMU -----------------------------------------------------------------------

def _invoke_source(stages: int | None) -> str:
    """tinyasc_invoke over the kernel's own static stage functions (the kernel is #included)."""
    stage_define = "" if stages is None else f"#define TAS_STAGES {stages}\n"
    return stage_define + r"""#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "frontend/tas_logmel_s16.c"

static int32_t tas_frontend_scratch[TAS_LOGMEL_SCRATCH_WORDS];
#ifdef TAS_STAGES
static volatile uint64_t tas_sink;

/* The mel stage's sums without its logs (the same loop as tas_logmel_mel_log). */
static void mel_sums_only(void)
{
    const uint16_t *weight = tas_logmel_mel_rise;
    int32_t bin = tas_logmel_mel_points[0];
    uint64_t previous_rise = 0u;
    for (int32_t interval = 0; interval <= TAS_LOGMEL_N_MELS; interval++) {
        uint64_t total = 0u, rise = 0u;
        for (const int32_t end = tas_logmel_mel_points[interval + 1]; bin < end; bin++) {
            const uint32_t magnitude = (uint32_t)tas_frontend_scratch[2 * bin];
            total += magnitude;
            rise += (uint64_t)magnitude * *weight++;
        }
        tas_sink = previous_rise + (total << 15) - rise;
        previous_rise = rise;
    }
}
#endif

int tinyasc_invoke(const int8_t *input, int8_t *output)
{
    const int16_t *pcm = (const int16_t *)(const void *)input; /* the vectors are 4-byte aligned */
    int16_t *bands = (int16_t *)(void *)output;
#ifndef TAS_STAGES
    tas_logmel_frame(pcm, bands, tas_frontend_scratch);
#else
    const int32_t shift = tas_logmel_block_exponent(pcm);
    tas_logmel_window_points(pcm, shift, tas_frontend_scratch);
    if (TAS_STAGES >= 2) tas_logmel_fft(tas_frontend_scratch);
    if (TAS_STAGES >= 3) tas_logmel_split_magnitudes(tas_frontend_scratch);
    if (TAS_STAGES == 4) tas_logmel_mel_log(tas_frontend_scratch, shift, bands);
    if (TAS_STAGES == 5) mel_sums_only();
#endif
    return 0;
}
"""


def _c_bytes(values: np.ndarray) -> str:
    """One braced row of int8 initialisers per vector (the little-endian bytes of its int16s)."""
    rows = np.ascontiguousarray(values).view(np.int8).reshape(len(values), -1)
    return "\n".join("    { " + ", ".join(map(str, row)) + " }," for row in rows)


def write_frontend_export(folder: Path, settings: LogMelSettings, windows: np.ndarray, board: str = "cortex-m4",
                          stages: int | None = None) -> Path:
    from tinyasc.artifacts.boards import get_board
    from tinyasc.artifacts.manifest import write_manifest
    from tinyasc.firmware.build import render_firmware

    folder = Path(folder)
    src = folder / "src"
    write_frontend_sources(src / "frontend", settings)
    shutil.move(str(src / "frontend" / TABLES_FILE), str(src / TABLES_FILE))
    shutil.copy(src / "frontend" / HEADER_FILE, src / HEADER_FILE)
    windows = np.ascontiguousarray(windows, np.int16)
    expected = logmel_frames_q10(windows, settings)
    input_bytes, output_bytes = 2 * settings.window_length, 2 * settings.n_mels
    (src / "model.h").write_text(
        "#ifndef TINYASC_MODEL_H\n#define TINYASC_MODEL_H\n#include <stdint.h>\n#include \"tas_logmel.h\"\n"
        f"#define TINYASC_INPUT_SIZE {input_bytes}\n#define TINYASC_OUTPUT_SIZE {output_bytes}\n"
        "int tinyasc_invoke(const int8_t *input, int8_t *output);\n#endif\n")
    (src / "model.c").write_text("/* Front-end benchmark (tinyasc/emulate/frontend_runner.py). */\n" + _invoke_source(stages))
    count = len(windows)
    (src / "test_vectors.h").write_text(
        f'#ifndef TINYASC_TEST_VECTORS_H\n#define TINYASC_TEST_VECTORS_H\n#include "model.h"\n'
        f"#define TINYASC_NUM_TEST_VECTORS {count}\n"
        "extern const int8_t tinyasc_test_inputs[TINYASC_NUM_TEST_VECTORS][TINYASC_INPUT_SIZE];\n"
        "extern const int8_t tinyasc_test_outputs[TINYASC_NUM_TEST_VECTORS][TINYASC_OUTPUT_SIZE];\n#endif\n")
    (src / "test_vectors.c").write_text(
        '#include "test_vectors.h"\n'
        "__attribute__((aligned(4))) const int8_t tinyasc_test_inputs[TINYASC_NUM_TEST_VECTORS][TINYASC_INPUT_SIZE] = {\n"
        f"{_c_bytes(windows)}\n}};\n"
        "__attribute__((aligned(4))) const int8_t tinyasc_test_outputs[TINYASC_NUM_TEST_VECTORS][TINYASC_OUTPUT_SIZE] = {\n"
        f"{_c_bytes(expected)}\n}};\n")
    write_manifest(folder, {"name": folder.name, "board": board})
    render_firmware(folder, get_board(board))
    return folder
