"""Firmware path on its own: the hand-written tiny model (tests/fixtures/tiny_model) is built with
arm-none-eabi-gcc and run in QEMU for real. No mocks, no skips."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from tinyasc.emulate.qemu import run_batch_in_qemu, run_firmware
from tinyasc.errors import DoesNotFitError, TinyascError, ToolchainError
from tinyasc.artifacts.boards import DEFAULT_BOARDS_PATH, get_board
from tinyasc.firmware.build import build_firmware, render_firmware
from tinyasc.artifacts.manifest import read_manifest, write_manifest

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_model"
INPUT_SIZE, OUTPUT_SIZE = 16, 4
FIXTURE_WEIGHTS_BYTES = 4 * 16 * 1 + 4 * 4  # tas_weights_dense int8[4][16] + tas_weights_bias int32[4]


# ---- helpers -------------------------------------------------------------------------------------

def make_export(tmp_path, name="tiny", board="nrf52840", repeats=1, arena_words=64,
                model_body=None, test_vectors=None) -> Path:
    """An export folder holding the fixture's src/, with the given knobs and replacements."""
    export_dir = tmp_path / name
    shutil.copytree(FIXTURE / "src", export_dir / "src")
    (export_dir / "src" / "fixture_config.h").write_text(
        f"#define FIXTURE_REPEATS {repeats}\n#define FIXTURE_ARENA_WORDS {arena_words}\n")
    if model_body is not None:
        (export_dir / "src" / "model.c").write_text(model_body)
    if test_vectors is not None:
        shutil.copy(test_vectors, export_dir / "src" / "test_vectors.c")
    write_manifest(export_dir, {"name": name, "board": board})
    return export_dir


def c_array(path: Path, symbol: str) -> np.ndarray:
    """The integers of `symbol`'s initialiser in a C file."""
    match = re.search(rf"{symbol}\[[^=]*=\s*\{{(.*?)\}};", path.read_text(), flags=re.DOTALL)
    assert match, f"{symbol} not found in {path}"
    return np.array([int(v) for v in re.findall(r"-?\d+", match.group(1))])


def numpy_tiny_model(inputs: np.ndarray) -> np.ndarray:
    """The fixture's dense layer in numpy: clamp((x . W^T + b + 256) >> 9, -128, 127)."""
    weights = c_array(FIXTURE / "src" / "model.c", "tas_weights_dense").reshape(OUTPUT_SIZE, INPUT_SIZE)
    bias = c_array(FIXTURE / "src" / "model.c", "tas_weights_bias")
    accumulators = inputs.astype(np.int32) @ weights.astype(np.int32).T + bias.astype(np.int32)
    return np.clip((accumulators + 256) >> 9, -128, 127).astype(np.int8)


def model_with_invoke(body: str) -> str:
    """A model.c obeying the contract whose tinyasc_invoke runs `body` and returns 0."""
    return f"""#include "model.h"
#include "fixture_config.h"

const int8_t tas_weights_unused[4] = {{1, 2, 3, 4}};
int32_t tas_arena[FIXTURE_ARENA_WORDS];

int tinyasc_invoke(const int8_t *input, int8_t *output)
{{
{body}
    for (int i = 0; i < TINYASC_OUTPUT_SIZE; i++) {{
        output[i] = (int8_t)(input[i] + tas_weights_unused[i] - tas_weights_unused[i]);
    }}
    return 0;
}}
"""


@pytest.fixture(scope="module")
def built_tiny(tmp_path_factory):
    export_dir = make_export(tmp_path_factory.mktemp("built"))
    return export_dir, build_firmware(export_dir)


# ---- the fixture itself --------------------------------------------------------------------------

def test_fixture_expected_outputs_are_what_numpy_computes():
    inputs = c_array(FIXTURE / "src" / "test_vectors.c", "tinyasc_test_inputs").reshape(-1, INPUT_SIZE)
    expected = c_array(FIXTURE / "src" / "test_vectors.c", "tinyasc_test_outputs").reshape(-1, OUTPUT_SIZE)
    np.testing.assert_array_equal(numpy_tiny_model(inputs.astype(np.int8)), expected)


# ---- build ---------------------------------------------------------------------------------------

def test_tiny_model_builds_for_nrf52840_with_strict_warnings(built_tiny):
    export_dir, result = built_tiny
    for path in (result.elf_path, result.hex_path, result.bin_path, result.map_path):
        assert path.is_file() and path.parent == export_dir / "build"
    assert not list((export_dir / "build").glob(".build-*")), "temporary build folder left behind"
    build = read_manifest(export_dir)["build"]
    assert build["board"] == "nrf52840" and "arm-none-eabi-gcc" in build["compiler"]
    assert {"-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"} <= set(build["cflags"])
    assert build["sizes"] == result.sizes


