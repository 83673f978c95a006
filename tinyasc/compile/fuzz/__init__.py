"""Differential fuzzing of the compiler: random int8 graphs, tinyasc's host build against TFLM.

draw.py, draw_layers.py and draw_ops.py draw graphs over every op the compiler reads, spec.py
writes them as `.tflite` flatbuffers, batch.py builds many generated models into one sanitizer
host executable, oracle.py runs TFLM in a child process, run.py compares the two bit for bit and
shrink.py reduces a finding to a minimal model saved as a regression case.
"""
