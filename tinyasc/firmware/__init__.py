"""Firmware for a board: rendering the board files, cross-compiling, sizes (the board database
is tinyasc/artifacts/boards.py).

    build.py    render_firmware(), build_firmware() with arm-none-eabi-gcc
    size.py     size_report() of an ELF with pyelftools
    project.py  render_project(), build_project(): the real-board project (real memory map, RTT
                console, CMake/Makefile, lib/tinyasc_model/) in <export>/project/
    renode.py   render_renode_script(): <export>/renode/<board>.resc for boards Renode knows

The export folder's layout (`firmware/`, `build/`, ...) is tinyasc/artifacts/export_folder.py;
the QEMU twin's arguments are tinyasc/artifacts/twin.py, so this package never imports
tinyasc.emulate.
"""
