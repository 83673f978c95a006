"""The stage boundaries of DESIGN §2, checked on the source: which stage may import which.

`stage_imports(stage)` reads every file of a stage with `ast` (imports inside functions count) and
returns what it imports from other stages; a rule is then one set comparison. The import-time check
runs in a fresh interpreter, because this test process may have loaded TensorFlow for other tests.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "tinyasc"
PACKAGE = PACKAGE_ROOT.name
TENSORFLOW_MODULES = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")
# The Keras side of the pipeline (tf_env is its door to TensorFlow): compile reads .tflite files only.
KERAS_SIDE_STAGES = {"convert", "train", "models", "data", "tf_env"}


def _imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in a file, relative imports made absolute. For
    `from a import b` both `a` and `a.b` are listed, so `from tinyasc import convert` counts."""
    module_parts = [PACKAGE, *path.relative_to(PACKAGE_ROOT).with_suffix("").parts]
    package_parts = module_parts[:-1]  # what `from . import x` means; __init__.py is its own package
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package_parts[: len(package_parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def stage_of(name: str) -> str | None:
    """The stage a dotted name belongs to: `tinyasc.compile.ir.Graph` → "compile",
    `tinyasc.tf_env` → "tf_env"; None outside the package."""
    parts = name.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else None


def stage_imports(stage: str) -> dict[str, set[str]]:
    """For one stage (a package folder or a top-level module), each other stage it imports, with
    the places that import it ("compile/export.py:33")."""
    folder = PACKAGE_ROOT / stage
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE_ROOT / f"{stage}.py"]
    imports: dict[str, set[str]] = {}
    for path in files:
        for line, name in _imported_names(path):
            target = stage_of(name)
            if target and target != stage:
                imports.setdefault(target, set()).add(f"{path.relative_to(PACKAGE_ROOT)}:{line}")
    return imports


def forbidden_imports(stage: str, forbidden: set[str]) -> dict[str, list[str]]:
    """The places where `stage` imports one of the `forbidden` stages (empty when it keeps the rule)."""
    return {target: sorted(places) for target, places in stage_imports(stage).items() if target in forbidden}


def test_compile_imports_nothing_from_the_keras_side():
    assert forbidden_imports("compile", KERAS_SIDE_STAGES) == {}


def test_convert_imports_nothing_from_compile():
    assert forbidden_imports("convert", {"compile"}) == {}


def test_firmware_imports_nothing_from_emulate():
    # The QEMU twin's arguments live with the board model (artifacts/twin.py), which both use.
    assert forbidden_imports("firmware", {"emulate"}) == {}


def test_artifacts_import_no_stage():
    # The ground floor every stage may import: it may use only the shared errors module.
    assert set(stage_imports("artifacts")) <= {"errors"}


# Modules every stage may use that are no stage themselves.
SHARED_MODULES = {"errors", "paths"}


def stages() -> list[str]:
    """Every stage: each package folder and each top-level module of tinyasc, but the shared ones."""
    names = {p.name for p in PACKAGE_ROOT.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    names |= {p.stem for p in PACKAGE_ROOT.glob("*.py") if p.stem != "__init__"}
    return sorted(names - SHARED_MODULES)


def stage_graph() -> dict[str, set[str]]:
    """stage → the stages it imports (imports inside functions count)."""
    known = set(stages())
    return {stage: set(stage_imports(stage)) & known for stage in stages()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of stages that reach each other (strongly connected, more than one stage)."""
    reach = {stage: set() for stage in graph}
    for stage in graph:  # a depth-first walk from each stage: the graph has ~20 nodes
        todo = list(graph[stage])
        while todo:
            target = todo.pop()
            if target not in reach[stage]:
                reach[stage].add(target)
                todo += graph.get(target, ())
    groups = {frozenset({stage} | {other for other in reach[stage] if stage in reach[other]}) for stage in graph}
    return sorted(sorted(group) for group in groups if len(group) > 1)


def test_no_two_stages_import_each_other_even_through_others():
    assert import_cycles(stage_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_three_stages():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_import_helper_sees_imports_inside_functions_and_package_relative_imports(tmp_path, monkeypatch):
    stage = tmp_path / PACKAGE / "stage"
    stage.mkdir(parents=True)
    (stage / "__init__.py").write_text("from . import helper\n")
    (stage / "helper.py").write_text(
        "def late():\n    from tinyasc.convert import quantize_int8\n"
        "from tinyasc import train\nfrom ..models import registry\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_ROOT", tmp_path / PACKAGE)
    assert forbidden_imports("stage", KERAS_SIDE_STAGES) == {
        "convert": ["stage/helper.py:2"],
        "train": ["stage/helper.py:3"],
        "models": ["stage/helper.py:4"],
    }


def _compile_modules() -> list[str]:
    names = [f"{PACKAGE}.compile"]
    for path in sorted((PACKAGE_ROOT / "compile").rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(PACKAGE_ROOT).with_suffix("").parts]
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


# Imports each module in turn and reports what each one newly loaded that it must not.
IMPORT_PROBE = """
import importlib, json, sys
heavy, keras_side = set(sys.argv[1].split(",")), set(sys.argv[2].split(","))
def unwanted():
    return {name for name in sys.modules if name.split(".")[0] in heavy
            or (name.startswith("tinyasc.") and name.split(".")[1] in keras_side)}
report = {}
for module in sys.argv[3:]:
    before = unwanted()
    importlib.import_module(module)
    report[module] = sorted(unwanted() - before)
print(json.dumps({"package": importlib.import_module("tinyasc").__file__, "loaded": report}))
"""


def test_importing_any_compile_module_loads_no_tensorflow_and_no_keras_side_stage():
    modules = _compile_modules()
    python_path = os.pathsep.join([str(PACKAGE_ROOT.parent), os.environ.get("PYTHONPATH", "")])
    probe_args = [",".join(TENSORFLOW_MODULES), ",".join(KERAS_SIDE_STAGES), *modules]
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *probe_args],
        env={**os.environ, "PYTHONPATH": python_path},
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.splitlines()[-1])
    assert Path(probe["package"]).resolve().parent == PACKAGE_ROOT, "the probe imported another checkout"
    assert len(probe["loaded"]) == len(modules) > 20
    assert {module: loaded for module, loaded in probe["loaded"].items() if loaded} == {}


if __name__ == "__main__":  # `python tests/test_architecture.py`: the stage graph, for notes and reviews
    graph = stage_graph()
    print(f"stages {len(graph)}: {', '.join(graph)}")
    print(f"imports {sum(map(len, graph.values()))}:")
    for stage, targets in graph.items():
        if targets:
            print(f"  {stage} -> {', '.join(sorted(targets))}")
    print(f"cycles: {import_cycles(graph) or 'none'}")
