"""`tinyasc flash`: the plan (image, tool, command) and every refusal, with real images built by
arm-none-eabi-gcc and the real pyocd, which finds no probe on this machine."""

import shutil

import pytest

from test_firmware import make_export
from tinyasc.cli import main
from tinyasc.firmware.build import build_firmware
from tinyasc.firmware.flash import FlashError, flash, plan_flash
from tinyasc.firmware.project import build_project


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """board name → export folder holding the hand-written tiny model, built for that board (and its
    real-board project, which is what flash programs, for the two boards the plans are made for)."""
    root = tmp_path_factory.mktemp("flash")
    folders = {}
    for board in ("nrf52840", "stm32f405", "arduino-nano-33-ble", "cortex-m4"):
        folders[board] = make_export(root, name=board, board=board)
        build_firmware(folders[board])
        if board in ("nrf52840", "stm32f405"):
            build_project(folders[board])
    return folders


def test_dry_run_prints_image_board_and_pyocd_target_and_flashes_nothing(built, capsys):
    assert main(["flash", str(built["nrf52840"]), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"would flash {built['nrf52840'] / 'project' / 'build' / 'tinyasc_nrf52840.elf'}\n")
    assert "nrf52840" in out and "pyocd Python API: target nrf52840" in out


def test_dry_run_shows_the_nrfjprog_and_openocd_commands(built):
    nrf = plan_flash(built["nrf52840"], tool="nrfjprog", probe="683012345")
    assert nrf.command == ["nrfjprog", "-f", "NRF52", "--program",
                           str(built["nrf52840"].resolve() / "project" / "build" / "tinyasc_nrf52840.hex"),
                           "--sectorerase", "--verify", "--reset", "--snr", "683012345"]
    stm = plan_flash(built["stm32f405"], tool="openocd")
    assert stm.command[:4] == ["openocd", "-f", "interface/cmsis-dap.cfg", "-f"]
    assert stm.command[4] == "target/stm32f4x.cfg"
    assert stm.command[-1].startswith("program ") and stm.command[-1].endswith(" verify reset exit")
    assert "command openocd -f interface/cmsis-dap.cfg" in stm.dry_run_text()


def test_no_probe_connected_is_a_clear_error(built, capsys):
    plan = plan_flash(built["nrf52840"])
    with pytest.raises(FlashError, match="no debug probe found"):
        flash(plan)
    assert main(["flash", str(built["nrf52840"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyasc flash: error: no debug probe found") and "USB debug port" in err


def test_missing_flash_program_is_a_clear_error(built):
    assert shutil.which("nrfjprog") is None  # not installable here: the error path is real
    with pytest.raises(FlashError, match="nrfjprog not found on PATH; install Nordic"):
        flash(plan_flash(built["nrf52840"], tool="nrfjprog"))


def test_image_built_for_another_board_is_refused(built, tmp_path):
    with pytest.raises(FlashError, match="built for nrf52840, not stm32f405"):
        plan_flash(built["nrf52840"], board_name="stm32f405")
    # An nrf52840 image (flash at 0x0) dropped into an export made for the STM32F405 (0x08000000).
    impostor = tmp_path / "impostor"
    shutil.copytree(built["stm32f405"], impostor)
    shutil.copy(built["nrf52840"] / "project" / "build" / "tinyasc_nrf52840.elf",
                impostor / "project" / "build" / "tinyasc_stm32f405.elf")
    with pytest.raises(FlashError, match=r"outside stm32f405's flash \(0x08000000-0x08100000\): "
                                         "it was built for another board"):
        plan_flash(impostor)


def test_emulation_image_is_never_flashed(built):
    with pytest.raises(FlashError) as error:
        plan_flash(built["arduino-nano-33-ble"])
    message = str(error.value)
    assert "has no real-board image yet: run `tinyasc build --project" in message
    assert "cmake -S" in message and "mps2-an386 twin's addresses" in message
    # even where the twin's memory map is the board's: its semihosting needs a debugger
    emulation_only = built["cortex-m4"].parent / "nrf-emulation-only"
    shutil.copytree(built["nrf52840"], emulation_only)
    shutil.rmtree(emulation_only / "project" / "build")
    with pytest.raises(FlashError, match="semihosting would stop the board without a debugger"):
        plan_flash(emulation_only)


def test_board_without_flasher_settings_or_the_asked_tool_is_refused(built):
    with pytest.raises(FlashError, match="cortex-m4 has no flasher settings in boards.yaml"):
        plan_flash(built["cortex-m4"])
    with pytest.raises(FlashError, match="no 'openocd_config' for nrf52840"):
        plan_flash(built["nrf52840"], tool="openocd")


def test_after_build_project_the_real_board_image_is_flashed(tmp_path, capsys):
    # The Nano 33 BLE's application starts after the Arduino bootloader, at 0x10000.
    export_dir = make_export(tmp_path, name="nano", board="arduino-nano-33-ble")
    assert main(["build", str(export_dir), "--project"]) == 0
    assert "real-board project, CMake" in capsys.readouterr().out
    plan = plan_flash(export_dir)
    assert plan.image == export_dir.resolve() / "project" / "build" / "tinyasc_nano.elf"
    assert plan.board.flash_origin == 0x10000
    # over the USB bootloader, no probe: the .bin, at the bootloader's application offset
    assert plan.tool == "bossac" and plan.command == [
        "bossac", "-d", "-U", "-i", "-e", "-w", str(plan.image.with_suffix(".bin")), "-R"]
    assert plan.image.with_suffix(".bin").is_file()
    assert plan_flash(export_dir, tool="pyocd", probe="123").tool == "pyocd"
    if shutil.which("bossac") is None:  # the error path is real where bossac is not installed
        with pytest.raises(FlashError, match="bossac not found on PATH; install Arduino's bossac"):
            flash(plan)
