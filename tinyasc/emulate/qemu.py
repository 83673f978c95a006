"""Run a built firmware image in QEMU on the board's emulator twin (DESIGN §5).

    run_firmware(export_dir)            self-test: every test vector, bit-exact check, instruction
                                        count per inference, stack high-water mark, board RAM
                                        with that stack (emulate/ram.py) → "emulation" section
                                        of the manifest
    run_batch_in_qemu(export_dir, x)    int8 inputs [N, input size] → int8 outputs [N, output size]
                                        through the firmware's eval mode (host files via semihosting)
    run_pcm_batch_in_qemu(export_dir, pcm)
                                        int16 PCM windows → outputs, through the firmware's own
                                        front-end and network (eval-pcm mode), with instructions

Instruction counts: the twin runs under `-icount` (tinyasc/artifacts/twin.py), so one SysTick
tick is a fixed number of instructions and the count is identical run to run.
QEMU does not model cycles: the latency is an ESTIMATE, instructions / board clock.
"""

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tinyasc.artifacts.boards import Board, get_board
from tinyasc.artifacts.export_folder import elf_path
from tinyasc.artifacts.manifest import read_manifest, update_manifest
from tinyasc.artifacts.twin import CMDLINE_CAPACITY, ICOUNT_SHIFT, instructions_per_tick, qemu_base_args
from tinyasc.emulate.ram import ram_budget
from tinyasc.errors import TinyascError, ToolchainError

QEMU = "qemu-system-arm"
QEMU_APT_PACKAGE = "qemu-system-arm"
DEFAULT_TIMEOUT_S = 120

# Exit codes of firmware_templates/board/main.c.j2 (semihosting.h.j2).
EXIT_MEANINGS = {
    0: "all test vectors match",
    1: "output mismatch",
    2: "tinyasc_invoke returned an error",
    3: "the firmware faulted",
    4: "the command line was refused, or eval mode could not read or write its host files",
}
FIRMWARE_LINE_PREFIXES = ("TINYASC_", "tinyasc self-test", "vector ")
EVAL_INPUT_SYMBOL = "tas_eval_input"
EVAL_OUTPUT_SYMBOL = "tas_model_output"
EVAL_PCM_SYMBOL = "tas_eval_pcm"  # the eval-pcm mode's window buffer (models with a PCM front-end)


@dataclass(frozen=True)
class EmulationResult:
    passed: bool
    exit_code: int
    vectors: int
    mismatches: int
    instructions_per_inference: int  # first test vector; exact under -icount shift=0 (±1 tick)
    latency_ms_estimate: float  # instructions / board clock: an estimate, QEMU models no cycles
    stack_used: int
    log: str
    ticks: int = 0
    instructions_min: int = 0
    instructions_max: int = 0
    stack_size: int = 0
    failure: str | None = None  # why it did not pass, in words
    machine: str = ""
    seconds: float = 0.0
    op_instructions: dict = field(default_factory=dict)  # op index -> instructions (profile builds)
    pcm_instructions: int | None = None  # the PCM front-end on one window (raw-waveform models)
    ram: dict = field(default_factory=dict)  # board RAM with the measured stack (emulate/ram.py)


# ---- command line --------------------------------------------------------------------------------

def _qemu_path() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise ToolchainError(
            f"{QEMU} not found on PATH. Run `make setup`, or install the Debian package "
            f"`apt-get install {QEMU_APT_PACKAGE}`."
        )
    return path


# ---- running -------------------------------------------------------------------------------------

def _built_board_and_elf(export_dir: Path) -> tuple[Board, Path]:
    elf = elf_path(export_dir)
    manifest = read_manifest(export_dir)
    if not elf.is_file():
        raise TinyascError(f"{elf} does not exist; run `tinyasc build {export_dir}` first.")
    board_name = manifest.get("build", {}).get("board") or manifest.get("board")
    if not board_name:
        raise TinyascError(f"{export_dir}/manifest.json names no board; re-run `tinyasc build`.")
    return get_board(board_name), elf


def _run_qemu(board: Board, elf: Path, timeout_s: float, semihosting_args=()):
    if not semihosting_args and len(str(elf)) >= CMDLINE_CAPACITY:
        # Without arguments QEMU hands the firmware the image path, which would not fit its buffer.
        semihosting_args = ("self-test",)
    command = [_qemu_path(), *qemu_base_args(board, semihosting_args), "-kernel", str(elf)]
    started = time.perf_counter()
    try:
        # subprocess.run kills QEMU when the timeout expires.
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ToolchainError(
            f"QEMU ({board.emulator_machine}) timed out after {timeout_s:g} s running {elf} and "
            "was killed. The firmware may hang (an endless loop, or waiting for a fault handler); "
            "or the model is very slow: pass a longer timeout."
        ) from None
    log = completed.stdout + completed.stderr  # semihosting output arrives on stderr
    return completed.returncode, log, time.perf_counter() - started, command


