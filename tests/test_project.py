"""The real-board project (export/<name>/project/) and the Renode script, for real: CMake with the
generated arm-none-eabi toolchain file builds the nrf52840 project, and because the nrf52840's
twin (mps2-an386) has the same memory map, the project's own image also boots in QEMU, where its
RTT console is read back from RAM through QEMU's monitor."""

import subprocess
import time

import pytest
from elftools.elf.elffile import ELFFile

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.export import export_model
from tinyasc.firmware.build import render_firmware
from tinyasc.firmware.project import LIBRARY_DIR, build_project
from tinyasc.firmware.size import object_symbol_sizes

RTT_ID = b"SEGGER RTT"


def export_with_board_files(tflite, board_name: str, out_root, name=None):
    """`tinyasc export`, then the board files `tinyasc build` renders (project/, renode/, firmware/)."""
    export = export_model(tflite, board_name=board_name, out_root=out_root, name=name)
    render_firmware(export.export_dir, get_board(board_name))
    return export


def symbol_address(elf_path, name: str) -> int:
    with open(elf_path, "rb") as f:
        symbols = ELFFile(f).get_section_by_name(".symtab")
        return symbols.get_symbol_by_name(name)[0]["st_value"]


def load_segments(elf_path) -> list[tuple[int, int]]:
    """(physical address, bytes in the file) of every loadable segment: what a flasher writes."""
    with open(elf_path, "rb") as f:
        return [(s["p_paddr"], s["p_filesz"]) for s in ELFFile(f).iter_segments()
                if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0]


def rtt_text_after_running(elf_path, machine: str, tmp_path, settle_s: float = 1.0) -> str:
    """Boot the image in QEMU, let it run, then dump the RTT up buffer with the monitor's
    `memsave` (the CPU's view: on the micro:bit and AN547 the RAM is not in the system map that
    `pmemsave` reads)."""
    dump = tmp_path / "rtt.bin"
    address = symbol_address(elf_path, "rtt_up_buffer")
    size = object_symbol_sizes(elf_path)["rtt_up_buffer"]
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", machine, "-display", "none", "-serial", "none",
         "-monitor", "stdio", "-icount", "shift=0", "-kernel", str(elf_path)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(settle_s)
        qemu.communicate(f'memsave {address:#x} {size} "{dump}"\nquit\n', timeout=30)
    finally:
        if qemu.poll() is None:
            qemu.kill()
    return dump.read_bytes().rstrip(b"\0").decode()


@pytest.fixture(scope="module")
def nrf52840_project(tiny_cnn_tflite, tmp_path_factory):  # noqa: F811
    export = export_with_board_files(tiny_cnn_tflite, "nrf52840", tmp_path_factory.mktemp("project"), "tiny-cnn")
    return export.export_dir, build_project(export.export_dir)


def test_project_folder_has_the_library_layout_and_both_build_systems(nrf52840_project):
    export_dir, _ = nrf52840_project
    project = export_dir / "project"
    for path in ("CMakeLists.txt", "cmake/arm-none-eabi.cmake", "Makefile", "linker.ld",
                 "README.md", "src/main.c", "src/startup.c", "src/rtt_console.c",
                 "src/test_vectors.c", f"{LIBRARY_DIR}/model.c", f"{LIBRARY_DIR}/model.h"):
        assert (project / path).is_file(), path
    # The library is the exported model, byte for byte; the test vectors stay with the app.
    assert (project / LIBRARY_DIR / "model.c").read_bytes() == (export_dir / "src/model.c").read_bytes()
    assert not (project / LIBRARY_DIR / "test_vectors.c").exists()
    readme = (project / "README.md").read_text()
    for topic in ("Arduino sketch", "Zephyr", "RTT", 'extern "C"', "cmake -S . -B build"):
        assert topic in readme, topic


def test_cmake_builds_the_nrf52840_project_within_the_parts_limits(nrf52840_project):
    export_dir, build = nrf52840_project
    board = get_board("nrf52840")
    assert build.elf_path == export_dir / "project/build/tinyasc_tiny_cnn.elf"
    assert build.elf_path.with_suffix(".hex").is_file() and build.elf_path.with_suffix(".bin").is_file()
    assert 0 < build.sizes["flash"] <= board.flash_size and 0 < build.sizes["ram"] <= board.ram_size
    assert build.sizes["arena_bytes"] > 0 and build.sizes["weights_bytes"] > 0
    for address, size in load_segments(build.elf_path):
        assert board.flash_origin <= address and address + size <= board.flash_origin + board.flash_size