def test_size_report_is_consistent_with_the_fixture_and_binutils(built_tiny):
    _, result = built_tiny
    sizes = result.sizes
    assert sizes["weights_bytes"] == FIXTURE_WEIGHTS_BYTES
    assert sizes["arena_bytes"] == 64 * 4
    assert sizes["test_vector_bytes"] == 4 * INPUT_SIZE + 4 * OUTPUT_SIZE
    assert sizes["flash"] == sizes["text"] + sizes["rodata"] + sizes["data"]
    assert sizes["ram"] == sizes["data"] + sizes["bss"] + sizes["stack"]
    assert sizes["stack"] == 8 * 1024 and sizes["bss"] >= sizes["arena_bytes"]
    assert sizes["code_bytes"] == sizes["flash"] - sizes["weights_bytes"] - sizes["test_vector_bytes"]
    # The raw image holds exactly the flash contents (vector table, code, constants, .data copy).
    assert result.bin_path.stat().st_size == sizes["flash"]
    berkeley = subprocess.run(["arm-none-eabi-size", "-A", str(result.elf_path)],
                              capture_output=True, text=True, check=True).stdout
    section = dict(re.findall(r"^(\.\w+)\s+(\d+)", berkeley, flags=re.MULTILINE))
    assert int(section[".bss"]) == sizes["bss"] and int(section[".stack"]) == sizes["stack"]


def test_rendered_startup_enables_the_fpu_only_on_boards_that_have_one(tmp_path):
    with_fpu = render_firmware(tmp_path / "m4", get_board("nrf52840"))
    without_fpu = render_firmware(tmp_path / "m3", get_board("cortex-m3"))
    assert "SCB_CPACR |=" in (with_fpu / "startup.c").read_text()
    assert "SCB_CPACR |=" not in (without_fpu / "startup.c").read_text()
    linker = (with_fpu / "linker.ld").read_text()
    assert "LENGTH = 1048576" in linker and "LENGTH = 262144" in linker


