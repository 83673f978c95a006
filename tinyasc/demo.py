"""`tinyasc demo` (and `make demo`): the whole pipeline on the built-in synthetic dataset.

data → train → int8 → export --board → host check (sanitizers) → cross-build → QEMU, then one
table of figures. The tinyasc column and TFLM's minimal arena are measured in this run; the other
TFLM columns are copied from DESIGN §6 (tinyasc/report/reference_figures.py) and say so.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from tinyasc.errors import TinyascError

def _step(console: Console, number: int, total: int, text: str) -> None:
    console.print(f"[bold cyan][{number}/{total}][/] {text}")


def run_demo(work_dir: Path = Path("."), board: str = "nrf52840", epochs: int = 12, name: str = "demo") -> int:
    from tinyasc.compile.export import export_model
    from tinyasc.compile.host import run_host
    from tinyasc.emulate.qemu import run_batch_in_qemu, run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.artifacts.manifest import update_manifest
    from tinyasc.artifacts.run import read_run
    from tinyasc.compile.verify import host_runner, verify_on_host
    from tinyasc.train.run import train_run

    from tinyasc.report.console import wide_console

    console = wide_console()
    started = time.monotonic()
    work_dir = Path(work_dir)
    run_dir = work_dir / "runs" / name
    total = 6

    _step(console, 1, total, "synthetic dataset + training the anchor 1-D CNN (2-D form) ...")
    trained = train_run("synthetic", run_dir=run_dir, epochs=epochs, work_dir=work_dir)
    run = read_run(run_dir)
    labels, test_inputs, test_labels = list(run.labels), run.test_inputs, run.test_labels
    console.print(f"    float test accuracy {trained['float_test_accuracy']:.3f} on {len(test_labels)} clips")

    _step(console, 2, total, f"int8 .tflite → export --board {board} ...")
    exported = export_model(
        run.tflite, board_name=board, out_root=work_dir / "export", name=name,
        labels=labels, test_inputs=test_inputs, num_test_vectors=4, audio=run.audio,
    )
    export_dir = exported.export_dir
    figures = exported.manifest["export"]

    _step(console, 3, total, "host build (ASan + UBSan, -Wall -Wextra -Werror) vs the TFLM reference interpreter ...")
    host_check = verify_on_host(export_dir, num_random=100)
    output_size = int(np.prod(figures["output"]["shape"]))
    host_outputs = run_host(host_runner(export_dir), test_inputs, output_size)
    host_accuracy = float(np.mean(np.argmax(host_outputs, axis=1) == test_labels))
    console.print(f"    {host_check['bit_exact']}/{host_check['inputs']} outputs bit-exact; int8 accuracy {host_accuracy:.3f}")

    _step(console, 4, total, "arm-none-eabi-gcc build ...")
    built = build_firmware(export_dir)

    _step(console, 5, total, f"QEMU ({built.board.emulator_machine}, -icount shift=0): self-test + instruction count ...")
    emulated = run_firmware(export_dir)

    _step(console, 6, total, f"QEMU: the {len(test_labels)} test clips through the firmware ...")
    qemu_outputs = run_batch_in_qemu(export_dir, test_inputs)
    qemu_accuracy = float(np.mean(np.argmax(qemu_outputs, axis=1) == test_labels))
    qemu_equals_host = bool(np.array_equal(qemu_outputs, host_outputs))
    update_manifest(export_dir, "evaluation", evaluation_section(
        labels, test_labels, np.argmax(qemu_outputs, axis=1), trained["float_test_accuracy"], host_accuracy, qemu_equals_host,
    ))

    seconds = time.monotonic() - started
    console.print(_summary_table(trained, figures, host_check, host_accuracy, built, emulated, qemu_accuracy, qemu_equals_host, seconds))
    ok = emulated.passed and qemu_equals_host and host_check["bit_exact"] == host_check["inputs"]
    if not ok:
        raise TinyascError("the demo ran, but the firmware's outputs are not bit-exact; see the table above")
    console.print(f"[green]demo passed[/] in {seconds:.0f} s; artifacts in {export_dir}")
    return 0


def evaluation_section(labels, truth, predicted, float_accuracy, host_accuracy, qemu_equals_host) -> dict:
    """Accuracy and confusion matrix of the int8 firmware on the test split, as run in QEMU."""
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(confusion, (np.asarray(truth), np.asarray(predicted)), 1)
    return {
        "split": "test",
        "clips": int(len(truth)),
        "labels": list(labels),
        "accuracy_float": float(float_accuracy),
        "accuracy_int8_host": float(host_accuracy),
        "accuracy_int8_qemu": float(np.trace(confusion) / max(len(truth), 1)),
        "accuracy": {  # the report's view: name → value
            "float (Keras)": float(float_accuracy),
            "int8, host build": float(host_accuracy),
            "int8, in QEMU": float(np.trace(confusion) / max(len(truth), 1)),
        },
        "qemu_outputs_equal_host": qemu_equals_host,
        "confusion_matrix": confusion.tolist(),  # rows: true label, columns: predicted
    }


def _summary_table(trained, figures, host_check, host_accuracy, built, emulated, qemu_accuracy, qemu_equals_host, seconds) -> Table:
    from tinyasc.report.reference_figures import ANCHOR_TFLM_CMSIS_NN, ANCHOR_TFLM_REFERENCE

    sizes = built.sizes
    instructions = emulated.instructions_per_inference
    macs = figures["macs"]
    flash = sizes["flash"] - sizes.get("test_vector_bytes", 0)
    tflm = (ANCHOR_TFLM_REFERENCE, ANCHOR_TFLM_CMSIS_NN)
    table = Table(title=f"tinyasc demo: anchor model on {built.board.name}",
                  caption="tinyasc column: measured in this run. TFLM columns: " + tflm[0].source
                          + ", except the row marked 'measured'.")
    table.add_column("figure")
    table.add_column("tinyasc", justify="right")
    table.add_column("TFLM reference kernels", justify="right")
    table.add_column("TFLM + CMSIS-NN", justify="right")
    rows = [
        ("accuracy, float (Keras)", f"{trained['float_test_accuracy']:.3f}"),
        ("accuracy, int8 host build", f"{host_accuracy:.3f}"),
        ("accuracy, int8 in QEMU", f"{qemu_accuracy:.3f}" + ("" if qemu_equals_host else " (differs from host!)")),
        ("bit-exact vs TFLM (host, ASan+UBSan)", f"{host_check['bit_exact']}/{host_check['inputs']}"),
        ("bit-exact self-test (QEMU)", "pass" if emulated.passed else "FAIL"),
        ("parameters", f"{figures['parameters']:,}"),
        ("MACs per inference", f"{macs:,}"),
        (".tflite bytes", f"{figures['tflite_bytes']:,}", *[f"{t.tflite_bytes:,}" for t in tflm]),
        ("flash: code (incl. PCM front-end) + weights", f"{flash:,} B",
         *(f"{t.code_flash_bytes:,} B + .tflite" for t in tflm)),
        ("  of which model weights + quant. constants", f"{sizes['weights_bytes']:,} B"),
        ("  self-test vectors (not counted above)", f"{sizes.get('test_vector_bytes', 0):,} B"),
        ("RAM: activation arena", f"{figures['arena_bytes']:,} B", *(f"{t.arena_bytes:,} B on device" for t in tflm)),
        ("RAM: TFLM minimal arena, measured (its interpreter, incl. I/O)", "",
         f"{figures['tflm_arena_bytes']:,} B"),
        ("RAM: total (data + bss + reserved stack)", f"{sizes['ram']:,} B"),
        ("stack used (measured high-water)", f"{emulated.stack_used:,} B"),
        ("instructions per inference (QEMU -icount)", f"{instructions:,}", *(f"{t.instructions:,}" for t in tflm)),
        ("instructions per MAC", f"{instructions / macs:.2f}", *(f"{t.instructions_per_mac:.2f}" for t in tflm)),
        ("PCM front-end: int16 samples → int8 input (QEMU, one window)",
         f"{emulated.pcm_instructions:,}" if emulated.pcm_instructions is not None else "–"),
        (f"latency at {built.board.clock_hz / 1e6:.0f} MHz (estimate from instructions)", f"{emulated.latency_ms_estimate:.0f} ms"),
        ("demo wall time", f"{seconds:.0f} s"),
    ]
    for row in rows:
        table.add_row(*row, *[""] * (4 - len(row)))
    return table
