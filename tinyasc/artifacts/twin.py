"""A board's QEMU twin (DESIGN §5): the arguments that make it run a tinyasc image.

Both sides of the twin read this: `tinyasc.firmware` prints the command into the generated
Makefile's `run` target and sizes main.c's command-line buffer, `tinyasc.emulate` runs it.

Instruction counts: QEMU runs with `-icount shift=0`, so every guest instruction advances virtual
time by exactly 1 ns, and SysTick (CLKSOURCE=1) ticks at the twin's clock (25 MHz on mps2). One
tick is therefore 1e9 / systick_hz = 40 instructions, and the count is identical run to run.
"""

from tinyasc.artifacts.boards import Board

ICOUNT_SHIFT = 0  # 2**shift ns of virtual time per instruction
# Longest semihosting command line main.c accepts (eval mode: two absolute paths and a count).
CMDLINE_CAPACITY = 1024


def _semihosting_option(arguments) -> str:
    # QEMU's option parser treats ',' as a separator; ',,' is a literal comma.
    option = "enable=on,target=native"
    for argument in arguments:
        option += ",arg=" + str(argument).replace(",", ",,")
    return option


def qemu_base_args(board: Board, semihosting_args=()) -> list[str]:
    """Everything but the binary and `-kernel`: the twin machine, semihosting, deterministic time."""
    return ["-M", board.emulator_machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", _semihosting_option(semihosting_args),
            "-icount", f"shift={ICOUNT_SHIFT}"]


def instructions_per_tick(board: Board) -> float:
    return 1e9 / (2**ICOUNT_SHIFT) / board.systick_hz
