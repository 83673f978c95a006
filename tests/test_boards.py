"""boards.yaml: the shipped database loads, and every kind of mistake gets a clear message."""

import subprocess

import pytest
import yaml
from rich.table import Table

from tinyasc.errors import BoardConfigError
from tinyasc.artifacts.boards import (DEFAULT_BOARDS_PATH, format_boards_table, get_board,
                                     load_boards)


def write_boards(tmp_path, mutate=None, text=None):
    """A copy of the shipped boards.yaml, changed by `mutate(document)` or replaced by `text`."""
    if text is None:
        document = yaml.safe_load(DEFAULT_BOARDS_PATH.read_text())
        if mutate is not None:
            mutate(document)
        text = yaml.safe_dump(document, sort_keys=False)
    path = tmp_path / "boards.yaml"
    path.write_text(text)
    return path


def nrf(document):
    return document["boards"]["nrf52840"]


# ---- the shipped database ------------------------------------------------------------------------

def test_shipped_boards_yaml_loads_with_the_generic_cores_and_the_real_parts():
    boards = load_boards()
    assert set(boards) == {"nrf52840", "cortex-m3", "cortex-m4", "cortex-m7",
                           "arduino-nano-33-ble", "nrf5340-app", "stm32f405", "stm32l4r5",
                           "stm32h7", "rp2040", "microbit-v1", "corstone-300"}


@pytest.mark.parametrize("name, cpu, flash, ram, machine", [
    ("arduino-nano-33-ble", "cortex-m4", (0x10000, 960), (0x20000000, 256), "mps2-an386"),
    ("nrf5340-app", "cortex-m33", (0x0, 1024), (0x20000000, 512), "mps2-an505"),
    ("stm32f405", "cortex-m4", (0x08000000, 1024), (0x20000000, 128), "netduinoplus2"),
    ("stm32l4r5", "cortex-m4", (0x08000000, 2048), (0x20000000, 640), "mps2-an386"),
    ("stm32h7", "cortex-m7", (0x08000000, 2048), (0x24000000, 512), "mps2-an500"),
    ("rp2040", "cortex-m0plus", (0x10000000, 2048), (0x20000000, 264), "mps2-an385"),
    ("microbit-v1", "cortex-m0", (0x0, 256), (0x20000000, 16), "microbit"),
    ("corstone-300", "cortex-m55", (0x10000000, 512), (0x30000000, 512), "mps3-an547"),
])
def test_real_parts_match_their_datasheets_and_twins(name, cpu, flash, ram, machine):
    board = get_board(name)
    assert board.cpu == cpu and board.emulator_machine == machine
    assert (board.flash_origin, board.flash_size // 1024) == flash
    assert (board.ram_origin, board.ram_size // 1024) == ram
    assert board.is_armv6m == (cpu in ("cortex-m0", "cortex-m0plus"))
    assert board.has_fpu == (cpu not in ("cortex-m0", "cortex-m0plus"))


def test_nrf52840_matches_its_datasheet_and_qemu_twin():
    board = get_board("nrf52840")
    assert (board.cpu, board.fpu, board.float_abi) == ("cortex-m4", "fpv4-sp-d16", "hard")
    assert board.clock_hz == 64_000_000
    assert (board.flash_origin, board.flash_size) == (0x0, 1024 * 1024)
    assert (board.ram_origin, board.ram_size) == (0x20000000, 256 * 1024)
    assert board.emulator_machine == "mps2-an386"
    assert (board.emulator_flash_origin, board.emulator_ram_origin) == (0x0, 0x20000000)
    assert board.systick_hz == 25_000_000
    assert board.renode_platform == "platforms/cpus/nrf52840.repl"
    assert board.flasher == {"pyocd_target": "nrf52840", "nrfjprog_family": "NRF52"}


def test_generic_boards_use_the_documented_twins():
    boards = load_boards()
    assert boards["cortex-m3"].emulator_machine == "mps2-an385"
    assert boards["cortex-m4"].emulator_machine == "mps2-an386"
    assert boards["cortex-m7"].emulator_machine == "mps2-an500"
    assert boards["cortex-m7"].fpu == "fpv5-d16"


def test_every_twin_is_a_machine_that_qemu_knows():
    machines = subprocess.run(["qemu-system-arm", "-M", "help"], capture_output=True,
                              text=True, check=True).stdout.split()
    for board in load_boards().values():
        assert board.emulator_machine in machines, board.name


@pytest.mark.parametrize("name, extensions", [
    ("nrf52840", {"dsp", "fpu"}), ("cortex-m3", set()), ("cortex-m4", {"dsp", "fpu"}),
    ("cortex-m7", {"dsp", "fpu"}), ("nrf5340-app", {"dsp", "fpu"}), ("stm32h7", {"dsp", "fpu"}),
    ("rp2040", set()), ("microbit-v1", set()), ("corstone-300", {"dsp", "fpu", "mve"}),
])
def test_each_board_lists_the_isa_extensions_of_its_core(name, extensions):
    assert get_board(name).extensions == extensions


def test_gcc_flags_with_and_without_fpu():
    assert get_board("nrf52840").gcc_flags() == [
        "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    assert get_board("cortex-m3").gcc_flags() == ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"]


def test_boards_table_has_one_row_per_board():
    boards = load_boards()
    table = format_boards_table(boards)
    assert isinstance(table, Table)
    assert table.row_count == len(boards)


def test_sizes_accept_k_and_m_suffixes_and_plain_bytes(tmp_path):
    def sizes(document):
        nrf(document)["flash"]["size"] = 524288
        nrf(document)["ram"]["size"] = "64 KB"
    board = load_boards(write_boards(tmp_path, sizes))["nrf52840"]
    assert (board.flash_size, board.ram_size) == (512 * 1024, 64 * 1024)


def test_env_var_points_at_another_database(tmp_path, monkeypatch):
    path = write_boards(tmp_path, lambda d: nrf(d).update(clock_hz=32_000_000))
    monkeypatch.setenv("TINYASC_BOARDS", str(path))
    assert get_board("nrf52840").clock_hz == 32_000_000


# ---- mistakes ------------------------------------------------------------------------------------

def test_unknown_board_name_lists_the_known_boards():
    with pytest.raises(BoardConfigError) as error:
        get_board("nrf52841")
    message = str(error.value)
    assert "unknown board 'nrf52841'" in message
    assert "Did you mean 'nrf52840'" in message
    assert "cortex-m3, cortex-m4, cortex-m7, microbit-v1, nrf52840" in message


def test_unknown_key_suggests_the_close_match(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d).update(clock_hzz=nrf(d).pop("clock_hz")))
    with pytest.raises(BoardConfigError) as error:
        load_boards(path)
    message = str(error.value)
    assert str(path) in message and "board 'nrf52840'" in message
    assert "unknown key 'clock_hzz'" in message and "Did you mean 'clock_hz'" in message


def test_unknown_nested_key_names_the_section(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d)["emulator"].update(machin="mps2-an386"))
    with pytest.raises(BoardConfigError, match=r"board 'nrf52840', emulator has an unknown key "
                                               r"'machin'\. Did you mean 'machine'"):
        load_boards(path)


