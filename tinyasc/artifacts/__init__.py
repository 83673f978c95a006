"""The ground floor: the artifacts every stage reads and writes, and what they mean (DESIGN §2).

    run.py            a training run folder (run.json, the int8 .tflite, the test set) and its
                      reader/writer
    audio.py          AudioInput: what one model input stands for in audio terms (sample rate,
                      raw or log-mel, samples per inference)
    export_folder.py  the layout of an export folder (src/, firmware/, build/, project/, ...)
    manifest.py       manifest.json and the atomic writes every stage uses
    boards.py         the board database (boards.yaml → Board)
    twin.py           a board's QEMU twin: its command-line arguments and deterministic time
    tflm.py           what an int8 .tflite computes: TFLite Micro's Python interpreter

Stages talk through these (a run folder, a .tflite, an export folder, a board), never through
each other's internals: a stage reads the previous stage's artifact from disk, so any stage can be
re-run alone. This package imports no stage.
"""