def _firmware_said_something(log: str) -> bool:
    return any(line.startswith(FIRMWARE_LINE_PREFIXES) for line in log.splitlines())


def _first_lines(log: str, count: int = 2) -> str:
    """The first non-empty lines of QEMU's output, joined on one line and cut (the error stays one
    line; a CPU lockup prints a whole register dump after its first line)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()][:count]
    return " / ".join(lines)[:300] or "no output"


def _raise_if_qemu_failed(exit_code: int, log: str, board: Board) -> None:
    """QEMU's own errors (bad machine, bad ELF) come with no firmware output at all."""
    if exit_code != 0 and not _firmware_said_something(log):
        raise ToolchainError(
            f"{QEMU} -M {board.emulator_machine} failed (exit {exit_code}) before the firmware "
            f"printed anything: {_first_lines(log)}; check the board's emulator.machine (`{QEMU} -M help`) "
            f"runs a {board.cpu}"
        )


def _parse_tagged_line(tag: str, log: str) -> dict[str, int]:
    match = re.search(rf"^{tag} (.*)$", log, flags=re.MULTILINE)
    if match is None:
        return {}
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def parse_result_line(log: str) -> dict[str, int]:
    """`TINYASC_RESULT vectors=4 mismatches=0 ticks=12 ...` → {"vectors": 4, ...}; {} if absent."""
    return _parse_tagged_line("TINYASC_RESULT", log)


def parse_op_lines(log: str) -> dict[int, int]:
    """`TINYASC_OP 3 ticks=120` lines of a profile build → {3: 120, ...} (ticks per op)."""
    return {int(op): int(ticks) for op, ticks in re.findall(r"^TINYASC_OP (\d+) ticks=(\d+)$", log, flags=re.MULTILINE)}


def _failure_text(exit_code: int, log: str) -> str | None:
    if exit_code == 0:
        return None
    detail = [line for line in log.splitlines()
              if line.startswith(("TINYASC_FAULT", "TINYASC_ERROR")) or "MISMATCH" in line]
    meaning = EXIT_MEANINGS.get(exit_code, "unexpected exit code")
    return f"exit {exit_code} ({meaning})" + (": " + "; ".join(detail[:5]) if detail else "")


def _emulation_result(board: Board, exit_code: int, log: str, seconds: float) -> EmulationResult:
    figures = parse_result_line(log)
    per_tick = instructions_per_tick(board)
    instructions = round(figures.get("ticks", 0) * per_tick)
    return EmulationResult(
        passed=exit_code == 0 and bool(figures) and figures.get("mismatches", 1) == 0,
        exit_code=exit_code,
        vectors=figures.get("vectors", 0),
        mismatches=figures.get("mismatches", 0),
        instructions_per_inference=instructions,
        latency_ms_estimate=1e3 * instructions / board.clock_hz,
        stack_used=figures.get("stack_used", 0),
        log=log,
        ticks=figures.get("ticks", 0),
        instructions_min=round(figures.get("ticks_min", 0) * per_tick),
        instructions_max=round(figures.get("ticks_max", 0) * per_tick),
        stack_size=figures.get("stack_size", 0),
        failure=_failure_text(exit_code, log) if exit_code or figures else "no TINYASC_RESULT line",
        machine=board.emulator_machine,
        seconds=seconds,
        op_instructions={op: round(ticks * per_tick) for op, ticks in parse_op_lines(log).items()},
        pcm_instructions=round(figures["pcm_ticks"] * per_tick) if "pcm_ticks" in figures else None,
    )


def _emulation_section(board: Board, result: EmulationResult, command: list[str]) -> dict:
    return {
        "machine": board.emulator_machine,
        "command": " ".join(command),
        "passed": result.passed,
        "exit_code": result.exit_code,
        "failure": result.failure,
        "vectors": result.vectors,
        "mismatches": result.mismatches,
        "ticks_per_inference": result.ticks,
        "instructions_per_inference": result.instructions_per_inference,
        "instructions_min": result.instructions_min,
        "instructions_max": result.instructions_max,
        "instruction_count_method": (
            f"SysTick ticks of the first test vector x {instructions_per_tick(board):g} "
            f"instructions per tick under -icount shift={ICOUNT_SHIFT} "
            f"(SysTick at {board.systick_hz} Hz); resolution one tick"
        ),
        "clock_hz": board.clock_hz,
        "latency_ms_estimate": round(result.latency_ms_estimate, 4),
        "latency_note": "estimate: instructions / board clock; QEMU does not model cycles",
        "stack_used": result.stack_used,
        "stack_size": result.stack_size,
        "ram": result.ram,
        **({"pcm_frontend_instructions": result.pcm_instructions} if result.pcm_instructions is not None else {}),
        "run_seconds": round(result.seconds, 3),
    }