def test_missing_field_is_named(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d).pop("cpu"))
    with pytest.raises(BoardConfigError, match=r"board 'nrf52840' is missing the key 'cpu'"):
        load_boards(path)


def test_missing_nested_field_is_named(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d)["ram"].pop("size"))
    with pytest.raises(BoardConfigError, match=r"board 'nrf52840', ram is missing the key 'size'"):
        load_boards(path)


@pytest.mark.parametrize("key, value, expected", [
    ("clock_hz", "fast", "the core clock in Hz"),
    ("clock_hz", True, "the core clock in Hz"),
    ("float_abi", "hardest", "one of soft, softfp, hard"),
    ("flash", 1024, "a mapping"),
    ("renode_platform", 3, "a Renode .repl path (letters, digits, _ . / -), or null"),
])
def test_wrong_type_says_what_was_expected_and_received(tmp_path, key, value, expected):
    path = write_boards(tmp_path, lambda d: nrf(d).update({key: value}))
    with pytest.raises(BoardConfigError) as error:
        load_boards(path)
    message = str(error.value)
    assert f"'{key}' must be {expected}" in message
    assert f"Received: {key}={value!r}" in message and "nrf52840" in message


@pytest.mark.parametrize("extensions", [["dps", "fpu"], "dsp", ["dsp", "dsp", "fpu"]])
def test_a_misspelt_or_repeated_extension_is_named_with_the_known_ones(tmp_path, extensions):
    path = write_boards(tmp_path, lambda d: nrf(d).update(extensions=extensions))
    with pytest.raises(BoardConfigError) as error:
        load_boards(path)
    message = str(error.value)
    assert "'extensions' must be a list of ISA extensions" in message and "dsp, fpu, mve" in message
    assert f"Received: extensions={extensions!r}" in message and "nrf52840" in message


def test_missing_extensions_key_is_named(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d).pop("extensions"))
    with pytest.raises(BoardConfigError, match=r"board 'nrf52840' is missing the key 'extensions'"):
        load_boards(path)


def test_the_fpu_extension_must_agree_with_the_fpu_key(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d).update(extensions=["dsp"]))
    with pytest.raises(BoardConfigError, match=r"fpu is 'fpv4-sp-d16' but extensions \['dsp'\] lack 'fpu'"):
        load_boards(path)


def test_dsp_on_a_core_without_it_is_rejected(tmp_path):
    path = write_boards(tmp_path, lambda d: d["boards"]["cortex-m3"].update(extensions=["dsp"]))
    with pytest.raises(BoardConfigError, match=r"a cortex-m3 has no DSP or MVE instructions"):
        load_boards(path)


def test_bad_size_string_is_rejected(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d)["ram"].update(size="lots"))
    with pytest.raises(BoardConfigError, match=r"'size' must be a size in bytes.*'lots'"):
        load_boards(path)


def test_yaml_syntax_error_gives_the_line(tmp_path):
    text = "boards:\n  nrf52840:\n    cpu: cortex-m4\n    fpu: [unclosed\n"
    path = write_boards(tmp_path, text=text)
    with pytest.raises(BoardConfigError, match=r"YAML syntax error at line \d+") as error:
        load_boards(path)
    assert str(path) in str(error.value)


def test_hard_float_without_fpu_is_rejected(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d).update(fpu="none"))
    with pytest.raises(BoardConfigError, match=r"float_abi 'hard' needs an FPU"):
        load_boards(path)


def test_board_larger_than_its_twin_is_rejected(tmp_path):
    path = write_boards(tmp_path, lambda d: nrf(d)["ram"].update(size="8M"))
    with pytest.raises(BoardConfigError, match=r"exceed its emulator twin mps2-an386"):
        load_boards(path)


def test_missing_top_level_boards_key(tmp_path):
    path = write_boards(tmp_path, text="nrf52840:\n  cpu: cortex-m4\n")
    with pytest.raises(BoardConfigError, match=r"top-level key 'boards'"):
        load_boards(path)


def test_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(BoardConfigError, match=r"cannot read the board database .*nowhere\.yaml"):
        load_boards(tmp_path / "nowhere.yaml")
