"""Activation memory of tinyasc's static plan against TFLite Micro's, on five model families.

    .venv/bin/python benchmarks/memory_plans.py      (~1-2 min on 2 cores; writes results/memory_plans.json)

Each model is built with tf-keras (random weights: memory does not depend on them), converted to a
full-int8 .tflite with tinyasc's converter, then measured four ways:

- tinyasc arena: the greedy plan the generated C uses (graph input and output live in the caller's
  buffers, so they are not in it; the "+ I/O" column adds them for a like-for-like figure), with
  in-place element-wise ops, conv + max-pool fusion and row streams (depthwise convs in place or
  fused with their 1×1 conv per row, compile/rowstream.py); "unfused" is the same plan without
  fusion or streams (op at a time);
- lower bound: the largest sum of activations live at one op, which no plan can beat;
- linear plan: every activation in its own region, the baseline;
- TFLM minimal arena: the smallest `arena_size` with which TFLM's interpreter allocates and runs
  the model, bisected to 16 bytes. It holds input, output, every activation, and TFLM's own
  bookkeeping (tensor and node structs, per-channel quantization data).

A model tinyasc cannot compile yet keeps its row, with the compiler's message.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tinyasc.compile.codegen import compile_graph  # noqa: E402
from tinyasc.compile.options import CompileOptions  # noqa: E402
from tinyasc.compile.plan import plan_memory  # noqa: E402
from tinyasc.compile.reference import tflm_minimal_arena  # noqa: E402
from tinyasc.convert import quantize_int8  # noqa: E402
from tinyasc.compile.tflite_reader import parse_tflite  # noqa: E402
from tinyasc.errors import TinyascError  # noqa: E402
from tinyasc.tf_env import import_tf  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "memory_plans.json"
SEED = 0


# ---- the models ----


def anchor_cnn():
    from tinyasc.models import build_model

    return build_model("anchor_cnn")


from tinyasc.models.tinyml_nets import ds_cnn_kws, fc_autoencoder, resnet8, squeeze_excitation  # noqa: E402

MODELS = {
    "anchor_cnn": anchor_cnn,
    "ds_cnn_kws": ds_cnn_kws,
    "resnet8": resnet8,
    "squeeze_excitation": squeeze_excitation,
    "fc_autoencoder": fc_autoencoder,
}


# ---- measuring ----


def int8_tflite(name: str, folder: Path) -> bytes:
    _, keras = import_tf()
    keras.utils.set_random_seed(SEED)
    model = MODELS[name]()
    x = np.random.default_rng(SEED).normal(size=(32,) + tuple(model.input_shape[1:])).astype(np.float32)
    return quantize_int8(model, x, folder / f"{name}.tflite").read_bytes()


def measure(name: str, model_bytes: bytes) -> dict:
    row = {"model": name, "tflite_bytes": len(model_bytes), "tflm_arena_bytes": tflm_minimal_arena(model_bytes)}
    try:
        graph = parse_tflite(model_bytes, source=f"{name}.tflite")
        compiled = compile_graph(graph, options=CompileOptions(planner="greedy"))
    except TinyascError as e:
        return {**row, "unsupported": str(e)}
    plan = compiled.plan
    io_bytes = graph.tensors[graph.inputs[0]].nbytes + graph.tensors[graph.outputs[0]].nbytes
    return {
        **row,
        "ops": len(graph.ops),
        "op_kinds": sorted({op.kind.value for op in graph.ops}),
        "arena_bytes": plan.arena_size,
        "lower_bound_bytes": plan.lower_bound,
        "unfused_bytes": compile_graph(graph, options=CompileOptions(planner="greedy", fuse=False)).plan.arena_size,
        "linear_bytes": plan_memory(graph, "linear").arena_size,
        "io_bytes": io_bytes,
        "ratio_to_tflm": round(plan.arena_size / row["tflm_arena_bytes"], 3),
        "ratio_with_io_to_tflm": round((plan.arena_size + io_bytes) / row["tflm_arena_bytes"], 3),
    }


def table(rows: list[dict]) -> str:
    header = (
        f"{'model':20} {'ops':>4} {'tinyasc':>9} {'bound':>9} {'unfused':>9} {'linear':>9} {'+ I/O':>9} {'TFLM':>9} "
        f"{'ratio':>6} {'w/ I/O':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        if "unsupported" in r:
            lines.append(f"{r['model']:20} {'':>4} unsupported: {r['unsupported']}  (TFLM {r['tflm_arena_bytes']:,} B)")
            continue
        lines.append(
            f"{r['model']:20} {r['ops']:>4} {r['arena_bytes']:>9,} {r['lower_bound_bytes']:>9,} {r['unfused_bytes']:>9,} "
            f"{r['linear_bytes']:>9,} {r['arena_bytes'] + r['io_bytes']:>9,} {r['tflm_arena_bytes']:>9,} "
            f"{r['ratio_to_tflm']:>6.2f} {r['ratio_with_io_to_tflm']:>6.2f}"
        )
    lines.append("bytes; ratio = tinyasc arena / TFLM minimal arena; '+ I/O' adds the caller's input and output")
    return "\n".join(lines)


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            rows.append(measure(name, int8_tflite(name, Path(folder))))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"seed": SEED, "models": rows}, indent=2) + "\n")
    print(table(rows))
    print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
