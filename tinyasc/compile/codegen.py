"""Render the prepared graph as plain C with the Jinja templates in `firmware_templates/`.

The pipeline is a few named passes: read (.tflite → IR) → prepare (per-op constants) → select
(each op's kernel record) → fuse → plan (static arena) → render (C). The compile options
(CompileOptions) reach them as an argument. Decisions stay here; templates only print them. Names and labels that
reach C are escaped (`c_string`) or sanitised (`c_comment`), so no model file can inject code.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

import tinyasc
from tinyasc.compile import ops
from tinyasc.compile.kernel_library import model_sections
from tinyasc.compile.kernels import select_dense_kernel, select_kernel, sparse_candidate
from tinyasc.compile.sparse import layer_report
from tinyasc.compile.fusion import ConvPoolFusion, find_conv_pool_fusions, fused_loop, row_pointer
from tinyasc.compile.ir import Graph, verify
from tinyasc.compile.ops.common import Kernel
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.pcm_input import (
    pcm_frontend_applies,
    pcm_frontend_text,
    pcm_samples,
    render_pcm_input,
    stream_applies,
    stream_facts,
)
from tinyasc.compile.memory_choice import choose_fusions
from tinyasc.compile.patches_emit import build_patch_steps
from tinyasc.compile.plan import MemoryPlan
from tinyasc.compile.rowchain import RowChain, find_row_chains
from tinyasc.compile.rowchain_emit import build_chain_steps, keeps_kernels, settle_kernels
from tinyasc.compile.rowstream import ROW, RowStream, carry_destination, destination, pairs_across_steps, stream_loop
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
    sparsity: dict = dataclasses.field(default_factory=dict)  # weight format and savings (sparse.layer_report)


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
             "bytes": s.weight_bytes, "summary": s.summary, **s.sparsity}
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


@functools.cache  # one Environment caches the compiled templates (reloaded when a file changes)
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


# C types of the graph's input and output: int8, or float32 for a model converted with float I/O.
C_TYPES = {"int8": "int8_t", "float32": "float"}


def _io_ctype(tensor, role: str) -> str:
    if tensor.dtype not in C_TYPES:
        raise UnsupportedModelError(f"the model's {role} is {tensor.dtype}; tinyasc compiles int8 or float32 {role}s")
    return C_TYPES[tensor.dtype]


# ---- passes ----


def _pointer(plan: MemoryPlan, tensor: int) -> str:
    buffer = plan.tensor_buffer[tensor]
    if buffer.storage == "input":
        return "input"
    if buffer.storage == "output":
        return "output"
    offset = plan.tensor_offset(tensor)
    return f"tas_arena + {offset}" if offset else "tas_arena"


def _scratch_pointer(plan: MemoryPlan, op_index: int) -> str | None:
    buffer = plan.scratch_buffer.get(op_index)
    if buffer is None:
        return None
    return f"tas_arena + {buffer.offset}" if buffer.offset else "tas_arena"


def _constant(constants: list[ConstantArray], name: str, values: np.ndarray, ctype: str, comment: str) -> str:
    """A flash array for `values`; an array already emitted with the same type and values is shared
    (its name is returned, its comment names the sharer): identical shift tables, zero biases or a
    repeated layer's weights are stored once."""
    values = np.asarray(values)
    body = c_array_body(values)
    for existing in constants:
        if existing.ctype == ctype and existing.length == values.size and existing.body == body:
            existing.comment += f"; also {name.removeprefix('tas_weights_')}"
            return existing.name
    constants.append(
        ConstantArray(
            name=name, ctype=ctype, length=values.size, body=body,
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


def _prepare(op, graph: Graph, options: CompileOptions):
    try:
        spec = ops.spec_for(op)
        params = spec.prepare(op, graph)
        return spec.with_options(params, options) if spec.with_options else params
    except UnsupportedModelError as error:  # say which op, when the helper that refused could not
        if str(error).startswith("op "):
            raise
        raise UnsupportedModelError(f"op {op.index} ({op.kind.value}): {error}") from None


def scratch_requests(graph: Graph, prepared: list, kernels: list[Kernel | None]) -> dict[int, int]:
    """Bytes of scratch each op's kernel asks for (Kernel.scratch_bytes), by op index."""
    return {
        op.index: int(kernel.scratch_bytes(params))
        for op, params, kernel in zip(graph.ops, prepared, kernels)
        if kernel is not None and kernel.scratch_bytes is not None
    }


def _build_step(op, params, kernel: Kernel | None, graph: Graph, plan: MemoryPlan, constants: list[ConstantArray],
                board, pointer=None, scratch: str | None = None, emit=None) -> tuple[Step, tuple[str, ...]]:
    """The step of `op` running `kernel` (select_kernel's choice for `params`); `pointer` (tensor
    index -> C expression), `scratch` and `emit` override the plan's pointers, the op's scratch and
    its emit function (fused steps)."""
    spec = ops.spec_for(op)
    call, first_constant = None, len(constants)
    if kernel is not None:
        context = ops.EmitContext(
            op=op,
            pointer=pointer or (lambda tensor: _pointer(plan, tensor)),
            add_constant=lambda name, values, ctype, comment: _constant(constants, name, values, ctype, comment),
            scratch_pointer=scratch or _scratch_pointer(plan, op.index),
        )
        call = (emit or spec.emit)(params, kernel, context)
    step = Step(
        index=op.index,
        kind=op.kind.value,
        kernel=kernel.name if kernel else None,
        summary=spec.describe(params) or f"-> {list(graph.tensors[op.outputs[0]].shape)}",
        params_ctype=(kernel.params_ctype or spec.params_ctype) if kernel else None,
        params_fields=_scalar_fields(params),
        call=call,
        macs=params.macs,
        parameters=sum(
            graph.tensors[i].num_elements for i in op.inputs
            if i >= 0 and graph.tensors[i].is_constant and graph.tensors[i].quantization is not None
        ),
        weight_bytes=sum(c.nbytes for c in constants[first_constant:]),
        sparsity=layer_report(op.kind, params, kernel, select_dense_kernel(op.kind, params, board),
                              sparse_candidate(op.kind, params, board)),
    )
    return step, (kernel.files if kernel else ())


def _build_fused_half(op, params, fusion: ConvPoolFusion, graph: Graph, plan: MemoryPlan,
                      constants: list[ConstantArray], board, options: CompileOptions) -> tuple[Step, tuple[str, ...]]:
    """The conv or the pool of a fused pair, on its block parameters, reading and writing the
    current block's rows (compile/fusion.py); its summary and MACs stay the whole op's."""
    scratch = _scratch_pointer(plan, fusion.conv_op)
    if op.index == fusion.conv_op:
        block = fusion.conv_block
        base = _pointer(plan, fusion.conv_input)
        pointers = {fusion.conv_input: row_pointer(base, fusion.input_row_step), fusion.elided: scratch}
    else:
        block = fusion.pool_block
        base = _pointer(plan, fusion.pool_output)
        pointers = {fusion.elided: scratch, fusion.pool_output: row_pointer(base, fusion.output_row_step)}
    kernel = select_kernel(op.kind, block, board, options)
    kernel_scratch = f"({scratch}) + {fusion.kernel_scratch_offset}" if op.index == fusion.conv_op and fusion.kernel_scratch else None
    step, files = _build_step(op, block, kernel, graph, plan, constants, board, pointer=pointers.__getitem__,
                              scratch=kernel_scratch)
    spec = ops.spec_for(op)
    step.summary = spec.describe(params) + (f", fused with op {fusion.pool_op}" if op.index == fusion.conv_op
                                           else f", fused into op {fusion.conv_op}")
    step.macs = params.macs
    return step, files


def _build_stream_steps(s: RowStream, graph: Graph, prepared: list, kernels: list, plan: MemoryPlan,
                        constants: list[ConstantArray], board, options: CompileOptions) -> list[tuple[Step, tuple]]:
    """The steps of a row stream (compile/rowstream.py): the depthwise step runs the loop, a fused
    pointwise step runs nothing; summaries and MACs stay the whole ops'."""
    dw_op, base = graph.ops[s.depthwise_op], _scratch_pointer(plan, s.depthwise_op)
    row_buffer, pw_scratch, ring = (f"({base}) + {offset}" if base else "" for offset in s.scratch_layout())
    output = _pointer(plan, s.output)
    if not s.needs_loop:  # in place straight from the whole kernel: the plan placed the output
        step, files = _build_step(dw_op, prepared[dw_op.index], kernels[dw_op.index], graph, plan, constants, board)
        step.summary += ", in place over its input"
        return [(step, files)]
    dest = destination(s, output, ring)
    dw_pointers = {s.input: _pointer(plan, s.input), dw_op.outputs[0]: row_buffer if s.elided is not None else dest}
    k = s.rows_per_step
    rows = (ROW, f"{ROW} + 1") if k == 1 else (f"{ROW} * {k}", f"{ROW} * {k} + {k}")
    emit_rows = lambda p, kernel, ctx: ops.spec_for(dw_op).emit(p, kernel, ctx, rows)  # noqa: E731
    dw_step, files = _build_step(dw_op, prepared[dw_op.index], kernels[dw_op.index].rows, graph, plan, constants,
                                 board, pointer=dw_pointers.__getitem__, emit=emit_rows)
    results, pw_call = [(dw_step, files + ("tas_row_stream.h",))], None
    if s.pointwise_op is not None:
        pw_op = graph.ops[s.pointwise_op]
        kernel = select_kernel(pw_op.kind, s.pointwise_block, board, options)
        stepped = pairs_across_steps(s) and kernel is not None and kernel.rows is not None \
            and kernel.rows.applies(s.pointwise_block)
        kernel = kernel.rows if stepped else kernel
        pw_pointers = {s.elided: row_buffer, s.output: dest}
        pw_step, pw_files = _build_step(pw_op, s.pointwise_block, kernel, graph, plan, constants, board,
                                        pointer=pw_pointers.__getitem__, scratch=pw_scratch)
        pw_call, pw_step.call = pw_step.call, f"(void)0 /* fused into op {dw_op.index} */"
        if stepped:  # the step kernel's extra arguments: the previous step's last pixel, the step
            pw_call = f"{pw_call[:-1]}, {carry_destination(s, output, ring)}, {ROW}, {s.geometry.output_rows})"
        pw_step.summary = ops.spec_for(pw_op).describe(prepared[pw_op.index]) + f", fused into op {dw_op.index}"
        pw_step.macs = prepared[pw_op.index].macs
        results.append((pw_step, pw_files))
    dw_step.call = stream_loop(s, dw_step.call, pw_call, output, ring)
    dw_step.summary += (f", fused with op {s.pointwise_op}" if s.pointwise_op is not None else "") + (
        f", in place (delay {s.schedule.delay}, shift {s.schedule.shift} B)" if s.in_place else "")
    return results


def compile_graph(graph: Graph, board=None, options: CompileOptions | None = None) -> CompiledModel:
    """`board` (a Board) enables the kernels its core's ISA extensions run; None compiles portable
    C only. `options` (default CompileOptions()): the planner, sparse-weight kernels for pruned
    layers (compile/sparse.py), the WS_CONV kernel, and conv+pool fusion (compile/fusion.py)."""
    options = options or CompileOptions()
    verify(graph)
    prepared = [_prepare(op, graph, options) for op in graph.ops]
    kernels = [select_kernel(op.kind, params, board, options) for op, params in zip(graph.ops, prepared)]
    scratch = scratch_requests(graph, prepared, kernels)
    fusions = find_conv_pool_fusions(
        graph, prepared, lambda index, params: select_kernel(graph.ops[index].kind, params, board, options),
    ) if options.fuse else []

    def chains_beside(taken: set[int]) -> list[RowChain]:
        return [c for c in (find_row_chains(graph, prepared, taken) if options.fuse and options.row_chains != "never"
                            else []) if settle_kernels(c, graph, board, options)
                and (options.row_chains == "always" or keeps_kernels(c, graph, kernels))]

    choice, fusions = choose_fusions(graph, prepared, kernels, board, options, fusions, scratch, chains_beside)
    plan, streams, chains, stage = choice.plan, choice.streams, choice.chains, choice.stage
    fused = {op: f for f in fusions for op in (f.conv_op, f.pool_op)}
    streamed = {s.depthwise_op: s for s in streams}
    constants: list[ConstantArray] = []
    chained = {}
    for c in chains:
        chained.update(build_chain_steps(
            c, graph, prepared, _scratch_pointer(plan, c.ops[0]),
            lambda op, p, k, **kw: _build_step(op, p, k, graph, plan, constants, board, **kw),
            lambda t: _pointer(plan, t),
            lambda name, values, ctype, comment: _constant(constants, name, values, ctype, comment)))
    if stage is not None:
        chained.update(build_patch_steps(
            stage, graph, prepared, _scratch_pointer(plan, stage.ops[0]),
            lambda op, p, k, **kw: _build_step(op, p, k, graph, plan, constants, board, **kw),
            lambda t: _pointer(plan, t)))
    skipped = {s.pointwise_op for s in streams}
    pending: dict[int, tuple[Step, tuple]] = {}
    steps, kernel_files = [], ["tas_requantize.h"]
    for op, params in zip(graph.ops, prepared):
        fusion = fused.get(op.index)
        if op.index in chained:
            step, files = chained[op.index]
        elif op.index in streamed:  # the depthwise step, and a fused pointwise step for its own place
            built = _build_stream_steps(streamed[op.index], graph, prepared, kernels, plan, constants, board, options)
            step, files = built[0]
            pending.update({s.index: (s, f) for s, f in built[1:]})
        elif op.index in skipped:
            step, files = pending.pop(op.index)
        elif fusion is None:
            step, files = _build_step(op, params, kernels[op.index], graph, plan, constants, board)
        else:
            step, files = _build_fused_half(op, params, fusion, graph, plan, constants, board, options)
        steps.append(step)
        kernel_files += [f for f in files if f not in kernel_files]
    for f in fusions:  # the conv step runs both kernels in one loop; the pool step runs nothing
        conv_step, pool_step = steps[f.conv_op], steps[f.pool_op]
        conv_step.call = fused_loop(f, conv_step.call, pool_step.call)
        pool_step.call = f"(void)0 /* fused into op {f.conv_op} */"
    return CompiledModel(graph=graph, plan=plan, steps=steps, constants=constants, kernel_files=kernel_files)


def render_model_sources(compiled: CompiledModel, source: str, labels: list[str], audio=None,
                         stream=None) -> dict[str, str]:
    """The generated C as {file name: text}; the caller writes them (atomically). `audio` (an
    artifacts.audio.AudioInput) adds its sample rate and input kind to model.h when known, and for a
    raw-waveform or log-mel int8 model its PCM front-end (pcm_input.c, `tinyasc_input_from_pcm`), and
    with `stream` (tinyasc.frontend.stream.StreamSettings) the stream over it (pcm_stream.c)."""
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
        input_ctype=_io_ctype(x, "input"),
        output_ctype=_io_ctype(y, "output"),
        input_scale=repr(x.quantization.scale) if x.quantization else None,
        input_zero_point=x.quantization.zero_point if x.quantization else None,
        output_scale=repr(y.quantization.scale) if y.quantization else None,
        output_zero_point=y.quantization.zero_point if y.quantization else None,
        arena_size=compiled.plan.arena_size,
        lower_bound=compiled.plan.lower_bound,
        labels=list(labels),
        kernel_sections=model_sections(compiled.kernel_files),
        constants=compiled.constants,
        steps=compiled.steps,
        ops=graph.ops,
        macs=compiled.macs,
        uses_input=any(s.call and "input" in s.call for s in compiled.steps),
        sample_rate=audio.sample_rate if audio else None,
        input_kind=audio.kind if audio else None,
        pcm_frontend=pcm_frontend_text(audio) if pcm_frontend_applies(audio, graph) else None,
        pcm_samples=pcm_samples(audio, graph) if pcm_frontend_applies(audio, graph) else None,
        stream=stream_facts(audio, graph, stream) if stream is not None and stream_applies(audio, graph) else None,
    )
    env = template_environment()
    sources = {
        "model.h": env.get_template("model/model.h.j2").render(context),
        "model.c": env.get_template("model/model.c.j2").render(context),
    }
    if context["pcm_frontend"] is not None:  # the model's input from microphone samples
        sources.update(render_pcm_input(audio, graph, env, stream))
    return sources


def c_float_array_body(values: np.ndarray, per_line: int = 6) -> str:
    """float32 values as exact hexadecimal C literals (the bits survive the round trip)."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    rows = []
    for start in range(0, len(flat), per_line):
        rows.append("    " + ", ".join(float(v).hex() + "f" for v in flat[start : start + per_line]) + ",")
    return "\n".join(rows)


def _array_body(values: np.ndarray) -> str:
    return c_float_array_body(values) if np.asarray(values).dtype == np.float32 else c_array_body(values)


def render_test_vectors(inputs: np.ndarray, outputs: np.ndarray, pcm_window=None) -> dict[str, str]:
    """int8 or float32 (a model with float I/O) inputs and expected outputs as C arrays; with
    `pcm_window` (int16 PCM, the int8 input expected from it) the PCM front-end's test too."""
    env = template_environment()
    context = dict(
        version=tinyasc.__version__,
        count=len(inputs),
        inputs=[_array_body(v) for v in inputs],
        outputs=[_array_body(v) for v in outputs],
        pcm=c_array_body(pcm_window[0]) if pcm_window is not None else None,
        pcm_input=c_array_body(pcm_window[1]) if pcm_window is not None else None,
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
    from tinyasc.artifacts.manifest import atomic_write_text

    for name, text in files.items():
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
