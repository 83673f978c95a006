"""Hostile-input corpus, part 6: export folders edited by hand. A key of manifest.json deleted or
given a wrong type, or the file cut short, is one line naming the file and the key (exit 2) in
build, emulate, verify, report and flash, never a KeyError or TypeError from inside a stage.
benchmarks/manifest_mutants.py runs every key of a built and emulated export the same way."""

import json
import re
import shutil
from pathlib import Path

import pytest
from hostile import assert_one_line_error, run_cli

from tinyasc.artifacts.manifest import read_manifest
from tinyasc.artifacts.manifest_schema import RANGES, TYPES
from tinyasc.compile.export import export_model
from tinyasc.errors import TinyascError

GOLDEN_ANCHOR = Path(__file__).resolve().parent / "fixtures" / "golden" / "anchor_shaped_cnn.tflite"
COMMANDS = ("build", "emulate", "verify", "report", "flash")
MISSING = "is missing; the manifest was edited or damaged: re-run `tinyasc export`"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_manifest")
    from tinyasc.firmware.build import build_firmware

    export_model(GOLDEN_ANCHOR, board_name="cortex-m3", out_root=root, name="m")
    build_firmware(root / "m")  # emulate reads the manifest after finding the firmware
    return root / "m"


def edited(exported, tmp_path, edit) -> tuple:
    folder = tmp_path / "m"
    shutil.copytree(exported, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    text = edit(manifest)
    (folder / "manifest.json").write_text(text if isinstance(text, str) else json.dumps(manifest))
    return folder, folder / "manifest.json"


def _set(path, value):
    def edit(manifest):
        *parents, last = path.split(".")
        for key in parents:
            manifest = manifest[key]
        if value is KeyError:
            del manifest[last]
        else:
            manifest[last] = value
    return edit


@pytest.mark.parametrize("edit, commands, fragment", [
    (lambda m: json.dumps(m)[:300], COMMANDS, "is not valid JSON"),
    (_set("export", "x"), COMMANDS, "'export' must be a JSON object, found str 'x'"),
    (_set("export.input.shape", KeyError), ("verify",), f"the key 'export.input.shape' {MISSING}"),
    (_set("export.input.shape", "1x49x10"), COMMANDS, "'export.input.shape' must be a list, found str"),
    (_set("export.input.shape", [1, -1.5]), COMMANDS, "'export.input.shape[1]' must be a whole number, found float"),
    (_set("export.labels", [1, 2]), COMMANDS, "'export.labels[0]' must be a string, found int 1"),
    (_set("export.output", KeyError), ("verify",), f"the key 'export.output' {MISSING}"),
    (_set("export.memory_plan.arena_bytes", KeyError), ("report",), f"the key 'export.memory_plan.arena_bytes' {MISSING}"),
    (_set("board", 7), COMMANDS, "'board' must be a string, found int 7"),
    (_set("export.input.scale", "0.5"), COMMANDS, "'export.input.scale' must be a number, found str '0.5'"),
    (_set("export.layers", {"op": 0}), COMMANDS, "'export.layers' must be a list, found dict"),
    (_set("audio", [1]), COMMANDS, "'audio' must be a JSON object, found list [1]"),
    (_set("export.test_vectors", True), COMMANDS, "'export.test_vectors' must be a whole number, found bool True"),
    # out of range: the numbers that reach C, QEMU or an allocation
    (_set("export.arena_bytes", -1), COMMANDS, "'export.arena_bytes' must be between 0 and 4,294,967,296, found -1"),
    (_set("export.input.shape", [1, 2**40]), COMMANDS, "'export.input.shape[1]' must be between 1 and 67,108,864"),
    (_set("export.input.shape", [1, 8192, 8192, 2]), COMMANDS, "'export.input.shape' holds 134,217,728 elements"),
    (_set("export.output.shape", [1, 0]), COMMANDS, "'export.output.shape[1]' must be between 1 and"),
    (_set("export.input.scale", float("nan")), COMMANDS, "'export.input.scale' must be between 1e-30 and 1e+30, found nan"),
    (_set("export.output.zero_point", 300), COMMANDS, "'export.output.zero_point' must be between -128 and 127"),
    (_set("export.test_vectors", 0), COMMANDS, "'export.test_vectors' must be between 1 and 1,000, found 0"),
    (_set("audio", {"sample_rate": 10**9}), COMMANDS, "'audio.sample_rate' must be between 1,000 and 768,000"),
    (_set("audio", {"input_samples": 2**62}), COMMANDS, "'audio.input_samples' must be between 1 and 8,388,608"),
    (_set("build.sizes.flash", -5), COMMANDS, "'build.sizes.flash' must be between 0 and"),
    (_set("stream", {"smoothing": 0}), COMMANDS, "'stream.smoothing' must be between 1 and 255"),
])
def test_a_hand_edited_manifest_is_one_line_naming_the_file_and_the_key(capsys, exported, tmp_path, edit, commands,
                                                                         fragment):
    folder, manifest = edited(exported, tmp_path, edit)
    for command in commands:
        extra = ("--dry-run",) if command == "flash" else ()
        assert_one_line_error(capsys, (command, folder, *extra), manifest, fragment)


def test_every_typed_key_of_a_real_manifest_refuses_a_wrong_type(exported, tmp_path):
    """Each key the schema types, present in a real export's manifest, given a value of another type."""
    manifest = json.loads((exported / "manifest.json").read_text())
    paths = [p for p in TYPES if "*" not in p and _present(manifest, p)]
    assert len(paths) >= 30, paths
    for path in paths:
        folder, _ = edited(exported, tmp_path / path, _set(path, "wrong" if TYPES[path] != "string" else 7))
        with pytest.raises(TinyascError, match=f"'{path}' must be a "):
            read_manifest(folder)


def test_every_ranged_key_of_a_real_manifest_refuses_a_value_out_of_range(exported, tmp_path):
    """Each key RANGES bounds, present in a real export's manifest, just below and just above its
    bounds (and NaN for a number): refused, naming the key."""
    manifest = json.loads((exported / "manifest.json").read_text())
    paths = [p for p in RANGES if "*" not in p and _present(manifest, p)]
    assert len(paths) >= 15, paths
    for path in paths:
        low, high = RANGES[path]
        outside = (low - 1, high + 1) if isinstance(low, int) else (low - abs(low) - 1e-3, high + abs(high) + 1, float("nan"))
        for value in outside:
            folder, _ = edited(exported, tmp_path / f"{path}{value}", _set(path, value))
            with pytest.raises(TinyascError, match=f"'{re.escape(path)}' must be between "):
                read_manifest(folder)


def _present(manifest, path):
    for key in path.split("."):
        if not isinstance(manifest, dict) or key not in manifest:
            return False
        manifest = manifest[key]
    return True


UNLABELLED_AUDIO_RUN = {  # emulate --audio on one unlabelled WAV: no accuracy, no split
    "source": "the audio file x.wav", "split": None, "files": 1, "windows": 1, "treatment": ["read at 16,000 Hz"],
    "machine": "mps2-an385", "qemu_equals_host": True, "files_differing_from_host": [], "window_seconds": 1.0,
    "frontend_instructions_per_window": 320080, "frontend_instructions_per_second_of_audio": 320080,
    "network_instructions_per_inference": 40205320, "clock_hz": 48000000, "real_time_factor_estimate": 0.84428,
    "instruction_count_method": "SysTick ticks", "predictions": []}


def test_report_reads_an_unlabelled_audio_run_and_names_a_missing_key(capsys, exported, tmp_path):
    """Before: `report` after `emulate --audio x.wav` said the key 'audio_evaluation.accuracy' was
    missing (the template's `is defined` met the manifest's missing-key error)."""
    folder, _ = edited(exported, tmp_path / "a", _set("audio_evaluation", dict(UNLABELLED_AUDIO_RUN)))
    code, _, err = run_cli(capsys, "report", folder)
    assert code == 0, err
    assert "real-time factor at 48 MHz" in (folder / "report.html").read_text()
    for key in ("clock_hz", "split"):
        section = {k: v for k, v in UNLABELLED_AUDIO_RUN.items() if k != key}
        folder, manifest = edited(exported, tmp_path / key, _set("audio_evaluation", section))
        if key == "split":  # optional: printed only when there
            assert run_cli(capsys, "report", folder)[0] == 0
        else:
            assert_one_line_error(capsys, ("report", folder), manifest, f"the key 'audio_evaluation.{key}' {MISSING}")


@pytest.mark.parametrize("audio", [{"kind": "raw", "input_samples": 16000},
                                   {"kind": "raw", "input_samples": 16000, "sample_rate": None}])
def test_emulate_audio_names_a_lost_sample_rate(tmp_path, audio):
    """Before: a TypeError from the resampler (the rate None) when the manifest's audio.sample_rate
    of an export with a PCM front-end was deleted or nulled by hand."""
    from tinyasc.emulate.audio_eval import pcm_audio_facts

    write_src = tmp_path / "src" / "pcm_input.c"
    write_src.parent.mkdir()
    write_src.write_text("/* the front-end's presence is what counts here */\n")
    with pytest.raises(TinyascError, match=r"manifest\.json: the key 'audio\.sample_rate' is missing or null"):
        pcm_audio_facts(tmp_path, {"audio": audio})
