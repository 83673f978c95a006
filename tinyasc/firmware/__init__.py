"""Firmware for a board: the board database, rendering the board files, cross-compiling, sizes.

    boards.py   boards.yaml → Board
    build.py    render_firmware(), build_firmware() with arm-none-eabi-gcc
    size.py     size_report() of an ELF with pyelftools
    project.py  render_project(), build_project(): the real-board project (real memory map, RTT
                console, CMake/Makefile, lib/tinyasc_model/) in <export>/project/
    renode.py   render_renode_script(): <export>/renode/<board>.resc for boards Renode knows

The names below are the layout of an export folder that this package writes and that
tinyasc.emulate reads: `firmware/` (board files rendered from templates) and `build/` (images).
"""

from pathlib import Path

FIRMWARE_DIR = "firmware"
BUILD_DIR = "build"
ELF_NAME = "firmware.elf"
# Longest semihosting command line main.c accepts (eval mode: two absolute paths and a count).
CMDLINE_CAPACITY = 1024


def elf_path(export_dir) -> Path:
    return Path(export_dir) / BUILD_DIR / ELF_NAME
