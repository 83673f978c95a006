"""The streaming API (pcm_stream.c) of configs/kws-logmel.yaml on the nRF52840's QEMU twin (-icount).

    PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/streaming.py [--work DIR]

(~5 min on 2 cores: 1 epoch on 4 synthetic clips per class; the instruction counts do not depend
on the weights' values.) Exports with the default stream (a result every half window), pushes 20 s
of audio in 10-ms chunks and prints: whether the results equal the offline twin's, the stream's
static RAM (model.h's TINYASC_STREAM_RAM_BYTES and the ELF's tas_stream_* objects), instructions in
tinyasc_stream_push per second of audio (front-end + network), the same for 0.98 s during which no
window completes (the front-end alone: each frame once), and the offline eval-pcm path's front-end
and network instructions per 1-s window for comparison.
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


def test_signal(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """int16 tones and noise whose level jumps every 0.3 s (the instruction counts barely depend on it)."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    segment = int(0.3 * rate)
    level = 10 ** (np.repeat(rng.uniform(-50, 0, n // segment + 1), segment)[:n] / 20)
    signal = np.sin(2 * np.pi * 440 * np.arange(n) / rate) + 0.3 * rng.normal(size=n)
    return np.round(np.clip(signal * level, -1, 1) * 32767).astype(np.int16)


def main() -> None:
    from tinyasc.artifacts.export_folder import elf_path
    from tinyasc.artifacts.run import read_run
    from tinyasc.compile.export import export_model
    from tinyasc.config import load_config
    from tinyasc.emulate.qemu import run_pcm_batch_in_qemu
    from tinyasc.emulate.stream_run import stream_in_qemu, stream_offline
    from tinyasc.firmware.build import build_firmware
    from tinyasc.firmware.size import object_symbol_sizes
    from tinyasc.train.run import train_run

    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/tmp/tinyasc-streaming-bench")
    work = Path(parser.parse_args().work)
    if not (work / "run" / "run.json").exists():
        train_run("synthetic", run_dir=work / "run", config=load_config(ROOT / "configs" / "kws-logmel.yaml"),
                  work_dir=work, clips_per_class=4, progress=False, epochs=1)
    run = read_run(work / "run")
    export = export_model(run.tflite, board_name="nrf52840", out_root=work / "export", audio=run.audio,
                          labels=run.labels, test_inputs=run.test_inputs, num_test_vectors=1).export_dir
    build_firmware(export)
    rate = run.audio.sample_rate
    chunk = rate // 100
    pcm = test_signal(rate, 20)
    streamed = stream_in_qemu(export, pcm, [chunk] * (len(pcm) // chunk))
    print(f"results {len(streamed.values)}, equal to the offline twin: "
          f"{np.array_equal(streamed.values, stream_offline(export, pcm).values)}")
    stream = json.loads((export / "manifest.json").read_text())["stream"]
    state = {k: v for k, v in object_symbol_sizes(elf_path(export)).items() if k.startswith("tas_stream_")}
    print(f"stream {stream}\nstate objects {state}: {sum(state.values())} B; stack used {streamed.stack_used} B")
    print(f"push: {streamed.push_instructions / (len(pcm) / rate):,.0f} instructions per second of audio")
    before_first = pcm[:int(0.98 * rate)] if int(0.98 * rate) < stream["first_values"] else None
    if before_first is not None:
        frames_only = stream_in_qemu(export, before_first, [chunk] * (len(before_first) // chunk))
        print(f"push before the first window (front-end only): "
              f"{frames_only.push_instructions / (len(before_first) / rate):,.0f} instructions per second of audio")
    windows = np.stack([pcm[i * rate:(i + 1) * rate] for i in range(4)])
    offline = run_pcm_batch_in_qemu(export, windows)
    print(f"offline eval-pcm per 1-s window: front-end {offline.frontend_instructions_total / 4:,.0f}, "
          f"network {offline.network_instructions_total / 4:,.0f} instructions")


if __name__ == "__main__":
    main()
