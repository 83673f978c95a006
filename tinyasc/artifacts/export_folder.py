"""The layout of an export folder, `export/<name>/`, written by three stages in turn:

    tinyasc export   manifest.json, model.tflite, model_tflite.c, ir.txt, src/ (the model's C and
                     the self-test vectors), test_inputs.npy, test_outputs.npy, targets/ (the
                     model as a C library with its `--c-prefix`: cmake/, zephyr/, arduino/)
    tinyasc build    firmware/ (the board files), build/ (the emulation image), project/ (the
                     real-board project) and renode/ (a Renode script, for boards Renode knows)
    tinyasc emulate  reads build/; every stage adds its own section to manifest.json
"""

from pathlib import Path

SRC_DIR = "src"
MODEL_TFLITE = "model.tflite"
MODEL_TFLITE_ARRAY = "model_tflite.c"
IR_TEXT = "ir.txt"
TEST_INPUTS = "test_inputs.npy"
TEST_OUTPUTS = "test_outputs.npy"
TARGETS_DIR = "targets"

FIRMWARE_DIR = "firmware"
BUILD_DIR = "build"
ELF_NAME = "firmware.elf"
PROJECT_DIR = "project"
RENODE_DIR = "renode"


def elf_path(export_dir) -> Path:
    """The emulation image `tinyasc build` links at the QEMU twin's addresses."""
    return Path(export_dir) / BUILD_DIR / ELF_NAME
