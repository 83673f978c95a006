"""`tinyasc bench`: the benchmark suite. Every model on every core twin, measured in QEMU.

    run_bench(work_dir, boards)   for each (model, board): quantize → export → build → emulate;
                                  one row per pair (MACs, instructions, flash, RAM, ratios)
    write_results(rows, folder)   bench.json and bench.csv
    format_bench_table(rows)      the rows as a text table

The suite is a list (SUITE) so other models (DS-CNN, ResNet-SE, WSNet) join by appending one
BenchModel. WSNet's MACs are those of the convolution on the sampled kernel (L·M·N per output step),
whichever kernel runs, so its instructions per MAC fall below 1 where the integral image pays off. Weights are random (seeded): instruction counts depend on shapes, not on training.
TFLM's figures (DESIGN §6 and §7, copied into tinyasc/report/reference_figures.py, not measured by
the bench) exist for the anchor and the same-shape MLPerf Tiny models on the Cortex-M4 twin only;
other rows show no ratio.
"bit_exact" means the release self-test's outputs AND every checked intermediate tensor (the
verification build, tinyasc/emulate/layer_check.py) match TFLM; "layer_checked_ops" says how many
op outputs that covered (fused schedules never hold some whole).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tinyasc.report.reference_figures import ANCHOR_TFLM_CMSIS_NN, MLPERF_TINY_TFLM_CMSIS_NN, TflmFigures

DEFAULT_BOARDS = ("cortex-m3", "nrf52840", "cortex-m7", "nrf5340-app", "corstone-300")  # M3, M4, M7, M33, M55
RESULTS_DIR = Path("benchmarks/results")


@dataclass(frozen=True)
class BenchModel:
    name: str
    make_tflite: Callable[[Path], Path]  # folder → int8 .tflite written in it
    tflm: tuple[TflmFigures, ...] = ()


def anchor_tflite(folder: Path, seed: int = 0) -> Path:
    """The anchor 1-D CNN (DESIGN §6) with seeded random weights, quantized on random audio."""
    from tinyasc.convert import quantize_int8
    from tinyasc.models import build_model
    from tinyasc.train import seed_everything

    seed_everything(seed)
    model = build_model("anchor_cnn", num_classes=10)
    calibration = np.random.default_rng(seed).normal(0, 0.3, (16, 16000)).astype(np.float32)
    return quantize_int8(model, calibration, Path(folder) / "anchor_cnn_int8.tflite")


def keras_tflite(name: str, build: Callable, seed: int = 0) -> Callable[[Path], Path]:
    """make_tflite for a Keras builder: seeded random weights, calibrated on seeded random inputs."""

    def make(folder: Path) -> Path:
        from tinyasc.convert import quantize_int8
        from tinyasc.train import seed_everything

        seed_everything(seed)
        model = build()
        calibration = np.random.default_rng(seed).normal(0, 0.3, (16,) + tuple(model.input_shape[1:]))
        return quantize_int8(model, calibration.astype(np.float32), Path(folder) / f"{name}_int8.tflite")

    return make


def ds_cnn_kws():
    from tinyasc.models.tinyml_nets import ds_cnn_kws as build

    return build()


def mobilenet_v1_025():
    from tinyasc.models.tinyml_nets import mobilenet_v1_025 as build

    return build()


def fc_autoencoder():
    from tinyasc.models.tinyml_nets import fc_autoencoder as build

    return build()


def streaming_ds_cnn():
    from tinyasc.models.tinyml_nets import streaming_ds_cnn as build

    return build()


def resnet8():
    from tinyasc.models.tinyml_nets import resnet8 as build

    return build()


def resnet_se_logmel():
    """IDLab's ResNet-SE (grouped convs, squeeze-and-excitation, projection skips) on 0.5 s of
    64-band log-mel frames, with mean pooling over time: statistics pooling needs an int8 SQRT,
    which neither tinyasc nor TFLM runs yet."""
    from tinyasc.models.resnet_se import idlab_resnet_se

    return idlab_resnet_se(num_classes=10, input_shape=(50, 64, 1), pooling="mean")


def wsnet_s8c4d2_ptq():
    """SoundNet-8 with WSNet S8C4D2 sampling at 1/8 width on 1 s of 16 kHz audio, converted by PTQ:
    the sampled kernels are constant-folded into ordinary CONV_2D weights (per channel), so this row
    measures tinyasc's CONV_2D kernels on WSNet's shapes, not WSNet's own kernel (wsnet_s8c4d2)."""
    from tinyasc.models.wsnet import soundnet8

    return soundnet8(num_classes=10, input_samples=16000, config="S8C4D2", width=0.125)


