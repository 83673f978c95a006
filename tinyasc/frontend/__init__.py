"""The audio front-end: what turns a clip into the model's input.

    logmel.py               the log-mel settings, librosa's analysis (the float reference) and the
                            saved normalisation
    fixed_point.py          numpy twin of the device's fixed-point log-mel front-end (bit-exact)
    fixed_point_tables.py   its tables and constants, computed from a LogMelSettings
    render.py               the C front-end for a setting (firmware_templates/frontend/)
    c_runner.py             host (ASan/UBSan) and QEMU builds of that C
    float_reference.py      float64 log-mel, the twin's yardstick
    probe_signals.py        test signals, the int16 noise floor, the twin's error above it
"""
