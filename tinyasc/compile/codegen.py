"""Render the prepared graph as plain C with the Jinja templates in `firmware_templates/`.

The pipeline is a few named passes: read (.tflite → IR) → prepare (per-op constants) → plan
(static arena) → render (C). Decisions stay here; templates only print them. Names and labels that
reach C are escaped (`c_string`) or sanitised (`c_comment`), so no model file can inject code.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

import tinyasc
from tinyasc.compile import ops
from tinyasc.compile.kernels import select_kernel
from tinyasc.compile.ir import Graph, verify
from tinyasc.compile.plan import MemoryPlan, plan_memory
from tinyasc.errors import UnsupportedModelError
from tinyasc.paths import TEMPLATES_DIR

@dataclass
class Step:
    index: int
    kind: str
    kernel: str | None
    summary: str
    params_ctype: str | None
    params_fields: list[tuple[str, int]]
    call: str | None
    macs: int
    parameters: int = 0  # weights and biases of the op, zeros included
    weight_bytes: int = 0  # flash its constant arrays take (packed weights, bias, requantization)


@dataclass
class ConstantArray:
    name: str
    ctype: str
    length: int
    body: str
    comment: str
    nbytes: int


@dataclass
class CompiledModel:
    graph: Graph
    plan: MemoryPlan
    steps: list[Step]
    constants: list[ConstantArray]
    kernel_files: list[str]

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.steps)

    @property
    def weight_bytes(self) -> int:
        return sum(c.nbytes for c in self.constants)

    def layers(self) -> list[dict]:
        return [
            {"op": s.index, "kind": s.kind, "kernel": s.kernel, "macs": s.macs, "parameters": s.parameters,
             "bytes": s.weight_bytes, "summary": s.summary}
            for s in self.steps
        ]


# ---- C text helpers ----


def c_string(text: str) -> str:
    """A C string literal for any text: printable ASCII kept, everything else escaped."""
    out = []
    for byte in str(text).encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127 and ch != "?":  # '?' escaped too: no trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_comment(text) -> str:
    """Text safe inside a /* */ comment on one line."""
    text = re.sub(r"[^\x20-\x7e]", "?", str(text))
    return text.replace("*/", "* /").replace("/*", "/ *")


def c_array_body(values: np.ndarray, per_line: int = 16) -> str:
    flat = np.asarray(values).reshape(-1)
    rows = []
    for start in range(0, len(flat), per_line):
        rows.append("    " + ", ".join(str(int(v)) for v in flat[start : start + per_line]) + ",")
    return "\n".join(rows)


def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["c_string"] = c_string
    env.filters["c_comment"] = c_comment
    return env


# ---- passes ----


def _pointer(plan: MemoryPlan, tensor: int) -> str:
    buffer = plan.tensor_buffer[tensor]
    if buffer.storage == "input":
        return "input"
    if buffer.storage == "output":
        return "output"
    return f"tas_arena + {buffer.offset}" if buffer.offset else "tas_arena"


def _constant(constants: list[ConstantArray], name: str, values: np.ndarray, ctype: str, comment: str) -> str:
    values = np.asarray(values)
    constants.append(
        ConstantArray(
            name=name, ctype=ctype, length=values.size, body=c_array_body(values),
            comment=comment, nbytes=values.size * values.dtype.itemsize,
        )
    )
    return name


def _scalar_fields(params) -> list[tuple[str, int]]:
    fields = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if isinstance(value, (bool, int, np.integer)):
            fields.append((f.name, int(value)))
    return fields


def _build_step(op, graph: Graph, plan: MemoryPlan, constants: list[ConstantArray],
                board=None) -> tuple[Step, tuple[str, ...]]:
    spec = ops.spec_for(op)
    try:
        params = spec.prepare(op, graph)
    except UnsupportedModelError as error:  # say which op, when the helper that refused could not
        if str(error).startswith("op "):
            raise
        raise UnsupportedModelError(f"op {op.index} ({op.kind.value}): {error}") from None
    kernel = select_kernel(op.kind, params, board)
    call, first_constant = None, len(constants)
    if kernel is not None:
        context = ops.EmitContext(
            op=op,
            pointer=lambda tensor: _pointer(plan, tensor),
            add_constant=lambda name, values, ctype, comment: _constant(constants, name, values, ctype, comment),
        )
        call = spec.emit(params, kernel, context)
    step = Step(
        index=op.index,
        kind=op.kind.value,
        kernel=kernel.name if kernel else None,
        summary=spec.describe(params) or f"-> {list(graph.tensors[op.outputs[0]].shape)}",
        params_ctype=spec.params_ctype if kernel else None,
        params_fields=_scalar_fields(params),
        call=call,
        macs=params.macs,
        parameters=sum(
            graph.tensors[i].num_elements for i in op.inputs
            if i >= 0 and graph.tensors[i].is_constant and graph.tensors[i].quantization is not None
        ),
        weight_bytes=sum(c.nbytes for c in constants[first_constant:]),
    )
    return step, (kernel.files if kernel else ())


def compile_graph(graph: Graph, planner: str = "greedy", board=None) -> CompiledModel:
    """`board` (a Board) enables its core's fast kernels; None compiles portable C only."""
    verify(graph)
    plan = plan_memory(graph, planner)
    constants: list[ConstantArray] = []
    steps, kernel_files = [], ["tas_requantize.h"]
    for op in graph.ops:
        step, files = _build_step(op, graph, plan, constants, board)
        steps.append(step)
        kernel_files += [f for f in files if f not in kernel_files]
    return CompiledModel(graph=graph, plan=plan, steps=steps, constants=constants, kernel_files=kernel_files)


