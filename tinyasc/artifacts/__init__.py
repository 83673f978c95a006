"""The ground floor: the artifacts every stage reads and writes, and what they mean.

Stages talk through these (a run folder, a .tflite, an export folder, a board), never through
each other's internals; this package imports no stage.
"""
