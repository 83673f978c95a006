"""The exported model as a C library (tinyasc/compile/c_library.py): `--c-prefix` names, the C API
(extern "C", status codes, caller-provided arena), and the CMake, Zephyr and Arduino layouts under
targets/, each compiled with the cross compiler as its build system would. Two models with
different prefixes link into one C++ firmware that runs in the board's QEMU twin."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from tinyasc.artifacts.boards import get_board
from tinyasc.artifacts.twin import qemu_base_args
from tinyasc.compile.c_library import CPrefixError, check_prefix, prefixed_sources
from tinyasc.compile.export import export_model
from tinyasc.firmware.build import LINK_FLAGS, LINK_LIBRARIES, build_firmware, compile_flags

BOARD = "cortex-m4"


@pytest.fixture(scope="module")
def two_exports(tiny_cnn_tflite, tmp_path_factory):
    root = tmp_path_factory.mktemp("c_library")
    return {prefix: export_model(tiny_cnn_tflite, board_name=BOARD, out_root=root, name=prefix, c_prefix=prefix,
                                 labels=[f"{prefix}{i}" for i in range(4)]).export_dir
            for prefix in ("kws", "scene")}


def test_prefix_renames_names_and_files_but_not_strings():
    sources = {"model.h": '#define TINYASC_X 1\nint tinyasc_invoke(void);\n',
               "model.c": '#include "model.h"\nconst char *l = "tinyasc_label";\nstatic int tas_k(void);\n',
               "test_vectors.c": "int x;\n"}
    out = prefixed_sources(sources, "kws")
    assert sorted(out) == ["kws_model.c", "kws_model.h"]
    assert out["kws_model.h"] == "#define KWS_X 1\nint kws_invoke(void);\n"
    assert out["kws_model.c"] == '#include "kws_model.h"\nconst char *l = "tinyasc_label";\nstatic int kws_tas_k(void);\n'


@pytest.mark.parametrize("bad", ["", "9kws", "Kws", "kws_", "k__w", "k-w", "a" * 33])
def test_unusable_prefixes_are_refused(bad):
    with pytest.raises(CPrefixError, match="--c-prefix"):
        check_prefix(bad)


def _vectors_cpp(export_dir: Path, prefix: str) -> str:
    inputs, outputs = (np.load(export_dir / f"test_{kind}.npy") for kind in ("inputs", "outputs"))
    body = lambda a: ", ".join(str(int(v)) for v in a.reshape(-1))  # noqa: E731
    return (f"static const {prefix}_input_t {prefix}_in[{inputs[0].size}] = {{{body(inputs[0])}}};\n"
            f"static const {prefix}_output_t {prefix}_expected[{outputs[0].size}] = {{{body(outputs[0])}}};\n")


MAIN_CPP = """
#include <stdint.h>
#include <string.h>
#include "kws_model.h"
#include "scene_model.h"
extern "C" {  // the twin's semihosting helpers: board C, not the library's API
#include "semihosting.h"
}

%(vectors)s
alignas(SCENE_ARENA_ALIGNMENT) static int8_t scene_arena[SCENE_ARENA_SIZE];

static int check(const char *what, bool ok) {
    tas_sh_print(what); tas_sh_print(ok ? " ok\\n" : " FAILED\\n");
    return ok ? 0 : 1;
}

