"""The log-mel ResNet-SE for the nRF52840 (configs/idlab-resnet-se-nrf.yaml) with its PCM -> log-mel
front-end on the board's QEMU twin (-icount): does it leave 64 KB of RAM free, and how accurate is it?

    tinyasc train --config configs/idlab-resnet-se-nrf.yaml --out RUN        (from the folder WORK)
    PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/nrf_fit.py --run RUN --data-root WORK

Exports the run for nrf52840 with a stream (a result every 0.25 s, each the mean of the last 4:
the paper's averaging over crops), builds it and measures:
  - the self-test (front-end + network on the embedded PCM window, bit-exact) and its instructions;
  - the run's synthetic test clips as int16 PCM through the firmware's own front-end and network
    (eval-pcm mode): int8 accuracy on the device, against the run's float and TFLM int8 figures;
  - 20 s of audio pushed in 10-ms chunks through tinyasc_stream_push, against the offline twin;
  - RAM (emulate/ram.py): data + bss of the ELF (arena, front-end buffers, the rest) + the stack
    high-water mark, the deeper of the self-test's and the stream's; free RAM of the 256 KB.
Writes benchmarks/results/nrf_fit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.streaming import test_signal  # noqa: E402

BOARD = "nrf52840"


def device_accuracy(export_dir: Path, run, data_root: Path) -> tuple[float, int]:
    """int8 accuracy of the firmware on the run's test clips, fed as int16 PCM; (accuracy, clips)."""
    from tinyasc.data import load_csv_dataset
    from tinyasc.emulate.qemu import run_pcm_batch_in_qemu
    from tinyasc.train.run import synthetic_dir

    rate, seconds = run.audio.sample_rate, run.audio.input_samples / run.audio.sample_rate
    test = load_csv_dataset(synthetic_dir(data_root, rate, seconds) / "metadata.csv", sample_rate=rate,
                            duration_s=seconds, labels=list(run.labels)).subset("test")
    pcm = np.round(np.clip(np.asarray(test.x), -1, 1) * 32767).astype(np.int16)
    outputs = run_pcm_batch_in_qemu(export_dir, pcm).outputs
    return float(np.mean(outputs.argmax(axis=1) == np.asarray(test.y))), len(pcm)


def main() -> None:
    from tinyasc.artifacts.boards import get_board
    from tinyasc.artifacts.export_folder import elf_path
    from tinyasc.artifacts.run import read_run
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.emulate.ram import ram_budget
    from tinyasc.emulate.stream_run import stream_in_qemu, stream_offline
    from tinyasc.firmware.build import build_firmware
    from tinyasc.frontend.stream import StreamSettings

    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True, help="a run of configs/idlab-resnet-se-nrf.yaml")
    parser.add_argument("--data-root", required=True, help="the folder `tinyasc train` ran in (its data/)")
    parser.add_argument("--work", default="/tmp/tinyasc-nrf-fit")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "nrf_fit.json"))
    args = parser.parse_args()
    run = read_run(Path(args.run))
    export = export_model(run.tflite, board_name=BOARD, out_root=Path(args.work), audio=run.audio, labels=run.labels,
                          test_inputs=run.test_inputs, num_test_vectors=2,
                          stream=StreamSettings(stride_s=0.25, smoothing=4)).export_dir
    build_firmware(export)
    self_test = run_firmware(export)
    rate = run.audio.sample_rate
    pcm = test_signal(rate, 20)
    chunk = rate // 100
    streamed = stream_in_qemu(export, pcm, [chunk] * (len(pcm) // chunk))
    accuracy, clips = device_accuracy(export, run, Path(args.data_root))
    stack = max(self_test.stack_used, streamed.stack_used)
    figures = {
        "config": "configs/idlab-resnet-se-nrf.yaml",
        "board": BOARD,
        "input_shape": json.loads((export / "manifest.json").read_text())["export"]["input"]["shape"],
        "self_test_bit_exact": self_test.passed,
        "network_instructions": self_test.instructions_per_inference,
        "frontend_instructions_per_window": self_test.pcm_instructions,
        "stream_equals_offline": bool(np.array_equal(streamed.values, stream_offline(export, pcm).values)),
        "stream_results": len(streamed.values),
        "stream_push_instructions_per_second": round(streamed.push_instructions / (len(pcm) / rate)),
        "stack_used_self_test": self_test.stack_used,
        "stack_used_stream": streamed.stack_used,
        "ram": ram_budget(elf_path(export), get_board(BOARD).ram_size, stack),
        "accuracy": {"float_test": run.summary["float_test_metrics"]["accuracy"],
                     "int8_test_tflm": (run.summary.get("int8_test_metrics") or run.summary["ptq_test_metrics"])["accuracy"],
                     "int8_qemu_from_pcm": accuracy, "test_clips": clips},
    }
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
