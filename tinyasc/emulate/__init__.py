"""Emulation: run a built firmware image on its board's QEMU twin (DESIGN §5).

    qemu.py             run_firmware() self-test with instruction counts, run_batch_in_qemu() eval
                        mode, run_pcm_batch_in_qemu() int16 PCM through the front-end and network
    profile.py          instructions per op (a profiling build)
    layer_check.py      every intermediate tensor against TFLM's (a verification build), not only the output
    frontend_runner.py  the log-mel front-end alone, on the host and in QEMU
    audio_files.py      `--audio`: audio files → int16 PCM windows, treated as training treats them
    audio_eval.py       `--audio`: the windows in QEMU and on the host, scores, instructions, manifest
    audio_text.py       `--audio`: the console text
"""