int main() {
    kws_output_t kws_out[KWS_OUTPUT_SIZE];
    scene_output_t scene_out[SCENE_OUTPUT_SIZE];
    int failures = 0;
    failures += check("null input", kws_invoke(nullptr, kws_out) == KWS_ERROR_NULL_ARGUMENT);
    failures += check("null output", scene_invoke(scene_in, nullptr) == SCENE_ERROR_NULL_ARGUMENT);
    failures += check("arena not set", scene_invoke(scene_in, scene_out) == SCENE_ERROR_NO_ARENA);
    failures += check("misaligned arena", scene_set_arena(scene_arena + 1) == SCENE_ERROR_NULL_ARGUMENT);
    failures += check("set arena", scene_set_arena(scene_arena) == SCENE_OK);
    failures += check("kws invoke", kws_invoke(kws_in, kws_out) == KWS_OK);
    failures += check("scene invoke", scene_invoke(scene_in, scene_out) == SCENE_OK);
    failures += check("kws bit-exact", memcmp(kws_out, kws_expected, sizeof kws_out) == 0);
    failures += check("scene bit-exact", memcmp(scene_out, scene_expected, sizeof scene_out) == 0);
    failures += check("labels", strcmp(kws_labels[1], "kws1") == 0 && strcmp(scene_labels[1], "scene1") == 0);
    return failures;
}
"""


def _run(command, cwd=None):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, f"{' '.join(map(str, command))}\n{result.stdout}{result.stderr}"
    return result


def test_two_prefixed_models_link_into_one_cpp_firmware_that_runs_in_qemu(two_exports, tmp_path):
    board = get_board(BOARD)
    build_firmware(two_exports["kws"], board)  # startup, semihosting and linker script of the twin
    firmware = two_exports["kws"] / "firmware"
    (tmp_path / "main.cpp").write_text(MAIN_CPP % {"vectors": "".join(_vectors_cpp(d, p) for p, d in two_exports.items())})
    flags = [f for f in compile_flags(board) if f != "-std=gnu11"]
    includes = [f"-I{d / 'targets' / 'cmake' / 'src'}" for d in two_exports.values()] + [f"-I{firmware}"]
    objects = []
    for prefix, export_dir in two_exports.items():
        defines = ["-DSCENE_CALLER_ARENA"] if prefix == "scene" else []
        source = export_dir / "targets" / "cmake" / "src" / f"{prefix}_model.c"
        objects.append(tmp_path / f"{prefix}_model.o")
        _run(["arm-none-eabi-gcc", *flags, "-std=gnu11", *defines, *includes, "-c", source, "-o", objects[-1]])
    for source in ("startup.c", "semihosting.c"):
        objects.append(tmp_path / source.replace(".c", ".o"))
        _run(["arm-none-eabi-gcc", *flags, "-std=gnu11", *includes, "-c", firmware / source, "-o", objects[-1]])
    objects.append(tmp_path / "main.o")
    _run(["arm-none-eabi-g++", *flags, "-std=c++17", "-fno-exceptions", "-fno-rtti", "-DSCENE_CALLER_ARENA",
          *includes, "-c", tmp_path / "main.cpp", "-o", objects[-1]])
    elf = tmp_path / "two_models.elf"
    _run(["arm-none-eabi-g++", *board.gcc_flags(), *objects, *LINK_FLAGS, f"-T{firmware / 'linker.ld'}",
          *LINK_LIBRARIES, "-o", elf])
    symbols = _run(["arm-none-eabi-nm", elf]).stdout
    assert " T kws_invoke" in symbols and " T scene_invoke" in symbols and "tinyasc_invoke" not in symbols

    result = subprocess.run(["qemu-system-arm", *qemu_base_args(board), "-kernel", str(elf)],
                            capture_output=True, text=True, timeout=120)
    log = result.stdout + result.stderr
    assert "FAILED" not in log and log.count(" ok\n") == 10, log
    assert result.returncode == 0, log


def test_cmake_layout_builds_a_static_library_with_the_cross_compiler(two_exports, tmp_path):
    board = get_board(BOARD)
    layout = two_exports["kws"] / "targets" / "cmake"
    flags = " ".join([*board.gcc_flags(), "-Wall", "-Wextra", "-Werror"])
    _run(["cmake", "-S", layout, "-B", tmp_path, "-DCMAKE_SYSTEM_NAME=Generic", "-DCMAKE_C_COMPILER=arm-none-eabi-gcc",
          "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY", f"-DCMAKE_C_FLAGS={flags}", "-DKWS_CALLER_ARENA=ON"])
    _run(["cmake", "--build", tmp_path])
    symbols = _run(["arm-none-eabi-nm", tmp_path / "libkws_model.a"]).stdout
    assert " T kws_invoke" in symbols and " T kws_set_arena" in symbols and "kws_tas_arena" in symbols


def test_zephyr_module_names_its_kconfig_and_sources_which_compile(two_exports, tmp_path):
    module = two_exports["scene"] / "targets" / "zephyr"
    settings = yaml.safe_load((module / "zephyr" / "module.yml").read_text())
    assert settings == {"name": "scene_model", "build": {"cmake": "zephyr", "kconfig": "zephyr/Kconfig"}}
    kconfig = (module / "zephyr" / "Kconfig").read_text()
    assert "config SCENE_MODEL\n" in kconfig and "config SCENE_MODEL_CALLER_ARENA\n" in kconfig
    cmake = (module / "zephyr" / "CMakeLists.txt").read_text()
    listed = [line.strip().replace("${CMAKE_CURRENT_LIST_DIR}", str(module / "zephyr"))
              for line in cmake.splitlines() if line.strip().endswith(".c")]
    assert listed and all(Path(source).is_file() for source in listed), cmake
    assert "if(CONFIG_SCENE_MODEL)" in cmake
    board = get_board(BOARD)
    for define in ([], ["-DSCENE_CALLER_ARENA"]):  # Zephyr's gnu C with both Kconfig choices
        for source in listed:
            _run(["arm-none-eabi-gcc", *compile_flags(board), *define, f"-I{module / 'src'}", "-c", source,
                  "-o", tmp_path / "out.o"])


ARDUINO_H = """#pragma once
// Only what the generated sketch uses, declared as the Arduino core declares it (compile check only).
#include <stddef.h>
#include <stdint.h>
class HardwareSerial {
 public:
  void begin(unsigned long baud);
  size_t print(const char *text);
  size_t println(const char *text);
  size_t println(int value);
};
extern HardwareSerial Serial;
void delay(unsigned long ms);
"""


def test_arduino_library_has_the_1_5_layout_and_its_example_compiles(two_exports, tmp_path):
    library = two_exports["kws"] / "targets" / "arduino" / "kws_model"
    properties = dict(line.split("=", 1) for line in (library / "library.properties").read_text().splitlines())
    assert {"name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
            "architectures"} <= set(properties) and properties["name"] == "kws_model"
    assert properties["includes"] == "kws_model.h" and (library / "src" / "kws_model.h").is_file()
    sketch = library / "examples" / "kws" / "kws.ino"
    (tmp_path / "Arduino.h").write_text(ARDUINO_H)
    board = get_board(BOARD)
    flags = [f for f in compile_flags(board) if f != "-std=gnu11"]
    for source in sorted((library / "src").glob("*.c")):  # arduino-cli compiles src/ recursively
        _run(["arm-none-eabi-gcc", *flags, "-std=gnu11", f"-I{library / 'src'}", "-c", source, "-o", tmp_path / "lib.o"])
    _run(["arm-none-eabi-g++", *flags, "-std=gnu++17", "-fno-exceptions", "-fno-rtti", "-x", "c++",
          f"-I{tmp_path}", f"-I{library / 'src'}", "-c", sketch, "-o", tmp_path / "sketch.o"])
    symbols = _run(["arm-none-eabi-nm", tmp_path / "sketch.o"]).stdout
    assert "U kws_invoke" in symbols and " T setup" in symbols.replace("_Z5setupv", "setup")
