"""Which memory plan codegen runs: op at a time with or without conv+pool fusions (choose_fusions)
and with row streams, with row
chains (compile/rowchain.py) and with a patch stage (compile/patches.py), each planned whole by
plan.py and checked by plan_check.py; the smallest arena wins (CompileOptions.row_chains and
.patches: auto, never or always), and on CompileOptions.row_streams "auto" a row stream that does not
lower it runs op at a time (a stream costs instructions). Among patch stages reaching the same arena, the least estimated
instruction overhead wins (`PatchStage.overhead`: recomputed MACs, bytes copied, kernel calls); on
auto a stage estimated over MAX_OVERHEAD of the graph's instructions is not run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tinyasc.compile.kernels import select_kernel
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.patches import PatchStage, candidate_stages
from tinyasc.compile.patches_emit import keeps_patch_kernels, settle_patch_kernels
from tinyasc.compile.plan import MemoryPlan, plan_memory, share_buffers
from tinyasc.compile.rowchain import RowChain
from tinyasc.compile.rowstream import RowStream, find_row_streams, settle

# auto: a patch stage's estimated extra instructions, a fraction of the graph's (MobileNetV1 0.25:
# its bands 2.1 %, measured 4.8 %: its first conv runs slower per MAC on band regions; its 3x2 grid 5.1 %)
MAX_OVERHEAD = 0.05
GRAPH_INSNS_PER_MAC = 2.0  # the graph's instructions estimated from its MACs (the M4 suite runs 1.3-2.2)


@dataclass
class Choice:
    plan: MemoryPlan
    streams: list[RowStream]
    chains: list[RowChain] = field(default_factory=list)
    stage: PatchStage | None = None


def plan_streams(graph, prepared: list, kernels: list, board, options: CompileOptions,
                 taken: set[int]) -> list[RowStream]:
    """The row streams codegen runs, each settled on the schedule the planner allows."""
    if not options.fuse:
        return []
    streams = find_row_streams(graph, prepared, kernels,
                               lambda index, params: select_kernel(graph.ops[index].kind, params, board, options), taken)
    candidates = {s.output: (s.input, 0, s.depthwise_op) for s in streams}
    elided = frozenset(s.elided for s in streams if s.elided is not None)
    sharing = share_buffers(graph, kernels, True, elided, candidates)
    return settle(streams, set(sharing.in_place_ops.values()) & set(candidates))


def plan_with(graph, prepared: list, kernels: list, board, options: CompileOptions, fusions: list,
              scratch: dict[int, int], chains: list[RowChain], stage: PatchStage | None = None,
              cache: dict | None = None, unstreamed: frozenset = frozenset()) -> Choice:
    """The plan with these row chains and patch stage, and the row streams left to run (`cache`:
    the streams found for each set of ops taken, reused across the candidates; `unstreamed`: ops
    that run op at a time, not in a stream)."""
    groups = [c.ops for c in chains] + ([stage.ops] if stage is not None else [])
    taken = {op for f in fusions for op in (f.conv_op, f.pool_op)} | {op for g in groups for op in g} | unstreamed
    cache = {} if cache is None else cache
    key = frozenset(taken)
    if key not in cache:
        cache[key] = plan_streams(graph, prepared, kernels, board, options, taken)
    streams = cache[key]
    scratch.update({s.depthwise_op: s.scratch_bytes for s in streams if s.scratch_bytes})
    for group, size in [(c.ops, c.scratch_bytes) for c in chains] + ([(stage.ops, stage.scratch_bytes)] if stage else []):
        for op in group:
            scratch.pop(op, None)
        scratch[group[0]] = size
    inner = [t for c in chains for t in c.elided] + (list(stage.inner) if stage else [])
    # A chain or patch stage runs all its ops at its first: their kernels' in-place access orders
    # (one op at a time) say nothing about that, so none of them writes over its input (a chained
    # conv once wrote its row into an ADD's output over the chain input the ADD still read).
    grouped = {op for g in groups for op in g}
    kernels = [dataclasses.replace(k, in_place=None) if i in grouped and k is not None else k
               for i, k in enumerate(kernels)]
    plan = plan_memory(graph, options.planner, scratch=scratch,
                       elided=frozenset([f.elided for f in fusions] + [s.elided for s in streams if s.elided is not None]
                                        + inner),
                       produced_at={f.pool_output: f.conv_op for f in fusions}
                       | {s.output: s.depthwise_op for s in streams if s.pointwise_op is not None}
                       | {t: c.ops[0] for c in chains for t in c.outputs}
                       | ({stage.output: stage.ops[0]} if stage else {}),
                       kernels=kernels,
                       shifted={s.output: (s.input, s.schedule.shift, s.depthwise_op) for s in streams if s.in_place})
    return Choice(plan, streams, chains, stage)


def _patched(graph, prepared, kernels, board, options, fusions, scratch, chains, best: int) -> list[Choice]:
    """The best plan with a patch stage, for each stage the planner finds worth trying: per stage
    length, the stages in order of their instruction overhead (`PatchStage.overhead`), until one
    reaches the least arena of that length. On auto a stage whose overhead is over MAX_OVERHEAD of
    the graph's instructions (estimated at GRAPH_INSNS_PER_MAC) is not tried, nor one whose patch
    buffers and output alone reach `best` (the arena without)."""
    if options.patches == "never" or not options.fuse:
        return []
    taken = {op for f in fusions for op in (f.conv_op, f.pool_op)}
    macs = sum(p.macs for p in prepared)
    auto = options.patches == "auto"
    stages = [s for s in candidate_stages(graph, prepared, taken, macs if auto else None)  # always: any recomputation
              if settle_patch_kernels(s, graph, board, options)
              and (not auto or (keeps_patch_kernels(s, kernels) and _floor(graph, s) < best
                                and s.overhead <= MAX_OVERHEAD * GRAPH_INSNS_PER_MAC * macs))]
    found, cache = [], {}
    for length in sorted({len(s.ops) for s in stages}):
        same = sorted((s for s in stages if len(s.ops) == length), key=lambda s: s.overhead)
        free = [c for c in chains if not set(c.ops) & set(same[0].ops)]
        leanest = plan_with(graph, prepared, kernels, board, options, fusions, dict(scratch), free,
                            min(same, key=lambda s: (s.scratch_bytes, s.overhead)), cache)
        for stage in same:  # the least overhead reaching the leanest stage's arena
            if _floor(graph, stage) > leanest.plan.arena_size:
                continue
            choice = leanest if stage is leanest.stage else plan_with(graph, prepared, kernels, board, options,
                                                                      fusions, dict(scratch), free, stage, cache)
            if choice.plan.arena_size <= leanest.plan.arena_size:
                found.append(_without_idle_chains(graph, prepared, kernels, board, options, fusions, scratch,
                                                  choice, cache))
                break
    return found


def _without_idle_chains(graph, prepared, kernels, board, options, fusions, scratch, choice: Choice,
                         cache: dict) -> Choice:
    """`choice` (a patch stage beside row chains) without the chains when they do not lower its arena:
    a chain runs its convs row by row, which can cost several times their instructions (WSNet's
    PTQ convs: 3.7x), so on auto it runs only where the arena needs it."""
    if not choice.chains or options.row_chains == "always":
        return choice
    bare = plan_with(graph, prepared, kernels, board, options, fusions, dict(scratch), [], choice.stage, cache)
    return bare if bare.plan.arena_size <= choice.plan.arena_size else choice


def _floor(graph, stage: PatchStage) -> int:
    """Bytes live at the stage's op whatever the plan: its patch buffers, its output and an input in the arena."""
    live = [stage.output] + ([stage.tensors[0]] if stage.tensors[0] not in graph.inputs else [])
    return stage.scratch_bytes + sum(graph.tensors[t].nbytes for t in live if t not in graph.outputs)


