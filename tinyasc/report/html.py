"""`tinyasc report export/<name>`: one self-contained HTML page of everything the manifest holds.

    report_data(export_dir)    the manifest turned into the figures and tables the page shows
    render_report(export_dir)  HTML text: plots are matplotlib PNGs embedded as base64, no
                               external file, script or font, so the page can be mailed or archived
    write_report(export_dir)   <export_dir>/report.html (atomically)

Sections appear when the manifest has their data: accuracy and confusion matrix (an "evaluation"
section: {"accuracy": {name: value}, "confusion_matrix": [[count]], "labels": [...]}), per-layer
instructions (a "profile" section, tinyasc.emulate.profile), flash and RAM (a "build" section),
instructions per inference ("emulation"), audio run through the device's own front-end and network
("audio_evaluation", `tinyasc emulate --audio`). Otherwise the page says what to run to get them.
"""

import base64
import io
from pathlib import Path

import jinja2

from tinyasc.paths import TEMPLATES_DIR

from tinyasc.errors import TinyascError
from tinyasc.artifacts.boards import get_board
from tinyasc.artifacts.manifest import atomic_write_text, read_manifest
from tinyasc.report.levels import LEVEL_BUCKET_TEXT, LEVEL_BUCKETS
from tinyasc.report.plan_view import plan_facts, plan_rows

TEMPLATE = TEMPLATES_DIR / "report" / "report.html.j2"
REPORT_NAME = "report.html"
PLOT_DPI = 100
SECTIONS = ("summary", "accuracy", "audio", "layers", "memory-plan", "flash-ram", "versions")


# ---- plots ---------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: render to PNG bytes only
    import matplotlib.pyplot as plt

    return plt


def _png_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PLOT_DPI, bbox_inches="tight")
    _pyplot().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def arena_plan_plot(rows: list[dict], facts: dict, num_ops: int) -> str:
    """Each row of the per-tensor plan (plan_view.plan_rows) as a rectangle: the ops it lives
    across on x, its byte range on y. Tensors sharing a buffer share its colour; scratch is grey."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 4))
    colours = plt.get_cmap("tab20")
    for row in rows:
        start = max(row["first_op"], 0)
        width = max(row["last_op"] - start, 0) + 1  # alive from its producer to its last reader
        colour = "lightgrey" if row["buffer"] is None else colours(row["buffer"] % 20)
        axes.broken_barh([(start - 0.45, width - 0.1)], (row["offset"], row["bytes"]),
                         facecolors=colour, edgecolor="black", linewidth=0.5)
        if row["tensor"] is not None:
            axes.text(start - 0.4, row["offset"] + row["bytes"] / 2, f"t{row['tensor']}", fontsize=7, va="center")
    arena, bound = facts["arena_bytes"], facts["lower_bound_bytes"]
    axes.axhline(arena, color="red", linestyle="--", linewidth=1, label=f"arena {arena:,} B")
    if bound:
        axes.axhline(bound, color="black", linestyle=":", linewidth=1, label=f"lower bound {bound:,} B")
    axes.set_xlim(-1, max(num_ops, 1))
    axes.set_ylim(0, max(arena, 1) * 1.08)
    axes.set_xlabel("op index")
    axes.set_ylabel("arena offset (bytes)")
    axes.set_title(f"activation arena over time ({facts['planner']} planner)")
    axes.legend(loc="upper right")
    return _png_data_uri(figure)


def memory_use_plot(rows: list[dict]) -> str:
    """Flash and RAM used against the board's limits, as stacked parts of a 100 % bar."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 0.8 * len(rows) + 1))
    for y, row in enumerate(rows):
        left = 0.0
        for name, size in row["parts"]:
            share = 100.0 * size / row["limit"]
            axes.barh(y, share, left=left, label=f"{row['memory']}: {name}")
            left += share
        axes.text(min(left, 100) + 1, y, f"{row['used']:,} / {row['limit']:,} B ({row['percent']:.1f} %)",
                  va="center", fontsize=8)
    axes.set_yticks(range(len(rows)), [row["memory"] for row in rows])
    axes.set_xlim(0, 130)
    axes.axvline(100, color="red", linewidth=1)
    axes.set_xlabel("% of the board's memory")
    axes.legend(fontsize=7, loc="lower right", ncol=2)
    return _png_data_uri(figure)


