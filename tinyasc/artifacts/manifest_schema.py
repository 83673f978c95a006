"""What a manifest read back must look like: a hand-edited or damaged `manifest.json` is one error
naming the file and the key, never a KeyError or TypeError deep inside a stage.

- `checked(manifest, path)` checks the type of every key a stage reads (TYPES, the types export,
  build, emulate and verify write) and the element types of a few lists, and wraps every dict so
  that reading a key that is not there raises ManifestKeyError, naming the file and the key.
- RANGES bounds the numbers that reach C, QEMU or an allocation (sizes, counts, offsets, rates,
  shapes): a negative size or a 2**62-sample input is refused here, not met as a MemoryError or a
  wrapped-around C constant later. Floats among them must be finite (JSON lets NaN and Infinity in).
- ManifestKeyError is a TinyascError (one line, exit 2); stages read optional keys with .get().
"""

from __future__ import annotations

import math
from pathlib import Path

from tinyasc.errors import TinyascError

RERUN = "the manifest was edited or damaged: re-run `tinyasc export` (and build/emulate)"
NUMBER, WHOLE, TEXT, TABLE, ARRAY, FLAG = "number", "whole number", "string", "JSON object", "list", "true/false"
_PATHS = {  # the types export, verify, build and emulate write (None is allowed everywhere: not measured)
    TABLE: (
        "audio audio.level audio.log_mel audio_evaluation build build.artifacts build.sizes emulation "
        "emulation.ram evaluation export export.input export.memory_plan export.memory_plan.in_place_ops "
        "export.output host_verification layer_check profile run run.accuracy_by_level run.accuracy_by_level.buckets "
        "run.accuracy_by_level.float run.accuracy_by_level.int8_host run.float_test_metrics run.qat_decision "
        "stream versions "
    ),
    WHOLE: (
        "audio.channels audio.input_samples audio.log_mel.hop_length audio.log_mel.n_fft audio.log_mel.n_mels "
        "audio.log_mel.sample_rate audio.log_mel.window_length audio.sample_rate build.flash_limit "
        "build.ram_limit build.stack_size emulation.clock_hz emulation.exit_code emulation.instructions_max "
        "emulation.instructions_min emulation.instructions_per_inference emulation.mismatches "
        "emulation.pcm_frontend_instructions emulation.ram.arena_bytes emulation.ram.free_bytes "
        "emulation.ram.free_linked_bytes emulation.ram.frontend_bytes emulation.ram.limit_bytes "
        "emulation.ram.other_static_bytes emulation.ram.stack_reserved_bytes emulation.ram.stack_used_bytes "
        "emulation.ram.static_bytes emulation.ram.used_bytes emulation.ram.used_linked_bytes "
        "emulation.stack_size emulation.stack_used emulation.ticks_per_inference emulation.vectors "
        "export.arena_bytes export.arena_lower_bound_bytes export.input.zero_point export.macs "
        "export.memory_plan.arena_bytes export.memory_plan.lower_bound_bytes export.output.zero_point "
        "export.parameters export.sparse_layers export.test_vectors export.tflite_bytes "
        "export.tflm_arena_bytes export.weight_bytes host_verification.bit_exact host_verification.inputs "
        "run.float_test_metrics.recordings run.test_clips schema_version stream.first_values stream.queue "
        "stream.ram_bytes stream.smoothing stream.stride_values stream.window_values "
    ),
    NUMBER: (
        "audio.log_mel.fmin audio.log_mel.hop_s audio.log_mel.log_floor audio.log_mel.window_s "
        "audio.seconds_per_inference build.build_seconds build.flash_used_percent build.ram_used_percent "
        "emulation.latency_ms_estimate emulation.run_seconds export.input.scale export.output.scale "
        "host_verification.max_abs_difference run.float_test_accuracy run.float_test_log_loss "
        "run.float_test_metrics.accuracy run.float_test_metrics.log_loss run.float_test_metrics.macro_f1 "
        "run.int8_test_accuracy run.int8_test_log_loss run.qat_decision.ptq_val_accuracy_drop "
        "run.qat_decision.threshold run.val_accuracy stream.stride_s "
    ),
    TEXT: (
        "audio.kind board build.artifacts.bin build.artifacts.elf build.artifacts.hex build.artifacts.map "
        "build.board build.compiler build.emulator_machine build.opt c_prefix emulation.command "
        "emulation.instruction_count_method emulation.latency_note emulation.machine emulation.ram.method "
        "export.input.dtype export.memory_plan.planner export.output.dtype export.source "
        "host_verification.sanitizers name run.accuracy_by_level.level run.path run.ptq_input_range "
        "run.qat_decision.mode run.quantization "
    ),
    ARRAY: (
        "build.cflags build.ldflags export.input.shape export.labels export.layers export.memory_plan.buffers "
        "export.memory_plan.tensors export.ops export.output.shape run.float_test_metrics.confusion "
        "run.ptq_candidates "
    ),
    FLAG: (
        "build.linked_for_board_addresses emulation.passed run.qat_decision.qat_ran "
    ),
}
TYPES: dict[str, str] = {path: kind for kind, paths in _PATHS.items() for path in paths.split()}
TYPES["build.sizes.*"] = WHOLE  # every size a whole number of bytes
TYPES.update({f"audio_evaluation.{key}": kind for kind, keys in {  # emulate --audio's figures, read by report
    WHOLE: "files windows frontend_instructions_per_window frontend_instructions_per_second_of_audio "
           "network_instructions_per_inference clock_hz",
    NUMBER: "window_seconds real_time_factor_estimate accuracy macro_f1",
    TEXT: "source split machine instruction_count_method level",
    ARRAY: "treatment files_differing_from_host predictions confusion labels",
    FLAG: "qemu_equals_host",
    TABLE: "accuracy_by_level",
}.items() for key in keys.split()})
# Lists whose elements are read one by one: what each element must be.
ELEMENTS = {"export.input.shape": WHOLE, "export.output.shape": WHOLE, "export.labels": TEXT, "export.ops": TEXT,
            "export.layers": TABLE}


