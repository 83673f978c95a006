"""The per-layer check of the verification build (compile/layer_checks.py, firmware/verify.py,
emulate/layer_check.py), run for real: arm-none-eabi-gcc and QEMU.

One tiny model whose softmax saturates: a one-LSB error in a middle conv's output does not reach
the output, so the release self-test passes, and the per-layer check must name that conv."""

import json
import re
import zlib

import numpy as np
import pytest

from tinyasc.compile.fuzz.spec import FuzzGraph, OpSpec, TensorSpec, to_tflite

PERTURBED_OP = 1  # the middle conv


def _saturating_model() -> bytes:
    """conv 3x3 → conv 1x1 → conv 3x3 → reshape → FC (class 0's bias far above the rest) → softmax:
    every input gives [127, -128, -128, -128]."""
    rng = np.random.default_rng(3)
    g = FuzzGraph()

    def activation(shape, scale, zero_point=0):
        return g.add(TensorSpec(shape, "int8", (scale,), (zero_point,)))

    def constant(data, dtype, scales=None):
        return g.add(TensorSpec(tuple(data.shape), dtype, scales, None if scales is None else (0,), 0, data))

    def conv(source, cin, cout, k):
        weights = constant(rng.integers(-127, 128, (cout, k, k, cin)).astype(np.int8), "int8", (0.01,))
        bias = constant(rng.integers(-500, 500, cout).astype(np.int32), "int32", (0.05 * 0.01,))
        out = activation((1, 8, 8, cout), 0.05)
        g.ops.append(OpSpec("CONV_2D", [source, weights, bias], [out], dict(
            padding="same", strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction="relu")))
        return out

    x = activation((1, 8, 8, 2), 0.05)
    g.inputs = [x]
    y = conv(conv(conv(x, 2, 4, 3), 4, 4, 1), 4, 4, 3)
    flat = activation((1, 256), 0.05)
    g.ops.append(OpSpec("RESHAPE", [y, constant(np.array([1, 256], np.int32), "int32")], [flat], {}))
    weights = constant(rng.integers(-127, 128, (4, 256)).astype(np.int8), "int8", (0.001,))
    bias = constant(np.array([1_200_000, 0, 0, 0], np.int32), "int32", (0.05 * 0.001,))
    logits = activation((1, 4), 0.5)
    g.ops.append(OpSpec("FULLY_CONNECTED", [flat, weights, bias], [logits], dict(fusedActivationFunction="none")))
    out = activation((1, 4), 1 / 256, -128)
    g.ops.append(OpSpec("SOFTMAX", [logits], [out], dict(beta=1.0)))
    g.outputs = [out]
    return to_tflite(g)


@pytest.fixture(scope="module")
def saturating_export(tmp_path_factory):
    from tinyasc.compile.export import export_model

    folder = tmp_path_factory.mktemp("layer_checks")
    tflite = folder / "saturating.tflite"
    tflite.write_bytes(_saturating_model())
    export = export_model(tflite, "nrf52840", out_root=folder / "export", name="saturating", num_test_vectors=3, seed=1)
    return export.export_dir


def _perturb_one_lsb(export_dir, op: int) -> None:
    """The test-only hook: model.c flips the lowest bit of one byte of op `op`'s output right after it."""
    table = json.loads((export_dir / "layer_checks.json").read_text())
    check = next(c for c in table["checks"] if c["op"] == op)
    assert check["storage"] == "arena"
    model_c = export_dir / "src" / "model.c"
    text, count = re.subn(rf"(\n\s*)TAS_PROFILE_MARK\({op}\);",
                          rf"\1tas_arena[{check['offset'] + 5}] ^= 1;\1TAS_PROFILE_MARK({op});", model_c.read_text())
    assert count == 1
    model_c.write_text(text)