def confusion_matrix_plot(matrix: list[list[int]], labels: list[str]) -> str:
    plt = _pyplot()
    size = max(4, 0.5 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    for row, counts in enumerate(matrix):
        for column, count in enumerate(counts):
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    return _png_data_uri(figure)


# ---- data ----------------------------------------------------------------------------------------

def _memory_rows(build: dict, ram: dict | None) -> list[dict]:
    """Flash, then RAM: with the emulator's measurement (emulate/ram.py), RAM counts the stack's
    measured high-water mark, and a second row the whole reserved stack; before it, the linked
    sizes only (the reserved stack)."""
    sizes = build["sizes"]
    flash_parts = [("weights", sizes["weights_bytes"]), ("test vectors", sizes["test_vector_bytes"]),
                   ("code + other", sizes["code_bytes"])]
    rows = [{"memory": "flash", "used": sizes["flash"], "limit": build["flash_limit"],
             "percent": build["flash_used_percent"], "parts": flash_parts}]
    limit = build["ram_limit"]
    if ram:
        static = [("arena", ram["arena_bytes"]), ("front-end", ram["frontend_bytes"]),
                  ("other static", ram["other_static_bytes"])]
        for memory, used, stack in (("RAM (stack: measured high-water mark)", ram["used_bytes"], ram["stack_used_bytes"]),
                                    ("RAM (stack: as reserved)", ram["used_linked_bytes"], ram["stack_reserved_bytes"])):
            rows.append({"memory": memory, "used": used, "limit": limit, "percent": 100.0 * used / limit,
                         "parts": [*static, ("stack", stack)]})
    else:
        rows.append({"memory": "RAM (stack: as reserved, not measured)", "used": sizes["ram"], "limit": limit,
                     "percent": build["ram_used_percent"],
                     "parts": [("arena", sizes["arena_bytes"]), ("stack", sizes["stack"]),
                               ("other", sizes["ram"] - sizes["arena_bytes"] - sizes["stack"])]})
    for row in rows:
        row["free"] = row["limit"] - row["used"]
    return rows


def _plan_section(export: dict) -> dict:
    plan, ops = export.get("memory_plan", {}), export.get("ops", [])
    rows, facts = plan_rows(plan, ops), plan_facts(export)
    return {
        "plan": plan,
        "plan_rows": rows,
        "plan_facts": facts,
        "arena_buffers": sum(1 for b in plan.get("buffers", []) if b.get("storage") == "arena"),
        "plan_plot": arena_plan_plot(rows, facts, len(ops)),
    }


def _layer_rows(export: dict, profile: dict | None) -> list[dict]:
    instructions = {row["op"]: row for row in (profile or {}).get("layers", [])}
    rows = []
    for layer in export.get("layers", []):
        profiled = instructions.get(layer["op"], {})
        rows.append({**layer, "instructions": profiled.get("instructions"),
                     "share": profiled.get("share")})
    return rows


def _board_text(name: str | None) -> str:
    if not name:
        return "-"
    try:
        return get_board(name).description
    except TinyascError:  # a board since removed from boards.yaml: the name is still worth showing
        return name


def _run_accuracy(run: dict | None) -> dict:
    """An export from a run without the demo's evaluation: what training measured (float model)."""
    run = run or {}
    rows = {"float, the run's validation split": run.get("val_accuracy"),
            "float, the run's test split": run.get("float_test_accuracy")}
    return {what: value for what, value in rows.items() if isinstance(value, (int, float))}


def level_rows(training: dict | None, audio: dict | None) -> list[dict]:
    """Accuracy per input-level bucket: float and int8 host from the run (`tinyasc export --run`
    copies them), int8 QEMU from `tinyasc emulate --audio`; rows only for what was measured."""
    by_level = (training or {}).get("accuracy_by_level") or {}
    rows = [{"what": what, "buckets": by_level[key]} for key, what in
            (("float", "float (Keras, test split)"), ("int8_host", "int8 host (TFLM interpreter, test split)"))
            if by_level.get(key)]
    if audio and audio.get("accuracy_by_level"):
        rows.append({"what": f"int8 QEMU ({audio.get('machine')}, emulate --audio)", "buckets": audio["accuracy_by_level"]})
    return rows


def report_data(export_dir) -> dict:
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    export = manifest.get("export")
    if not export:
        raise TinyascError(f"{export_dir}/manifest.json has no export section; re-run `tinyasc export`.")
    build, emulation = manifest.get("build"), manifest.get("emulation")
    profile, evaluation = manifest.get("profile"), manifest.get("evaluation") or {}
    labels = evaluation.get("labels") or export.get("labels", [])
    matrix = evaluation.get("confusion_matrix")
    audio = manifest.get("audio_evaluation")
    versions = dict(manifest.get("versions", {}))
    if build:
        versions["arm-none-eabi-gcc"] = build.get("compiler", "?")
    if emulation:
        versions["emulator"] = emulation.get("command", "").split(" ")[0] or "qemu-system-arm"
    memory_rows = _memory_rows(build, (emulation or {}).get("ram")) if build else []
    return {
        "name": manifest.get("name", export_dir.name),
        "board": manifest.get("board"),
        "board_text": _board_text(manifest.get("board")),
        "export": export,
        "build": build,
        "emulation": emulation,
        "profile": profile,
        "accuracy": evaluation.get("accuracy") or _run_accuracy(manifest.get("run")),
        "confusion_plot": confusion_matrix_plot(matrix, labels) if matrix else None,
        "audio": _audio_section(audio),
        # a plain dict: the template tests optional keys (and prints these two when it is there)
        "training": {"quantization": "", "ptq_input_range": None, **(manifest.get("run") or {})},
        "level_rows": level_rows(manifest.get("run"), audio),
        "level_buckets": [(name, LEVEL_BUCKET_TEXT[name]) for name, _, _ in LEVEL_BUCKETS],
        "audio_confusion_plot": confusion_matrix_plot(audio["confusion"], audio["labels"])
        if audio and audio.get("confusion") else None,
        "layers": _layer_rows(export, profile),
        **_plan_section(export),
        "memory_rows": memory_rows,
        "memory_plot": memory_use_plot(memory_rows) if memory_rows else None,
        "versions": versions,
        "sections": SECTIONS,
    }


# ---- page ----------------------------------------------------------------------------------------

# The keys of emulate --audio's section the page prints unconditionally (accuracy and macro-F1 only
# when the files were labelled).
AUDIO_KEYS = ("source", "files", "windows", "window_seconds", "machine", "treatment", "qemu_equals_host",
              "files_differing_from_host", "frontend_instructions_per_second_of_audio",
              "network_instructions_per_inference", "clock_hz", "real_time_factor_estimate")


def _audio_section(audio):
    """A plain dict (the template tests `accuracy is defined`), after each key it prints is checked
    there: a missing one is ManifestKeyError naming it, as everywhere else."""
    if not audio:
        return audio
    for key in AUDIO_KEYS + (("macro_f1",) if "accuracy" in audio else ()):
        audio[key]  # noqa: B018 - the lookup is the check
    return {"split": None, **audio}


def render_report(export_dir) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters["thousands"] = lambda n: "-" if n is None else f"{n:,}"
    template = environment.from_string(TEMPLATE.read_text())
    return template.render(**report_data(export_dir))


def write_report(export_dir, out=None) -> Path:
    export_dir = Path(export_dir)
    path = Path(out) if out is not None else export_dir / REPORT_NAME
    atomic_write_text(path, render_report(export_dir))
    return path