def render_model_sources(compiled: CompiledModel, source: str, labels: list[str]) -> dict[str, str]:
    """The generated C as {file name: text}; the caller writes them (atomically)."""
    graph = compiled.graph
    x = graph.tensors[graph.inputs[0]]
    y = graph.tensors[graph.outputs[0]]
    context = dict(
        version=tinyasc.__version__,
        source=source,
        input_size=x.num_elements,
        output_size=y.num_elements,
        input_shape=list(x.shape),
        output_shape=list(y.shape),
        input_scale=repr(x.quantization.scale),
        input_zero_point=x.quantization.zero_point,
        output_scale=repr(y.quantization.scale),
        output_zero_point=y.quantization.zero_point,
        arena_size=compiled.plan.arena_size,
        lower_bound=compiled.plan.lower_bound,
        labels=list(labels),
        kernel_files=compiled.kernel_files,
        constants=compiled.constants,
        steps=compiled.steps,
        ops=graph.ops,
        macs=compiled.macs,
        uses_input=any(s.call and "input" in s.call for s in compiled.steps),
    )
    env = template_environment()
    return {
        "model.h": env.get_template("model/model.h.j2").render(context),
        "model.c": env.get_template("model/model.c.j2").render(context),
    }


def render_test_vectors(inputs: np.ndarray, outputs: np.ndarray) -> dict[str, str]:
    env = template_environment()
    context = dict(
        version=tinyasc.__version__,
        count=len(inputs),
        inputs=[c_array_body(v) for v in inputs],
        outputs=[c_array_body(v) for v in outputs],
    )
    return {
        "test_vectors.h": env.get_template("model/test_vectors.h.j2").render(context),
        "test_vectors.c": env.get_template("model/test_vectors.c.j2").render(context),
    }


def render_tflite_array(data: bytes) -> str:
    env = template_environment()
    body = c_array_body(np.frombuffer(data, dtype=np.uint8))
    return env.get_template("model/model_tflite.c.j2").render(version=tinyasc.__version__, length=len(data), body=body)


def write_sources(files: dict[str, str], folder: Path) -> None:
    from tinyasc.manifest import atomic_write_text

    for name, text in files.items():
        atomic_write_text(Path(folder) / name, text)