def test_project_image_runs_bit_exact_and_prints_on_its_rtt_console(nrf52840_project, tmp_path):
    _, build = nrf52840_project
    board = get_board("nrf52840")
    assert board.linked_for_board_addresses  # so the twin can boot the real-board image
    text = rtt_text_after_running(build.elf_path, board.emulator_machine, tmp_path)
    if "TINYASC_RESULT" not in text:  # a loaded machine: give QEMU more time, once
        text = rtt_text_after_running(build.elf_path, board.emulator_machine, tmp_path, 5.0)
    assert text.startswith("tinyasc self-test on nrf52840\n"), text
    assert "TINYASC_RESULT vectors=4 mismatches=0 cycles=" in text, text
    # The control block carries the id string that RTT hosts scan RAM for.
    control_block = symbol_address(build.elf_path, "_SEGGER_RTT")
    assert board.ram_origin <= control_block < board.ram_origin + board.ram_size


@pytest.mark.parametrize("board_name", ["stm32f405", "microbit-v1", "corstone-300"])
def test_makefile_builds_the_project_and_it_runs_on_twins_with_the_parts_map(
        board_name, tiny_cnn_tflite, tmp_path):  # noqa: F811
    board = get_board(board_name)
    assert board.linked_for_board_addresses
    export = export_with_board_files(tiny_cnn_tflite, board_name, tmp_path, "tiny")
    project = export.export_dir / "project"
    subprocess.run(["make", "-s", "-C", str(project)], check=True, capture_output=True)
    elf = project / "build" / "tinyasc_tiny.elf"
    for address, size in load_segments(elf):
        assert board.flash_origin <= address and address + size <= board.flash_origin + board.flash_size
    text = rtt_text_after_running(elf, board.emulator_machine, tmp_path)
    if "TINYASC_RESULT" not in text:
        text = rtt_text_after_running(elf, board.emulator_machine, tmp_path, 5.0)
    assert f"tinyasc self-test on {board_name}\n" in text
    assert "TINYASC_RESULT vectors=4 mismatches=0" in text, text


def test_project_linker_scripts_use_the_real_parts_memory_map(tiny_cnn_tflite, tmp_path):  # noqa: F811
    for name, flash, ram in (("arduino-nano-33-ble", "0x00010000", "0x20000000"),
                             ("stm32h7", "0x08000000", "0x24000000"),
                             ("rp2040", "0x10000000", "0x20000000")):
        export = export_with_board_files(tiny_cnn_tflite, name, tmp_path, name)
        linker = (export.export_dir / "project" / "linker.ld").read_text()
        board = get_board(name)
        assert f"ORIGIN = {flash}, LENGTH = {board.flash_size}" in linker
        assert f"ORIGIN = {ram}, LENGTH = {board.ram_size}" in linker
        # ...while the emulation image stays linked at the twin's addresses.
        emulation = (export.export_dir / "firmware" / "linker.ld").read_text()
        assert f"ORIGIN = 0x{board.emulator_flash_origin:08X}" in emulation
    assert "boot2" in (tmp_path / "rp2040" / "project" / "README.md").read_text()
    assert "bootloader" in (tmp_path / "arduino-nano-33-ble" / "project" / "linker.ld").read_text()


def test_renode_script_loads_the_project_on_the_boards_platform(nrf52840_project):
    export_dir, _ = nrf52840_project
    script = (export_dir / "renode" / "nrf52840.resc").read_text()
    lines = [line.strip() for line in script.splitlines()]
    assert "mach create $name" in lines
    assert "machine LoadPlatformDescription @platforms/cpus/nrf52840.repl" in lines
    assert "$elf?=$ORIGIN/../project/build/tinyasc_tiny_cnn.elf" in lines
    assert "sysbus LoadELF $elf" in lines
    assert "showAnalyzer sysbus.uart0" in lines
    assert 'sysbus GetSymbolAddress "_SEGGER_RTT"' in lines
    assert lines.index("machine LoadPlatformDescription @platforms/cpus/nrf52840.repl") \
        < lines.index("runMacro $reset") < lines.index("start")


def test_no_renode_script_for_boards_without_a_renode_platform(tiny_cnn_tflite, tmp_path):  # noqa: F811
    assert get_board("corstone-300").renode_platform is None
    export = export_with_board_files(tiny_cnn_tflite, "corstone-300", tmp_path)
    assert (export.export_dir / "project").is_dir() and not (export.export_dir / "renode").exists()


def test_export_writes_the_models_c_and_leaves_the_board_files_to_build(tiny_cnn_tflite, tmp_path):  # noqa: F811
    export = export_model(tiny_cnn_tflite, board_name="nrf52840", out_root=tmp_path, name="tiny")
    assert (export.export_dir / "src" / "model.c").is_file()
    for board_folder in ("firmware", "project", "renode"):
        assert not (export.export_dir / board_folder).exists(), board_folder