BYTES = (0, 2**32)  # a size on a 32-bit part
COUNT = (0, 2**53)  # instructions, MACs, parameters: exact in a double
RATE = (1000, 768_000)  # Hz, as the audio loader's bounds
MAX_SAMPLES = 2**23  # config.MAX_CLIP_SAMPLES: one clip tinyasc holds in memory
MAX_ELEMENTS = 2**26  # elements of one model input or output
_RANGES = {  # (low, high): path names
    BYTES: ("export.arena_bytes export.arena_lower_bound_bytes export.memory_plan.arena_bytes "
            "export.memory_plan.lower_bound_bytes export.tflite_bytes export.tflm_arena_bytes export.weight_bytes "
            "build.flash_limit build.ram_limit build.stack_size build.sizes.* emulation.stack_size "
            "emulation.stack_used emulation.ram.limit_bytes emulation.ram.arena_bytes emulation.ram.frontend_bytes "
            "emulation.ram.stack_used_bytes emulation.ram.stack_reserved_bytes emulation.ram.other_static_bytes "
            "emulation.ram.static_bytes emulation.ram.used_bytes emulation.ram.used_linked_bytes stream.ram_bytes"),
    (-2**32, 2**32): "emulation.ram.free_bytes emulation.ram.free_linked_bytes",
    COUNT: ("export.parameters export.macs emulation.instructions_per_inference emulation.instructions_min "
            "emulation.instructions_max emulation.ticks_per_inference emulation.pcm_frontend_instructions "
            "run.test_clips run.float_test_metrics.recordings"),
    (0, 100_000): "export.sparse_layers",
    (1, 1000): "export.test_vectors schema_version",
    (0, 1000): "emulation.vectors emulation.mismatches",
    (0, 200_000): "host_verification.inputs host_verification.bit_exact",
    (1, 2**32): "emulation.clock_hz",
    (-2**31, 2**31): "emulation.exit_code",
    (-128, 127): "export.input.zero_point export.output.zero_point",
    (1e-30, 1e30): "export.input.scale export.output.scale",
    RATE: "audio.sample_rate audio.log_mel.sample_rate",
    (1, 16): "audio.channels",
    (1, MAX_SAMPLES): "audio.input_samples audio.log_mel.hop_length",
    (1, 65_536): "audio.log_mel.n_fft audio.log_mel.window_length",
    (1, 1024): "audio.log_mel.n_mels",
    (0.0, 384_000.0): "audio.log_mel.fmin",
    (1e-6, 3600.0): "audio.seconds_per_inference audio.log_mel.hop_s audio.log_mel.window_s",
    (-1e30, 1e30): "audio.log_mel.log_floor",
    (1, 16 * MAX_SAMPLES): "stream.stride_values stream.window_values stream.first_values",
    (1, 255): "stream.smoothing",
    (1, 4096): "stream.queue",
    (1e-6, 1e6): "stream.stride_s",
}
RANGES: dict[str, tuple] = {path: bounds for bounds, paths in _RANGES.items() for path in paths.split()}
# Lists of numbers bounded element by element, and their product (the tensor's elements).
ELEMENT_RANGES = {"export.input.shape": (1, MAX_ELEMENTS), "export.output.shape": (1, MAX_ELEMENTS)}


