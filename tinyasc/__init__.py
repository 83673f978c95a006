"""tinyasc: acoustic scene and sound event classifiers from audio files to Cortex-M firmware.

Each pipeline stage is a sub-package that reads and writes artifacts on disk:
data → features → models → train → convert → compile → firmware → emulate → report.
Importing this package stays cheap: TensorFlow is imported only by the stages that need it.
"""

__version__ = "0.1.0"