def choose_memory(graph, prepared: list, kernels: list, board, options: CompileOptions, fusions: list,
                  scratch: dict[int, int], chains: list[RowChain]) -> Choice:
    """The plan codegen runs: on "auto", chains and patches run only where the arena shrinks."""
    plans = [plan_with(graph, prepared, kernels, board, options, fusions, dict(scratch), [])] \
        if options.row_chains != "always" or not chains else []
    if chains:
        plans.append(plan_with(graph, prepared, kernels, board, options, fusions, dict(scratch), chains))
    patched = _patched(graph, prepared, kernels, board, options, fusions, scratch, chains,
                       min(p.plan.arena_size for p in plans) if plans else 1 << 62)
    if options.patches == "always" and patched:
        plans = patched
    elif patched and min(p.plan.arena_size for p in patched) < min(p.plan.arena_size for p in plans):
        plans = plans + patched
    best = min(plans, key=lambda m: (m.plan.arena_size, len(m.chains), m.stage.overhead if m.stage else 0))
    if options.row_streams == "always":
        return best
    return _without_idle_streams(graph, prepared, kernels, board, options, fusions, scratch, best)


def choose_fusions(graph, prepared: list, kernels: list, board, options: CompileOptions, fusions: list,
                   scratch: dict[int, int], chains_beside) -> tuple[Choice, list]:
    """The plan codegen runs and the conv+pool fusions (fusion.py) it runs: all of them where that
    plan's arena is smaller than the plan without any, in which a patch stage or row chain may take
    those ops (`chains_beside(taken ops)`: the row chains that may run beside them), else none.
    `scratch`: each op's kernel scratch; a fused conv's becomes its block and kernel scratch."""
    choices = []
    for fused in ([[], fusions] if fusions else [[]]):
        request = dict(scratch)
        request.update({f.conv_op: f.scratch_bytes for f in fused})
        taken = {op for f in fused for op in (f.conv_op, f.pool_op)}
        choices.append((choose_memory(graph, prepared, kernels, board, options, fused, request, chains_beside(taken)),
                        fused))
    # Equal arenas: no patch stage (it recomputes), fewer row chains, then unfused (the kernels' own loops).
    return min(choices, key=lambda c: (c[0].plan.arena_size, c[0].stage is not None, len(c[0].chains), len(c[1])))


def _without_idle_streams(graph, prepared, kernels, board, options, fusions, scratch, best: Choice) -> Choice:
    """`best` with each row stream that does not lower the arena run op at a time instead: a stream
    runs its depthwise conv (and the 1×1 fused with it) row by row, which costs instructions (about
    6-8 % of those ops on the M4), so it runs only where the arena needs it."""
    unstreamed: frozenset = frozenset()
    for stream in best.streams:
        ops = frozenset({stream.depthwise_op} | ({stream.pointwise_op} if stream.pointwise_op is not None else set()))
        trial = plan_with(graph, prepared, kernels, board, options, fusions, dict(scratch), best.chains,
                          best.stage, unstreamed=unstreamed | ops)
        if trial.plan.arena_size <= best.plan.arena_size:
            best, unstreamed = trial, unstreamed | ops
    return best
