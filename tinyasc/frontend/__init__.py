"""The audio front-end: what turns a clip into the model's input.

    logmel.py               the log-mel settings, librosa's analysis (the float reference) and the
                            saved normalisation
    fixed_point.py          numpy twin of the device's fixed-point log-mel front-end (bit-exact)
    fixed_point_tables.py   its tables and constants, computed from a LogMelSettings
    render.py               the C front-end for a setting (firmware_templates/frontend/)
    float_reference.py      float64 log-mel, the twin's yardstick
    probe_signals.py        test signals, the int16 noise floor, the twin's error above it
    level.py                raw-waveform level normalisation: float form and its integer twin
    stream.py               the streaming API's settings and its offline twin (pcm_stream.c)

Host and QEMU builds of the front-end's C are tinyasc/emulate/frontend_runner.py.
"""