def run_firmware(export_dir, timeout_s: float = DEFAULT_TIMEOUT_S, profile: bool = False) -> EmulationResult:
    """Self-test the built image in QEMU; the result also goes to the manifest's "emulation".

    `profile=True` runs the per-op variant of build/profile/ instead (build_firmware(profile=True)):
    its counts include the hooks' cost, so they fill `op_instructions` but not the manifest."""
    export_dir = Path(export_dir).resolve()
    board, elf = _built_board_and_elf(export_dir)
    if profile:
        elf = elf.parent / "profile" / elf.name
        if not elf.is_file():
            raise TinyascError(f"{elf} does not exist; build it with build_firmware(..., profile=True).")
    exit_code, log, seconds, command = _run_qemu(board, elf, timeout_s)
    _raise_if_qemu_failed(exit_code, log, board)
    result = _emulation_result(board, exit_code, log, seconds)
    if result.stack_used:  # the board's RAM with the stack as measured (not with a faulted run's)
        result = replace(result, ram=ram_budget(elf, board.ram_size, result.stack_used))
    if not profile:
        update_manifest(export_dir, "emulation", _emulation_section(board, result, command))
    return result


# ---- eval mode -----------------------------------------------------------------------------------

def _io_sizes(elf: Path) -> tuple[int, int]:
    from tinyasc.firmware.size import object_symbol_sizes

    sizes = object_symbol_sizes(elf)
    if EVAL_INPUT_SYMBOL not in sizes or EVAL_OUTPUT_SYMBOL not in sizes:
        raise TinyascError(f"{elf} has no eval-mode buffers; rebuild it with `tinyasc build`.")
    return sizes[EVAL_INPUT_SYMBOL], sizes[EVAL_OUTPUT_SYMBOL]


def _io_dtypes(export_dir: Path) -> tuple[np.dtype, np.dtype]:
    """The model's input and output types from the export manifest: int8, or float32 for a model
    converted with float I/O (older manifests carry no dtype: int8)."""
    figures = read_manifest(export_dir).get("export", {})
    return tuple(np.dtype(figures.get(role, {}).get("dtype") or "int8") for role in ("input", "output"))


def _checked_inputs(inputs, input_size: int, dtype: np.dtype = np.dtype(np.int8)) -> np.ndarray:
    inputs = np.asarray(inputs)
    if inputs.dtype != dtype:
        hint = "quantize them first" if dtype == np.int8 else "the model takes float32 input"
        raise TinyascError(
            f"run_batch_in_qemu expects {dtype} inputs ({hint}). Received: dtype={inputs.dtype}."
        )
    if inputs.ndim < 2 or int(np.prod(inputs.shape[1:])) != input_size:
        raise TinyascError(
            f"run_batch_in_qemu expects inputs of shape [N, {input_size}]. Received: shape={inputs.shape}."
        )
    return np.ascontiguousarray(inputs.reshape(inputs.shape[0], input_size))


def _eval_folder() -> tempfile.TemporaryDirectory:
    folder = tempfile.TemporaryDirectory(prefix="tinyasc-eval-")
    if " " in folder.name:
        folder.cleanup()
        raise TinyascError(
            f"the temporary folder {folder.name!r} contains a space, which the semihosting command "
            "line cannot carry; set TMPDIR to a folder without spaces."
        )
    return folder


def _run_eval_mode(board: Board, elf: Path, mode: str, payload: bytes, count: int, timeout_s: float) -> tuple[bytes, str]:
    """Run one of the firmware's eval modes on `count` records in `payload`; (output bytes, log)."""
    with _eval_folder() as folder:
        input_file, output_file = Path(folder) / "inputs.bin", Path(folder) / "outputs.bin"
        input_file.write_bytes(payload)
        arguments = (mode, input_file, output_file, count)
        if len(" ".join(map(str, arguments))) >= CMDLINE_CAPACITY:
            raise TinyascError(
                f"the temporary folder {folder!r} makes the eval command line longer than the "
                f"firmware's {CMDLINE_CAPACITY} characters; set TMPDIR to a shorter path."
            )
        exit_code, log, _, _ = _run_qemu(board, elf, timeout_s, arguments)
        _raise_if_qemu_failed(exit_code, log, board)
        if exit_code != 0:
            raise ToolchainError(f"{mode} mode failed, {_failure_text(exit_code, log)}: {_first_lines(log, 3)}")
        return output_file.read_bytes(), log