def test_generated_makefile_rebuilds_the_image(built_tiny, tmp_path):
    export_dir = make_export(tmp_path)
    build_firmware(export_dir)
    (export_dir / "build" / "firmware.elf").unlink()
    subprocess.run(["make", "-C", str(export_dir / "firmware")], check=True, capture_output=True)
    assert (export_dir / "build" / "firmware.elf").is_file()
    run = subprocess.run(["make", "-s", "-C", str(export_dir / "firmware"), "run"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "mismatches=0" in run.stderr + run.stdout


def test_compile_error_raises_toolchain_error_with_the_compilers_message(tmp_path):
    export_dir = make_export(tmp_path, model_body=model_with_invoke("    int unused_variable;"))
    with pytest.raises(ToolchainError, match=r"unused_variable"):
        build_firmware(export_dir)


def test_missing_compiler_names_the_apt_package(tmp_path, monkeypatch):
    export_dir = make_export(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"arm-none-eabi-gcc not found.*gcc-arm-none-eabi"):
        build_firmware(export_dir)


def test_missing_sources_say_to_re_export(tmp_path):
    export_dir = make_export(tmp_path)
    (export_dir / "src" / "model.h").unlink()
    with pytest.raises(TinyascError, match=r"model\.h.*tinyasc export"):
        build_firmware(export_dir)


def test_arena_larger_than_ram_does_not_fit(tmp_path):
    export_dir = make_export(tmp_path, arena_words=300 * 1024 // 4)
    with pytest.raises(DoesNotFitError) as error:
        build_firmware(export_dir)
    message = str(error.value)
    assert "does not fit nrf52840" in message and "more RAM" in message and "of 256 KB" in message
    assert "activation arena 300 KB, stack 8 KB" in message
    overflow = int(re.search(r"needs (\d+) bytes more", message).group(1))
    assert overflow > (300 - 256) * 1024  # the arena alone overflows by 44 KB; plus stack and code


def test_board_with_tiny_flash_does_not_fit(tmp_path, monkeypatch):
    document = yaml.safe_load(DEFAULT_BOARDS_PATH.read_text())
    document["boards"]["nrf52840"]["flash"]["size"] = "2K"
    boards_file = tmp_path / "boards.yaml"
    boards_file.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("TINYASC_BOARDS", str(boards_file))
    with pytest.raises(DoesNotFitError, match=r"more flash than nrf52840 has \(\d+(\.\d)? KB of 2 KB\)"
                                              r".*model weights 80 bytes, test vectors 80 bytes"):
        build_firmware(make_export(tmp_path))


# ---- QEMU ----------------------------------------------------------------------------------------

def test_tiny_model_passes_in_qemu(built_tiny):
    export_dir, _ = built_tiny
    result = run_firmware(export_dir)
    assert result.passed and result.exit_code == 0 and result.failure is None, result.log
    assert (result.vectors, result.mismatches) == (4, 0)
    assert result.instructions_per_inference > 0
    assert result.latency_ms_estimate == pytest.approx(1e3 * result.instructions_per_inference / 64e6)
    assert 0 < result.stack_used < 1024
    emulation = read_manifest(export_dir)["emulation"]
    assert emulation["passed"] and emulation["machine"] == "mps2-an386"
    assert emulation["instructions_per_inference"] == result.instructions_per_inference


def test_mismatch_exits_non_zero_and_reports_the_first_differing_byte(tmp_path):
    export_dir = make_export(tmp_path, test_vectors=FIXTURE / "test_vectors_mismatch.c")
    build_firmware(export_dir)
    result = run_firmware(export_dir)
    assert not result.passed and result.exit_code == 1
    assert (result.vectors, result.mismatches) == (4, 1)
    assert "vector 2: MISMATCH at output[1]: got -1, expected 5" in result.log
    assert "output mismatch" in result.failure
    assert read_manifest(export_dir)["emulation"]["passed"] is False


def test_instruction_count_is_deterministic(built_tiny):
    export_dir, _ = built_tiny
    first, second = run_firmware(export_dir), run_firmware(export_dir)
    assert first.instructions_per_inference == second.instructions_per_inference
    assert first.log == second.log


def test_instruction_count_scales_with_the_work(tmp_path):
    counts = {}
    for repeats in (50, 100):
        export_dir = make_export(tmp_path, name=f"repeats{repeats}", repeats=repeats)
        build_firmware(export_dir)
        result = run_firmware(export_dir)
        assert result.passed, result.log
        counts[repeats] = result.instructions_per_inference
    assert counts[100] / counts[50] == pytest.approx(2.0, rel=0.03)


def test_instruction_count_matches_a_loop_of_known_length(tmp_path):
    """`subs; bne` 500,000 times = 1,000,000 instructions, give or take the call and one tick."""
    loop = """    uint32_t remaining = 500000u;
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(remaining));"""
    export_dir = make_export(tmp_path, model_body=model_with_invoke(loop))
    _use_identity_test_vectors(export_dir)
    build_firmware(export_dir)
    result = run_firmware(export_dir)
    assert result.passed, result.log
    assert 1_000_000 <= result.instructions_per_inference <= 1_000_000 + 200


def test_inference_longer_than_one_systick_period_is_measured_right(tmp_path):
    """700 M instructions > one 2**24-tick SysTick period (671 M): the wrap interrupt must count."""
    loop = """    uint32_t remaining = 350000000u;
    if (input[0] == -65) {  /* only the first test vector: keeps the run to a few seconds */
        __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(remaining));
    }"""
    export_dir = make_export(tmp_path, model_body=model_with_invoke(loop))
    _use_identity_test_vectors(export_dir)
    build_firmware(export_dir)
    result = run_firmware(export_dir)
    assert result.passed, result.log
    assert 700_000_000 <= result.instructions_per_inference <= 700_000_000 + 200
    assert result.instructions_min < 1000


def _use_identity_test_vectors(export_dir: Path) -> None:
    """Expected outputs = first 4 input bytes, for the model_with_invoke() models."""
    path = export_dir / "src" / "test_vectors.c"
    inputs = c_array(path, "tinyasc_test_inputs").reshape(-1, INPUT_SIZE)
    rows = ",\n".join("    {" + ", ".join(map(str, row[:OUTPUT_SIZE])) + "}" for row in inputs)
    text = path.read_text()
    start = text.index("const int8_t tinyasc_test_outputs")
    path.write_text(text[:start] + "const int8_t tinyasc_test_outputs[TINYASC_NUM_TEST_VECTORS]"
                    f"[TINYASC_OUTPUT_SIZE] = {{\n{rows},\n}};\n")


def test_float_code_runs_because_the_fpu_is_enabled_at_reset(tmp_path):
    body = """    volatile float scale = 0.5f;
    volatile float product = scale * (float)input[0];
    (void)product;"""
    export_dir = make_export(tmp_path, model_body=model_with_invoke(body))
    _use_identity_test_vectors(export_dir)
    build_firmware(export_dir)
    assert "vmul.f32" in subprocess.run(["arm-none-eabi-objdump", "-d", str(export_dir / "build/firmware.elf")],
                                        capture_output=True, text=True, check=True).stdout
    result = run_firmware(export_dir)
    assert result.passed, result.log


def test_fault_is_reported_and_exits_non_zero(tmp_path):
    body = "    (void)*(volatile uint32_t *)0xFFFFFFF0u;  /* no memory there: BusFault */"
    export_dir = make_export(tmp_path, model_body=model_with_invoke(body))
    _use_identity_test_vectors(export_dir)
    build_firmware(export_dir)
    result = run_firmware(export_dir)
    assert not result.passed and result.exit_code == 3
    assert "TINYASC_FAULT HardFault pc=0x" in result.log
    assert "faulted" in result.failure


def test_stack_high_water_mark_sees_a_large_local_array(tmp_path):
    body = """    volatile uint8_t scratch[3000];
    for (int i = 0; i < 3000; i++) {
        scratch[i] = (uint8_t)i;
    }
    (void)scratch[0];"""
    export_dir = make_export(tmp_path, model_body=model_with_invoke(body))
    _use_identity_test_vectors(export_dir)
    build_firmware(export_dir)
    result = run_firmware(export_dir)
    assert result.passed, result.log
    assert 3000 <= result.stack_used < 3000 + 512


def test_hanging_firmware_times_out_with_a_clear_error(tmp_path):
    export_dir = make_export(tmp_path, model_body=model_with_invoke("    for (;;) {\n    }"))
    build_firmware(export_dir)
    with pytest.raises(ToolchainError, match=r"timed out after 2 s"):
        run_firmware(export_dir, timeout_s=2)


def test_missing_qemu_names_the_apt_package(built_tiny, monkeypatch, tmp_path):
    export_dir, _ = built_tiny
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"qemu-system-arm not found.*apt-get install qemu-system-arm"):
        run_firmware(export_dir)


def test_qemu_refusing_the_machine_raises_toolchain_error_with_its_message(built_tiny, tmp_path,
                                                                          monkeypatch):
    export_dir, _ = built_tiny
    document = yaml.safe_load(DEFAULT_BOARDS_PATH.read_text())
    document["boards"]["nrf52840"]["emulator"]["machine"] = "mps2-an999"
    boards_file = tmp_path / "boards.yaml"
    boards_file.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("TINYASC_BOARDS", str(boards_file))
    with pytest.raises(ToolchainError, match=r"-M mps2-an999 failed .*before the firmware printed"):
        run_firmware(export_dir)


def test_run_before_build_says_to_build(tmp_path):
    with pytest.raises(TinyascError, match=r"run `tinyasc build"):
        run_firmware(make_export(tmp_path))


# ---- eval mode -----------------------------------------------------------------------------------

def test_eval_mode_returns_what_numpy_computes(built_tiny):
    export_dir, _ = built_tiny
    inputs = np.random.default_rng(7).integers(-128, 128, size=(10, INPUT_SIZE)).astype(np.int8)
    outputs = run_batch_in_qemu(export_dir, inputs)
    assert outputs.dtype == np.int8 and outputs.shape == (10, OUTPUT_SIZE)
    np.testing.assert_array_equal(outputs, numpy_tiny_model(inputs))


def test_eval_mode_of_an_empty_batch_is_empty(built_tiny):
    export_dir, _ = built_tiny
    assert run_batch_in_qemu(export_dir, np.zeros((0, INPUT_SIZE), np.int8)).shape == (0, OUTPUT_SIZE)


@pytest.mark.parametrize("inputs, message", [
    (np.zeros((2, INPUT_SIZE), np.float32), r"int8 inputs.*float32"),
    (np.zeros((2, INPUT_SIZE + 1), np.int8), r"shape \[N, 16\].*\(2, 17\)"),
    (np.zeros(INPUT_SIZE, np.int8), r"shape \[N, 16\].*\(16,\)"),
])
def test_eval_mode_rejects_wrong_inputs(built_tiny, inputs, message):
    export_dir, _ = built_tiny
    with pytest.raises(TinyascError, match=message):
        run_batch_in_qemu(export_dir, inputs)
