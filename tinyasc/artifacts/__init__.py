"""The ground floor: the artifacts every stage reads and writes (DESIGN §2).

    run.py            a training run folder (run.json, the int8 .tflite, the test set) and its
                      reader/writer; the audio facts (sample rate, input kind, log-mel settings)
    audio.py          AudioInput: what one model input stands for in audio terms
    export_folder.py  the layout of an export folder (src/, firmware/, build/, project/, ...)
    manifest.py       manifest.json and the atomic writes every stage uses
    boards.py         the board database (boards.yaml → Board)
    twin.py           a board's QEMU twin: its command-line arguments and deterministic time

Stages talk to each other only through these: a stage reads the previous stage's artifact from
disk, so any stage can be re-run alone. This package imports no stage (and no TensorFlow, audio
or plotting library).
"""
