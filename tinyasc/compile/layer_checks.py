"""Per-layer checks for the verification build: a CRC-32 of every intermediate tensor the generated
schedule holds whole, per self-test input, as TFLM's reference kernels compute it.

The self-test compares only the model's output, and a saturating softmax hides wrong intermediates
(a KWS build with its 1x1 convs removed passed it). So export also writes `layer_checks.json`:
for every op output that sits whole in memory after its op's step (plan.tensor_buffer has it), where
it lives (arena offset, or the caller's input/output) and its CRC-32 on each test vector, from TFLM
run with kPreserveAllTensors. The verification build (firmware/verify.py) embeds the checksums (4
bytes per tensor per vector, never the tensors) and compares them on the device after each op.

Not checked, and listed as skipped with the reason: tensors a fused schedule never holds whole (the
conv output of a conv+pool pair, a row stream's depthwise rows, the inner tensors of row chains and
patch stages) and alias outputs (RESHAPE and friends: no code, the bytes of a tensor checked before).
"""

from __future__ import annotations

import zlib

import numpy as np

from tinyasc.compile.ir import ALIAS_OPS
from tinyasc.errors import TinyascError

STORAGE_CODES = {"arena": 0, "input": 1, "output": 2}  # tas_layer_check.storage in the C table
METHOD = ("CRC-32 (zlib, IEEE) of each checked tensor's bytes after its op, per test vector; expected "
          "values from the TFLM Python interpreter with kPreserveAllTensors (reference kernels)")


def crc32(values: np.ndarray) -> int:
    """CRC-32 of an array's bytes (little-endian, as Cortex-M holds them): the device computes the same."""
    return zlib.crc32(np.ascontiguousarray(values).tobytes()) & 0xFFFFFFFF


def _skip_reason(step, aliased: bool) -> str:
    if aliased:
        return "alias: no code, the same bytes as its input"
    return f"never held whole by the fused schedule ({step.summary})"


def checked_tensors(compiled) -> tuple[list[dict], list[dict]]:
    """(checks, skipped) in op order: every op output the schedule holds whole after its op's step,
    where it lives; the others, with the reason."""
    graph, plan = compiled.graph, compiled.plan
    checks, skipped = [], []
    for op, step in zip(graph.ops, compiled.steps):
        for slot, tensor_index in enumerate(op.outputs):
            tensor = graph.tensors[tensor_index]
            entry = {"op": op.index, "output": slot, "kind": op.kind.value, "tensor": tensor_index, "name": tensor.name}
            if op.kind in ALIAS_OPS or tensor_index not in plan.tensor_buffer:
                skipped.append({**entry, "reason": _skip_reason(step, op.kind in ALIAS_OPS)})
                continue
            storage = plan.tensor_buffer[tensor_index].storage
            # "input" and "output" tensors start at the caller's pointer (codegen._pointer).
            offset = plan.tensor_offset(tensor_index) if storage == "arena" else 0
            checks.append({**entry, "storage": storage, "offset": int(offset), "bytes": int(tensor.nbytes)})
    return checks, skipped


def _op_output_tensors(model_bytes: bytes) -> list[list[int]]:
    """The output tensor indices of every op of the first subgraph, in order."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    subgraph = schema.Model.GetRootAs(model_bytes, 0).Subgraphs(0)
    return [[int(t) for t in subgraph.Operators(i).OutputsAsNumpy()] for i in range(subgraph.OperatorsLength())]


def reference_tensors(model_bytes: bytes, inputs: np.ndarray, input_shape, outputs: list[tuple[int, int]]) -> list[list[np.ndarray]]:
    """[vector][k]: output `outputs[k] = (op, slot)` after TFLM ran input `vector` (every tensor kept)."""
    from tflite_micro.python.tflite_micro import runtime

    from tinyasc.artifacts.tflm import tflm_arena_bound
    from tinyasc.compile.ws_rewrite import expand_ws_conv

    # TFLM runs WS_CONV as CONV_2D: the same ops in the same order, but the tensors are renumbered.
    model_bytes = expand_ws_conv(bytes(model_bytes))
    op_outputs = _op_output_tensors(model_bytes)
    tensors = [op_outputs[op][slot] for op, slot in outputs]
    try:
        # Preserving every tensor needs them side by side: the bound holds all of them twice over.
        interpreter = runtime.Interpreter.from_bytes(
            model_bytes, arena_size=2 * tflm_arena_bound(model_bytes),
            intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
        dtype = interpreter.get_input_details(0)["dtype"]
        found = []
        for x in np.asarray(inputs).astype(dtype, copy=False):
            interpreter.set_input(x.reshape(input_shape), 0)
            interpreter.invoke()
            found.append([np.array(interpreter.GetTensor(t, 0)["tensor_data"]) for t in tensors])
    except RuntimeError as error:
        raise TinyascError(f"TFLM's reference interpreter cannot run this model with every tensor kept ({error})") from None
    return found


def layer_check_table(compiled, model_bytes: bytes, inputs: np.ndarray) -> dict:
    """What `layer_checks.json` holds: the checks, the skipped tensors, and per test vector the CRC-32
    of each checked tensor as TFLM computes it."""
    checks, skipped = checked_tensors(compiled)
    x = compiled.graph.tensors[compiled.graph.inputs[0]]
    tensors = reference_tensors(model_bytes, inputs, x.shape, [(c["op"], c["output"]) for c in checks]) if checks else \
        [[] for _ in inputs]
    for check, first in zip(checks, tensors[0] if tensors else []):
        if first.nbytes != check["bytes"]:
            raise TinyascError(f"op {check['op']} ({check['kind']}): TFLM's tensor {check['tensor']} has "
                               f"{first.nbytes} bytes, the compiled schedule {check['bytes']}")
    return {
        "method": METHOD,
        "checks": checks,
        "skipped": skipped,
        "expected": [[crc32(value) for value in vector] for vector in tensors],
    }


def render_layer_checks(table: dict, vectors: int | None = None) -> dict[str, str]:
    """layer_checks.{c,h} of the verification build from a `layer_check_table`; `vectors` keeps the
    expected checksums of the first few test vectors only (a build short of flash checks fewer)."""
    import tinyasc
    from tinyasc.compile.codegen import template_environment

    expected = table["expected"][:vectors] if vectors is not None else table["expected"]
    checks = [{**check, "storage_code": STORAGE_CODES[check["storage"]]} for check in table["checks"]]
    context = dict(version=tinyasc.__version__, checks=checks, expected=expected, skipped=len(table["skipped"]))
    env = template_environment()
    return {name: env.get_template(f"verify/{name}.j2").render(context) for name in ("layer_checks.c", "layer_checks.h")}