def wsnet_tflite(folder: Path, seed: int = 0) -> Path:
    """WSNet mini S8C4D2 (models/wsnet.py wsnet_mini, 1 s of 16 kHz audio) as WSNet deploys: 8-bit
    QAT (one scale per Φ), seeded random weights, the activation ranges set by training-mode calls
    on seeded noise. Its GATHER…CONV_2D chains become WS_CONV ops at export (compile/ws_rewrite.py),
    so only the condensed filters are stored and each layer runs the integral image or direct conv,
    whichever the instruction model picks (compile/wsconv.py)."""
    from tinyasc.convert.quantize import quantize_int8
    from tinyasc.models.wsnet import wsnet_mini
    from tinyasc.models.wsnet_quant import quantize_wsnet
    from tinyasc.train import seed_everything

    seed_everything(seed)
    model = quantize_wsnet(wsnet_mini(num_classes=10, input_samples=16000, config="S8C4D2"))
    clips = np.random.default_rng(seed).normal(0, 0.3, (16, 16000, 1, 1)).astype(np.float32)
    for _ in range(3):
        model(clips, training=True)
    return quantize_int8(model, clips[..., 0, 0], Path(folder) / "wsnet_s8c4d2_qat_int8.tflite")


SUITE: list[BenchModel] = [
    BenchModel("anchor_cnn", anchor_tflite, tflm=(ANCHOR_TFLM_CMSIS_NN,)),
    BenchModel("ds_cnn_kws", keras_tflite("ds_cnn_kws", ds_cnn_kws), tflm=(MLPERF_TINY_TFLM_CMSIS_NN["ds_cnn_kws"],)),
    BenchModel("mobilenet_v1_025", keras_tflite("mobilenet_v1_025", mobilenet_v1_025),
               tflm=(MLPERF_TINY_TFLM_CMSIS_NN["mobilenet_v1_025"],)),
    BenchModel("streaming_ds_cnn", keras_tflite("streaming_ds_cnn", streaming_ds_cnn),
               tflm=(MLPERF_TINY_TFLM_CMSIS_NN["streaming_ds_cnn"],)),
    BenchModel("resnet_se", keras_tflite("resnet_se", resnet_se_logmel)),  # log-mel, mean pooling
    BenchModel("wsnet_s8c4d2", wsnet_tflite),  # WSNet mini, WS_CONV ops (condensed filters)
    BenchModel("wsnet_s8c4d2_ptq", keras_tflite("wsnet_s8c4d2_ptq", wsnet_s8c4d2_ptq)),  # folded into CONV_2D
    BenchModel("fc_autoencoder", keras_tflite("fc_autoencoder", fc_autoencoder),
               tflm=(MLPERF_TINY_TFLM_CMSIS_NN["fc_autoencoder"],)),
    BenchModel("resnet8", keras_tflite("resnet8", resnet8), tflm=(MLPERF_TINY_TFLM_CMSIS_NN["resnet8"],)),
]


def _ratios(row: dict, tflm: tuple[TflmFigures, ...], cpu: str) -> dict:
    match = next((figures for figures in tflm if figures.cpu == cpu), None)
    if match is None:
        return {"vs_tflm_cmsis_nn_instructions": None, "vs_tflm_cmsis_nn_code_flash": None, "vs_tflm_cmsis_nn_ram": None}
    return {
        "vs_tflm_cmsis_nn_instructions": round(row["instructions"] / match.instructions, 3),
        "vs_tflm_cmsis_nn_code_flash": round(row["code_bytes"] / match.code_flash_bytes, 3),
        "vs_tflm_cmsis_nn_ram": round(_ram_ratio(row, match), 3),
    }


def _ram_ratio(row: dict, match: TflmFigures) -> float:
    """All RAM against TFLM's arena + static RAM where the source gives both (DESIGN §6); arena
    against arena where it gives the arena only (§7)."""
    if match.static_ram_bytes is None:
        return row["arena_bytes"] / match.arena_bytes
    return row["ram_bytes"] / (match.arena_bytes + match.static_ram_bytes)


def bench_one(model: BenchModel, tflite: Path, board_name: str, work_dir: Path) -> dict:
    """Export, build and run one model on one board; the row of figures."""
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.layer_check import check_layers
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.artifacts.boards import get_board
    from tinyasc.firmware.build import build_firmware

    board = get_board(board_name)
    export = export_model(tflite, board_name=board_name, out_root=work_dir, name=f"{model.name}_{board_name}",
                          num_test_vectors=2)
    sizes = build_firmware(export.export_dir).sizes
    result = run_firmware(export.export_dir)
    # Bit-exact means every checked layer too, not only the (possibly saturating) output.
    layers = check_layers(export.export_dir)
    macs = export.compiled.macs
    row = {
        "model": model.name,
        "board": board_name,
        "cpu": board.cpu,
        "twin": board.emulator_machine,
        "bit_exact": result.passed and layers.passed is not False,
        "output_bit_exact": result.passed,
        "layers_bit_exact": layers.passed,  # None: not run (the note says why)
        "layer_checked_ops": layers.checks if layers.passed is not None else 0,
        "ops": layers.ops,
        "layer_check_vectors": layers.vectors,
        "layer_first_failure": layers.first_failure,
        "layer_check_note": layers.note,
        # op outputs a fused schedule never holds whole, and aliases: not checked
        "layer_unchecked": [f"op {s['op']} {s['kind']}" for s in layers.skipped],
        "macs": macs,
        "instructions": result.instructions_per_inference,
        "instructions_per_mac": round(result.instructions_per_inference / macs, 3),
        "flash_bytes": sizes["flash"] - sizes.get("test_vector_bytes", 0),  # the self-test vectors are not the model
        "code_bytes": sizes["code_bytes"],
        "weights_bytes": sizes["weights_bytes"],
        "ram_bytes": sizes["ram"],  # as linked: data + bss + the whole reserved stack
        "arena_bytes": sizes["arena_bytes"],
        "stack_used_bytes": result.stack_used,  # measured high-water mark (stack painted at reset)
        "ram_used_bytes": result.ram.get("used_bytes"),  # data + bss + the measured stack
        "kernels": sorted({s.kernel for s in export.compiled.steps if s.kernel}),
    }
    row.update(_ratios(row, model.tflm, board.cpu))
    return row