def test_table_covers_every_materialised_output_and_matches_tflm(saturating_export):
    from tinyasc.compile.reference import tflm_outputs

    table = json.loads((saturating_export / "layer_checks.json").read_text())
    assert [c["op"] for c in table["checks"]] == [0, 1, 2, 4, 5]
    assert [(s["op"], s["kind"]) for s in table["skipped"]] == [(3, "RESHAPE")]
    inputs = np.load(saturating_export / "test_inputs.npy")
    outputs = tflm_outputs((saturating_export / "model.tflite").read_bytes(), inputs, (1, 8, 8, 2))
    assert (outputs == [127, -128, -128, -128]).all()  # the softmax saturates on every test vector
    # The last check is the model output: its CRC is that of TFLM's output bytes.
    assert [row[-1] for row in table["expected"]] == [zlib.crc32(o.tobytes()) for o in outputs]


def test_correct_model_passes_every_layer_and_release_image_has_no_checks(saturating_export):
    from tinyasc.emulate.layer_check import check_layers, layer_check_line
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.firmware.size import object_symbol_sizes

    release = build_firmware(saturating_export)
    assert run_firmware(saturating_export).passed
    check = check_layers(saturating_export)
    assert check.passed, check.log
    assert (check.checks, check.ops, check.vectors, check.checked, check.mismatches) == (5, 6, 3, 15, 0)
    assert "PASS, 5 of 6 ops' outputs on 3 vector(s)" in layer_check_line(check)
    assert "tas_layer_expected" not in object_symbol_sizes(release.elf_path)
    verify_elf = saturating_export / "build" / "verify" / "firmware.elf"
    assert object_symbol_sizes(verify_elf)["tas_layer_expected"] == 4 * 5 * 3


def test_one_lsb_in_a_middle_op_is_reported_at_that_op_though_the_output_matches(saturating_export, tmp_path, capsys):
    import shutil

    from tinyasc.cli import main
    from tinyasc.emulate.layer_check import check_layers, layer_check_line
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    broken = shutil.copytree(saturating_export, tmp_path / "broken")
    _perturb_one_lsb(broken, PERTURBED_OP)
    build_firmware(broken)
    assert run_firmware(broken).passed  # the saturating softmax hides the error from the output check
    check = check_layers(broken)
    assert check.passed is False
    assert check.first_failure["op"] == PERTURBED_OP and check.first_failure["vector"] == 0
    assert check.first_failure["kind"] == "CONV_2D"
    assert f"first at op {PERTURBED_OP} (CONV_2D" in layer_check_line(check)
    assert f"TINYASC_LAYER_MISMATCH vector=0 op={PERTURBED_OP} " in check.log
    # `tinyasc emulate` fails the run although every output vector matched.
    capsys.readouterr()
    assert main(["emulate", str(broken)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL: self-test 3/3 vectors bit-exact, but an intermediate tensor differs" in printed
    assert f"first at op {PERTURBED_OP} (CONV_2D" in printed


def test_checksums_that_do_not_fit_degrade_to_one_vector_then_to_none(saturating_export, tmp_path, monkeypatch):
    import dataclasses
    import shutil

    from tinyasc.artifacts import boards
    from tinyasc.firmware.verify import build_verification_firmware

    folder = shutil.copytree(saturating_export, tmp_path / "tight")
    full = build_verification_firmware(folder)
    assert full.vectors_checked == 3 and full.note is None
    real = boards.get_board("nrf52840")
    # Room for the image with one vector's checksums (20 bytes fewer than with three), not more.
    tight = dataclasses.replace(real, flash_size=full.flash_bytes - 4)
    monkeypatch.setattr("tinyasc.firmware.build.get_board", lambda name: tight)
    one = build_verification_firmware(folder)
    assert one.vectors_checked == 1 and one.elf_path is not None and "first vector only" in one.note
    monkeypatch.setattr("tinyasc.firmware.build.get_board",
                        lambda name: dataclasses.replace(real, flash_size=full.flash_bytes - 100))
    none = build_verification_firmware(folder)
    assert none.elf_path is None and none.vectors_checked == 0 and "no per-layer check" in none.note
