"""The log-mel ResNet-SE for the nRF52840 (configs/idlab-resnet-se-nrf.yaml) with its on-device
PCM -> log-mel front-end fits the board with at least 64 KB of its 256 KB RAM free, counting the
activation arena, every static buffer (the offline front-end, the stream's state, the harness) and
the stack high-water mark measured in QEMU, in the self-test and while streaming; and runs
bit-exact there. Trained for one epoch on a few built-in synthetic clips: the sizes and the
arithmetic do not depend on how well it learned."""

from pathlib import Path

import numpy as np
import pytest

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "idlab-resnet-se-nrf.yaml"
BOARD = "nrf52840"
MIN_FREE_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def nrf_export(tmp_path_factory):
    from tinyasc.artifacts.run import read_run
    from tinyasc.artifacts.yaml_input import load_user_yaml
    from tinyasc.compile.export import export_model
    from tinyasc.config import ConfigError, config_from_dict
    from tinyasc.firmware.build import build_firmware
    from tinyasc.frontend.stream import StreamSettings
    from tinyasc.train.run import train_run

    tmp_path = tmp_path_factory.mktemp("nrf-fit")
    raw = load_user_yaml(CONFIG, ConfigError, "config file")
    raw["training"].update(epochs=1, batch_size=16)
    raw["quantization"] = {"mode": "ptq", "input_ranges": ["max"]}
    train_run("synthetic", run_dir=tmp_path / "run", config=config_from_dict(raw), work_dir=tmp_path,
              clips_per_class=4, progress=False)
    run = read_run(tmp_path / "run")
    export = export_model(run.tflite, board_name=BOARD, out_root=tmp_path / "export", audio=run.audio,
                          labels=run.labels, test_inputs=run.test_inputs, num_test_vectors=1,
                          stream=StreamSettings(stride_s=0.25, smoothing=4))
    build_firmware(export.export_dir)
    return run.audio, export.export_dir


@pytest.mark.e2e
def test_the_resnet_se_with_its_front_end_leaves_64_kb_of_the_boards_ram_free(nrf_export):
    from tinyasc.artifacts.boards import get_board
    from tinyasc.artifacts.export_folder import elf_path
    from tinyasc.artifacts.manifest import read_manifest
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.emulate.ram import ram_budget
    from tinyasc.emulate.stream_run import stream_in_qemu, stream_offline
    from tinyasc.firmware.size import object_symbol_sizes, size_report

    audio, export_dir = nrf_export
    manifest = read_manifest(export_dir)
    assert manifest["export"]["ops"].count("CONV_2D") >= 13 and "MUL" in manifest["export"]["ops"], "the IDLab shape"
    assert (export_dir / "src" / "pcm_stream.c").is_file() and audio.kind == "logmel"
    self_test = run_firmware(export_dir)
    assert self_test.passed and self_test.pcm_instructions > 0, self_test.log  # front-end and network bit-exact

    pcm = (np.random.default_rng(0).normal(0, 3000, int(2.2 * audio.sample_rate))).astype(np.int16)
    chunk = audio.sample_rate // 100  # 10-ms chunks: one big push would overflow the 4-result queue
    sizes = [0, 1, chunk - 1] + [chunk] * (len(pcm) // chunk - 1)
    sizes.append(len(pcm) - sum(sizes))
    streamed = stream_in_qemu(export_dir, pcm, sizes)
    offline = stream_offline(export_dir, pcm)
    assert len(streamed.values) >= 6
    np.testing.assert_array_equal(streamed.values, offline.values)

    elf = elf_path(export_dir)
    stack = max(self_test.stack_used, streamed.stack_used)
    ram = ram_budget(elf, get_board(BOARD).ram_size, stack)
    linked = size_report(elf)
    symbols = object_symbol_sizes(elf)
    assert ram["static_bytes"] == linked["data"] + linked["bss"] and ram["arena_bytes"] == manifest["export"]["arena_bytes"]
    assert ram["frontend_bytes"] == manifest["stream"]["ram_bytes"] + symbols["tas_logmel_features"] + symbols["tas_logmel_scratch"]
    assert 0 < stack < ram["stack_reserved_bytes"]
    assert ram["used_bytes"] == ram["static_bytes"] + stack
    assert ram["free_bytes"] >= MIN_FREE_BYTES, ram
    assert ram["free_linked_bytes"] >= MIN_FREE_BYTES, ram  # even with the whole reserved stack
    assert manifest["build"]["ram_limit"] == 256 * 1024