def select_suite(names=None) -> list[BenchModel]:
    """The SUITE rows named in `names` (all of them when None), in SUITE's order."""
    from tinyasc.errors import TinyascError

    unknown = set(names or ()) - {model.name for model in SUITE}
    if unknown:
        raise TinyascError(f"unknown bench models {sorted(unknown)}; expected some of {[m.name for m in SUITE]}")
    return [model for model in SUITE if names is None or model.name in names]


def run_bench(work_dir, boards=None, suite=None) -> list[dict]:
    from tinyasc.artifacts.boards import get_board

    boards = list(boards or DEFAULT_BOARDS)
    for name in boards:  # a typo is one clear error up front, not a board silently left out of the table
        get_board(name)
    work_dir = Path(work_dir)
    rows = []
    for model in suite or SUITE:
        tflite = model.make_tflite(work_dir)
        rows += [bench_or_refuse(model, tflite, board, work_dir / "export") for board in boards]
    return rows


def bench_or_refuse(model: BenchModel, tflite: Path, board_name: str, work_dir: Path) -> dict:
    """bench_one's row, or for a model too big for the board (micro:bit's 16 KB RAM) a row that
    says so: one board's limits do not stop the rest of the suite."""
    from tinyasc.artifacts.boards import get_board
    from tinyasc.errors import DoesNotFitError

    try:
        return bench_one(model, tflite, board_name, work_dir)
    except DoesNotFitError as error:
        board = get_board(board_name)
        reason = str(error).replace(f"{tflite}: ", "")
        return {"model": model.name, "board": board_name, "cpu": board.cpu, "twin": board.emulator_machine,
                "bit_exact": None, "refused": reason, "macs": None, "instructions": None,
                "instructions_per_mac": None, "kernels": []}


CSV_COLUMNS = ("model", "board", "cpu", "twin", "bit_exact", "layer_checked_ops", "ops", "macs", "instructions",
               "instructions_per_mac",
               "flash_bytes", "code_bytes", "weights_bytes", "ram_bytes", "arena_bytes",
               "vs_tflm_cmsis_nn_instructions", "vs_tflm_cmsis_nn_code_flash", "vs_tflm_cmsis_nn_ram",
               "stack_used_bytes", "ram_used_bytes")


def write_results(rows: list[dict], folder=RESULTS_DIR) -> tuple[Path, Path]:
    from tinyasc.artifacts.manifest import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / "bench.json", folder / "bench.csv"
    atomic_write_text(json_path, json.dumps({"rows": rows}, indent=2) + "\n")
    lines = [",".join(CSV_COLUMNS)]
    for row in rows:
        lines.append(",".join("" if row.get(c) is None else str(row[c]) for c in CSV_COLUMNS))
    atomic_write_text(csv_path, "\n".join(lines) + "\n")
    return json_path, csv_path


def _ratio_text(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_bench_table(rows: list[dict]) -> str:
    header = (f"{'model':<16} {'core':<10} {'exact':<5} {'layers':>7} {'MACs':>10} {'instructions':>13} {'insns/MAC':>9} "
              f"{'flash B':>8} {'RAM B':>8} {'stack B':>7} {'vs TFLM+CMSIS-NN insns/code/RAM':>32}")
    lines = [header, "-" * len(header)]
    for r in rows:
        if r.get("refused"):
            lines.append(f"{r['model']:<16} {r['cpu']:<10} does not fit: {r['refused']}")
            continue
        ratios = "/".join(_ratio_text(r[k]) for k in ("vs_tflm_cmsis_nn_instructions", "vs_tflm_cmsis_nn_code_flash",
                                                      "vs_tflm_cmsis_nn_ram"))
        checked = f"{r.get('layer_checked_ops', 0)}/{r.get('ops', 0)}"
        lines.append(f"{r['model']:<16} {r['cpu']:<10} {'yes' if r['bit_exact'] else 'NO':<5} {checked:>7} {r['macs']:>10,} "
                     f"{r['instructions']:>13,} {r['instructions_per_mac']:>9.2f} {r['flash_bytes']:>8,} "
                     f"{r['ram_bytes']:>8,} {r.get('stack_used_bytes') or 0:>7,} {ratios:>32}")
    return "\n".join(lines)
