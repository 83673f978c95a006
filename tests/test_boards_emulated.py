"""Every board in boards.yaml, run for real in its QEMU twin: a small int8 CNN converted by the
real TFLite converter is exported for the board, cross-compiled with the board's flags and linker
limits, and self-tested bit for bit against TFLM's reference outputs. No mocks, no skips.

The tiny CNN (~1.5 K parameters) keeps the whole module to a few seconds per board; the anchor
model is used only where its size is the point (it must not fit the micro:bit's 16 KB RAM).
"""

import numpy as np
import pytest

from tinyasc.compile.export import export_model
from tinyasc.emulate.qemu import instructions_per_tick, run_batch_in_qemu, run_firmware
from tinyasc.errors import DoesNotFitError
from tinyasc.artifacts.boards import load_boards
from tinyasc.firmware.build import build_firmware
from tinyasc.artifacts.manifest import read_manifest

BOARDS = load_boards()
# Boards whose twin has the real part's memory map: the emulation image is flashable as is.
FLASHABLE_AS_EMULATED = {"nrf52840", "cortex-m3", "cortex-m4", "cortex-m7", "stm32f405",
                         "microbit-v1", "corstone-300"}
# The same Cortex-M4 code on twins whose SysTick runs at 25 MHz (mps2) and 168 MHz (netduinoplus2).
SAME_M4_CODE = ("nrf52840", "stm32l4r5", "stm32f405")
@pytest.fixture(scope="module")
def emulated(tiny_cnn_tflite, tmp_path_factory):
    """board name → (manifest after build + emulation, EmulationResult, export folder); built
    lazily, once per board."""
    results = {}

    def run(board_name):
        if board_name not in results:
            export = export_model(tiny_cnn_tflite, board_name=board_name, name=board_name,
                                  out_root=tmp_path_factory.mktemp("boards"))
            build_firmware(export.export_dir)
            emulation = run_firmware(export.export_dir, timeout_s=60)
            results[board_name] = (read_manifest(export.export_dir), emulation, export.export_dir)
        return results[board_name]

    return run


@pytest.mark.parametrize("board_name", sorted(BOARDS))
def test_tiny_cnn_runs_bit_exact_in_every_boards_twin(emulated, board_name):
    board = BOARDS[board_name]
    manifest, result, _ = emulated(board_name)
    assert result.passed, result.log
    assert (result.vectors, result.mismatches) == (4, 0)
    assert result.machine == board.emulator_machine
    build = manifest["build"]
    assert f"-mcpu={board.cpu}" in build["cflags"]
    assert 0 < build["sizes"]["flash"] <= board.flash_size
    assert 0 < build["sizes"]["ram"] <= board.ram_size
    assert build["linked_for_board_addresses"] == (board_name in FLASHABLE_AS_EMULATED)
    # Instructions come from whole SysTick ticks of the twin's clock.
    assert result.instructions_per_inference == round(result.ticks * instructions_per_tick(board))
    assert result.instructions_per_inference > 1000
    assert manifest["emulation"]["latency_ms_estimate"] == pytest.approx(
        1e3 * result.instructions_per_inference / board.clock_hz, rel=1e-3)


@pytest.mark.parametrize("board_name", sorted(BOARDS))
def test_eval_mode_streams_inputs_through_every_twin_bit_exact(emulated, board_name):
    # Eval mode's buffers sit in the twin's RAM beyond the board's (or in the board's RAM when
    # the twin has no more): this proves those addresses are RAM on every twin.
    _, _, export_dir = emulated(board_name)
    inputs = np.load(export_dir / "test_inputs.npy")
    expected = np.load(export_dir / "test_outputs.npy").reshape(len(inputs), -1)
    np.testing.assert_array_equal(run_batch_in_qemu(export_dir, inputs), expected)


def test_same_m4_code_counts_the_same_instructions_whatever_the_twins_systick_clock(emulated):
    counts = {name: emulated(name)[1].instructions_per_inference for name in SAME_M4_CODE}
    coarsest_tick = max(instructions_per_tick(BOARDS[name]) for name in SAME_M4_CODE)
    # stm32f405's image is linked at 0x08000000, the others at 0x0: same code, same count,
    # up to the resolution of the coarsest tick plus the few instructions of reading SysTick.
    assert max(counts.values()) - min(counts.values()) <= coarsest_tick + 40, counts


def test_armv6m_boards_get_thumb1_startup_code(emulated):
    for name in ("microbit-v1", "rp2040"):
        manifest, result, _ = emulated(name)
        assert result.passed
        assert BOARDS[name].is_armv6m
    # M0 code on the micro:bit twin and M0+ code on the M3 fallback twin are the same Thumb-1
    # instructions, so their counts agree within one SysTick tick of the slower clock.
    m0 = emulated("microbit-v1")[1].instructions_per_inference
    m0plus = emulated("rp2040")[1].instructions_per_inference
    assert abs(m0 - m0plus) <= instructions_per_tick(BOARDS["microbit-v1"]) + 40


def test_micro_bit_tiny_model_counts_its_eval_buffers_against_the_16_kb(emulated):
    manifest, _, _ = emulated("microbit-v1")
    sizes = manifest["build"]["sizes"]
    assert sizes["emulator_only_bytes"] == 0  # the twin has no RAM beyond the board's
    assert sizes["ram"] <= 16 * 1024


def test_anchor_model_does_not_fit_the_micro_bit_and_says_so(anchor_tflite, tmp_path):
    with pytest.raises(DoesNotFitError) as error:
        export_model(anchor_tflite, board_name="microbit-v1", out_root=tmp_path)
    message = str(error.value)
    assert "microbit-v1" in message and "16 KB RAM" in message
    assert "smaller model" in message
    assert not (tmp_path / "anchor_cnn_int8").exists()


@pytest.mark.parametrize("board_name", ["microbit-v1", "corstone-300"])
def test_a_fault_is_reported_by_the_startup_code_of_armv6m_and_armv8m_boards(board_name, tmp_path):
    from test_firmware import make_export, model_with_invoke

    # `udf #0` is permanently undefined in Thumb-1 and Thumb-2 alike: a HardFault on every core.
    export_dir = make_export(tmp_path, board=board_name,
                             model_body=model_with_invoke('    __asm__ volatile("udf #0");\n'))
    build_firmware(export_dir)
    result = run_firmware(export_dir, timeout_s=60)
    assert result.exit_code == 3 and not result.passed
    assert "TINYASC_FAULT HardFault pc=0x" in result.log
    # ARMv6-M has no fault status registers; the Thumb-1 handler prints the pc alone.
    assert ("cfsr=" in result.log) == (not BOARDS[board_name].is_armv6m)