class ManifestKeyError(TinyascError):
    """Not a KeyError on purpose: Jinja (the HTML report) turns a KeyError into an undefined value."""


class _Section(dict):
    """A dict of a manifest that names the file and the key when a key is missing."""

    file: Path
    where: str

    def __missing__(self, key):
        raise ManifestKeyError(f"{self.file}: the key '{self.where}{key}' is missing; {RERUN}")


def _is(value, kind: str) -> bool:
    whole = isinstance(value, int) and not isinstance(value, bool)
    return {NUMBER: whole or isinstance(value, float), WHOLE: whole, TEXT: isinstance(value, str),
            TABLE: isinstance(value, dict), ARRAY: isinstance(value, list), FLAG: isinstance(value, bool)}[kind]


def _check_range(value, path: str, bounds: tuple, file: Path) -> None:
    low, high = bounds
    if isinstance(value, float) and not math.isfinite(value) or not low <= value <= high:
        raise TinyascError(f"{file}: '{path}' must be between {_number(low)} and {_number(high)}, found "
                           f"{_short(value)}; {RERUN}")


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _check_elements(value: list, where: str, file: Path) -> None:
    bounds = ELEMENT_RANGES[where]
    for index, item in enumerate(value):
        _check_range(item, f"{where}[{index}]", bounds, file)
    if math.prod(value) > bounds[1]:
        raise TinyascError(f"{file}: '{where}' holds {math.prod(value):,} elements, more than {bounds[1]:,}; {RERUN}")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _wrap(value, file: Path, where: str):
    if isinstance(value, dict):
        section = _Section()
        section.file, section.where = file, where + "." if where else ""
        for key, item in value.items():
            path = f"{section.where}{key}"
            kind = TYPES.get(path) or TYPES.get(f"{where}.*")
            if kind is not None and item is not None and not _is(item, kind):
                raise TinyascError(f"{file}: '{path}' must be a {kind}, found {type(item).__name__} "
                                   f"{_short(item)}; {RERUN}")
            bounds = RANGES.get(path) or RANGES.get(f"{where}.*")
            if bounds is not None and item is not None:
                _check_range(item, path, bounds, file)
            dict.__setitem__(section, key, _wrap(item, file, path))
        return section
    if isinstance(value, list):
        kind = ELEMENTS.get(where)
        for index, item in enumerate(value):
            if kind is not None and not _is(item, kind):
                raise TinyascError(f"{file}: '{where}[{index}]' must be a {kind}, found {type(item).__name__} "
                                   f"{_short(item)}; {RERUN}")
        if where in ELEMENT_RANGES:
            _check_elements(value, where, file)
        return [_wrap(item, file, f"{where}[{index}]") for index, item in enumerate(value)]
    return value


def checked(manifest: dict, file: Path) -> dict:
    """The manifest with every key's type checked and every dict naming missing keys."""
    return _wrap(manifest, Path(file), "")