def _checked_outputs(output_bytes: bytes, dtype: np.dtype, count: int, output_size: int, log: str) -> np.ndarray:
    outputs = np.frombuffer(output_bytes, dtype=dtype)
    if outputs.size != count * output_size:
        raise ToolchainError(f"eval mode wrote {outputs.size} output values, expected {count * output_size}: "
                             f"{_first_lines(log, 3)}")
    return outputs.reshape(count, output_size).copy()


def run_batch_in_qemu(export_dir, inputs: np.ndarray, timeout_s: float = 600) -> np.ndarray:
    """Run the built model on every row of `inputs` in QEMU; returns [N, output size]. Inputs and
    outputs are int8, or float32 for a model converted with float I/O."""
    export_dir = Path(export_dir).resolve()
    board, elf = _built_board_and_elf(export_dir)
    input_dtype, output_dtype = _io_dtypes(export_dir)
    input_bytes, output_bytes = _io_sizes(elf)
    input_size, output_size = input_bytes // input_dtype.itemsize, output_bytes // output_dtype.itemsize
    batch = _checked_inputs(inputs, input_size, input_dtype)
    if batch.shape[0] == 0:
        return np.zeros((0, output_size), dtype=output_dtype)
    written, log = _run_eval_mode(board, elf, "eval", batch.tobytes(), batch.shape[0], timeout_s)
    return _checked_outputs(written, output_dtype, batch.shape[0], output_size, log)


# ---- eval-pcm mode -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PcmBatchResult:
    """Outputs of int16 PCM windows run through the firmware's front-end and network, with the
    instructions each part took (SysTick ticks x instructions per tick under -icount)."""

    outputs: np.ndarray  # [windows, output size], the model's output type
    frontend_instructions_first: int  # tinyasc_input_from_pcm on the first window
    network_instructions_first: int  # tinyasc_invoke on the first window
    frontend_instructions_total: int  # over every window
    network_instructions_total: int
    stack_used: int
    log: str


def run_pcm_batch_in_qemu(export_dir, pcm_windows: np.ndarray, timeout_s: float = 600) -> PcmBatchResult:
    """Run int16 PCM windows [N, TINYASC_PCM_SAMPLES] through the built firmware's eval-pcm mode:
    tinyasc_input_from_pcm, then tinyasc_invoke, on each window."""
    from tinyasc.firmware.size import object_symbol_sizes

    export_dir = Path(export_dir).resolve()
    board, elf = _built_board_and_elf(export_dir)
    sizes = object_symbol_sizes(elf)
    if EVAL_PCM_SYMBOL not in sizes:
        raise TinyascError(f"{elf} has no eval-pcm mode (built before it existed, or the model has no PCM "
                           f"front-end); rebuild it with `tinyasc build {export_dir}`.")
    windows = np.ascontiguousarray(pcm_windows, dtype="<i2")
    if windows.ndim != 2 or windows.shape[1] * 2 != sizes[EVAL_PCM_SYMBOL]:
        raise TinyascError(f"run_pcm_batch_in_qemu expects int16 windows of shape [N, {sizes[EVAL_PCM_SYMBOL] // 2}]. "
                           f"Received: shape={windows.shape}.")
    _, output_dtype = _io_dtypes(export_dir)
    output_size = sizes[EVAL_OUTPUT_SYMBOL] // output_dtype.itemsize
    written, log = _run_eval_mode(board, elf, "eval-pcm", windows.tobytes(), len(windows), timeout_s)
    figures = _parse_tagged_line("TINYASC_EVAL_PCM", log)
    per_tick = instructions_per_tick(board)
    return PcmBatchResult(
        outputs=_checked_outputs(written, output_dtype, len(windows), output_size, log),
        frontend_instructions_first=round(figures.get("pcm_ticks_first", 0) * per_tick),
        network_instructions_first=round(figures.get("invoke_ticks_first", 0) * per_tick),
        frontend_instructions_total=round(figures.get("pcm_ticks_total", 0) * per_tick),
        network_instructions_total=round(figures.get("invoke_ticks_total", 0) * per_tick),
        stack_used=figures.get("stack_used", 0),
        log=log,
    )
