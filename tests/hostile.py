"""Helpers of the hostile-input corpus (tests/test_hostile_*.py): run the CLI in this process and
check the one outcome every hostile input must have: exit code 2 and one short line on stderr that
names the file and the problem, never a traceback."""

from __future__ import annotations

from tinyasc.cli import main

MAX_ERROR_CHARS = 600  # a hostile input's error is one short line, whatever the input's size


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `tinyasc ARGS` run in this process."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse refuses the command line itself
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(capsys, args, *fragments) -> str:
    """The CLI refuses `args` with exit 2 and one bounded line holding every fragment; returns it."""
    code, _, err = run_cli(capsys, *args)
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err[:2000]
    assert len(err) < MAX_ERROR_CHARS, err[:2000]
    assert err.startswith(f"tinyasc {args[0]}: error: "), err
    for fragment in fragments:
        assert str(fragment) in err, err
    return err


def write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def alias_bomb(indent: str, levels: int = 9) -> str:
    """YAML lines defining a billion-laughs chain: each anchor holds nine aliases of the previous."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"{indent}l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"



# ---- the user-level corpus: input x command x outcome --------------------------------------------
# Each Case builds its hostile input in an empty folder and returns the command line; the outcome is
# exact: exit 2 with one line holding every fragment, or exit 0 (a correct run) with every fragment
# on stdout. tests/test_hostile_user.py runs them all; benchmarks/hostile_table.py writes the table.

import copy  # noqa: E402
import os  # noqa: E402
import struct  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

TESTS = Path(__file__).resolve().parent
GOLDEN_TFLITE = TESTS / "fixtures" / "golden" / "anchor_shaped_cnn.tflite"
REPO_BOARDS = TESTS.parent / "boards.yaml"
RATE = 16000


@dataclass(frozen=True)
class Case:
    input: str  # what the hostile input is, for the table
    make: Callable[[Path], list]  # builds the input under an empty folder; returns the command line
    fragments: tuple = ()  # in the one-line error (code 2) or on stdout (code 0)
    code: int = 2
    env: Callable[[Path], dict] = field(default=lambda folder: {})  # environment variables the command needs


def _chunk(chunk_id: bytes, data: bytes, pad: bool = True, order: str = "<") -> bytes:
    return chunk_id + struct.pack(order + "I", len(data)) + data + (b"\0" if pad and len(data) % 2 else b"")


def _fmt(tag: int, channels: int, rate: int, bits: int, extra: bytes = b"", order: str = "<") -> bytes:
    block = channels * bits // 8
    fields = struct.pack(order + "HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    return _chunk(b"fmt ", fields + extra, order=order)


def _riff(*chunks: bytes, magic: bytes = b"RIFF", order: str = "<") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack(order + "I", len(body) & 0xFFFFFFFF) + body


def _samples(frames: int = 4000) -> np.ndarray:
    return 0.1 * np.random.default_rng(0).standard_normal(frames)


def _pcm16(order: str = "<", frames: int = 4000) -> bytes:
    return (_samples(frames) * 32767).astype(order + "i2").tobytes()


def _rf64(data_size: int, data: bytes) -> bytes:
    ds64 = _chunk(b"ds64", struct.pack("<QQQI", 36 + 16 + data_size, data_size, data_size // 2, 0))
    return b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + ds64 + _fmt(1, 1, RATE, 16) + b"data" + \
        struct.pack("<I", 0xFFFFFFFF) + data


SUBFORMAT_PCM = bytes.fromhex("0100000000001000800000aa00389b71")
WAVS = {  # name: the file's bytes
    "8-bit unsigned": lambda: _riff(_fmt(1, 1, RATE, 8), _chunk(b"data", (_samples() * 127 + 128).astype("u1").tobytes())),
    "24-bit": lambda: _riff(_fmt(1, 1, RATE, 24), _chunk(b"data", b"".join(
        int(v * 8388607).to_bytes(3, "little", signed=True) for v in _samples()))),
    "32-bit float": lambda: _riff(_fmt(3, 1, RATE, 32), _chunk(b"data", _samples().astype("<f4").tobytes())),
    "64-bit float": lambda: _riff(_fmt(3, 1, RATE, 64), _chunk(b"data", _samples().astype("<f8").tobytes())),
    "WAVE_FORMAT_EXTENSIBLE": lambda: _riff(_fmt(0xFFFE, 1, RATE, 16, struct.pack("<HHI", 22, 16, 4) + SUBFORMAT_PCM),
                                            _chunk(b"data", _pcm16())),
    "stereo": lambda: _riff(_fmt(1, 2, RATE, 16), _chunk(b"data", np.repeat(np.frombuffer(_pcm16(), "<i2"), 2).tobytes())),
    "RIFX (big-endian)": lambda: _riff(_fmt(1, 1, RATE, 16, order=">"), _chunk(b"data", _pcm16(">"), order=">"),
                                       magic=b"RIFX", order=">"),
    "RF64": lambda: _rf64(8000, _pcm16()),
    "odd-sized LIST chunk, padded": lambda: _riff(_fmt(1, 1, RATE, 16), _chunk(b"LIST", b"INFOabc"), _chunk(b"data", _pcm16())),
    "LIST chunk after the data": lambda: _riff(_fmt(1, 1, RATE, 16), _chunk(b"data", _pcm16()),
                                               _chunk(b"LIST", b"INFOISFT\x04\x00\x00\x00abc\x00")),
    "odd data chunk size": lambda: _riff(_fmt(1, 1, RATE, 16), _chunk(b"data", _pcm16() + b"\x01")),
    "0 channels": lambda: _riff(_chunk(b"fmt ", struct.pack("<HHIIHH", 1, 0, RATE, 0, 0, 16)), _chunk(b"data", _pcm16())),
    "65,535 channels": lambda: _riff(_fmt(1, 65535, RATE, 16), _chunk(b"data", _pcm16())),
    "sample rate 4 GHz": lambda: _riff(_fmt(1, 1, 4_000_000_000, 16), _chunk(b"data", _pcm16())),
    "sample rate 2 MHz": lambda: _riff(_fmt(1, 1, 2_000_000, 16), _chunk(b"data", _pcm16())),
    "truncated data chunk": lambda: _riff(_fmt(1, 1, RATE, 16), _chunk(b"data", _pcm16()))[:-3000],
    "odd-sized LIST chunk, unpadded": lambda: _riff(_fmt(1, 1, RATE, 16), _chunk(b"LIST", b"INFOabc", pad=False),
                                                    _chunk(b"data", _pcm16())),
    "LIST chunk claiming 4 GB": lambda: _riff(_fmt(1, 1, RATE, 16), b"LIST" + struct.pack("<I", 0xFFFFFFF0) + b"INFO",
                                              _chunk(b"data", _pcm16())),
    "RIFX, truncated": lambda: _riff(_fmt(1, 1, RATE, 16, order=">"), _chunk(b"data", _pcm16(">"), order=">"),
                                     magic=b"RIFX", order=">")[:-3000],
    "RF64, truncated": lambda: _rf64(8000, _pcm16()[:5000]),
    "RF64 whose ds64 claims 1 TB": lambda: _rf64(2**40, _pcm16()),
}
WAV_OUTCOMES = {  # name: (exit code, fragments); every other WAV reads (exit 0)
    "0 channels": (2, ("cannot read audio", "Channel count is zero")),
    "65,535 channels": (2, ("cannot read audio", "Too many channels")),
    "sample rate 4 GHz": (2, ("cannot read audio",)),
    "sample rate 2 MHz": (2, ("sample rate is 2,000,000 Hz, outside 1,000..768,000 Hz",)),
    "truncated data chunk": (2, ("the WAV header says 8,000 bytes of audio but the file holds 5,000",)),
    "odd-sized LIST chunk, unpadded": (2, ("cannot read audio", "No 'data' chunk")),
    "LIST chunk claiming 4 GB": (2, ("cannot read audio", "No 'data' chunk")),
    "RIFX, truncated": (2, ("the WAV header says 8,000 bytes of audio but the file holds 5,000",)),
    "RF64, truncated": (2, ("the WAV header says 8,000 bytes of audio but the file holds 5,000",)),
    "RF64 whose ds64 claims 1 TB": (2, ("the WAV header says 1,099,511,627,776 bytes of audio but the file holds 8,000",)),
}


def _dataset(folder: Path, odd: dict, root_name: str = "data") -> Path:
    """A class-folder dataset: two good 16-bit clips per class, plus `odd` ({relative path: bytes})."""
    root = folder / root_name
    for label in ("x", "y"):
        (root / label).mkdir(parents=True)
        for clip in range(2):
            write(root / label / f"good{clip}.wav", _riff(_fmt(1, 1, RATE, 16), _chunk(b"data", _pcm16())))
    for relative, data in odd.items():
        write(root / relative, data)
    return root


def _cache(folder: Path, data: Path) -> list:
    return ["data", "cache", "--data", data, "--out", folder / "run", "--cache-dir", folder / "cache"]


def _wav_case(name: str) -> Case:
    code, fragments = WAV_OUTCOMES.get(name, (0, ("clips in 1 shards",)))
    bad = "x/odd.wav"

    def make(folder):
        return _cache(folder, _dataset(folder, {bad: WAVS[name]()}))
    return Case(f"WAV: {name}", make, (bad,) + fragments if code == 2 else fragments, code)


def _loop_files(folder: Path) -> list:
    root = _dataset(folder, {})
    os.symlink("l2.wav", root / "x" / "l1.wav")
    os.symlink("l1.wav", root / "x" / "l2.wav")
    return _cache(folder, root)


def _loop_folders(folder: Path) -> list:
    root = _dataset(folder, {})
    os.symlink(".", root / "x" / "self")
    os.symlink("../y", root / "x" / "up")
    os.symlink("zz", root / "zz")
    return _cache(folder, root)


CSV_ROWS = "x/good0.wav,x,train\ny/good0.wav,y,train\nx/good1.wav,x,test\ny/good1.wav,y,val\n"


def _csv_case(name: str, text: bytes, fragments: tuple, code: int = 2) -> Case:
    def make(folder):
        _dataset(folder, {})
        return _cache(folder, write(folder / "data" / "labels.csv", text))
    return Case(f"label CSV: {name}", make, (("labels.csv",) if code == 2 else ()) + fragments, code)


def _export(out, *extra) -> list:
    return ["export", "--tflite", GOLDEN_TFLITE, "--board", "cortex-m3", "--out", out, "--name", "m",
            "--verify", "0", "--test-vectors", "1", *extra]


def _boards_file(folder: Path, **changes) -> Path:
    """A boards file holding the repo's cortex-m3 as board 'x', with `changes` ("emulator.machine": ...)."""
    import yaml

    board = copy.deepcopy(yaml.safe_load(REPO_BOARDS.read_text())["boards"]["cortex-m3"])
    for where, value in changes.items():
        *parents, key = where.split(".")
        target = board
        for parent in parents:
            target = target[parent]
        target[key] = value
    return write(folder / "boards.yaml", yaml.safe_dump({"boards": {"x": board}}))


def _board_case(name: str, changes: dict, fragments: tuple, command: str = "export",
                named_file: str = "boards.yaml") -> Case:
    """`command` on an export to board 'x' of a boards file with `changes`; build and emulate get an
    export built by the library first (the export itself must succeed for them). An export's error
    names the boards file, unless the fault is the model's (named_file="the model": in fragments)."""
    def make(folder):
        _boards_file(folder, **changes)
        if command == "export":
            return ["export", "--tflite", GOLDEN_TFLITE, "--board", "x", "--out", folder / "out", "--verify", "0"]
        from tinyasc.compile.export import export_model
        from tinyasc.firmware.build import build_firmware

        export_model(GOLDEN_TFLITE, board_name="x", out_root=folder / "out", name="m", num_test_vectors=1)
        if command == "emulate":
            build_firmware(folder / "out" / "m")
        return [command, folder / "out" / "m", *(["--timeout", "60"] if command == "emulate" else [])]
    named = (named_file,) if command == "export" and named_file == "boards.yaml" else ()
    return Case(f"boards file: {name}", make, named + fragments,
                env=lambda folder: {"TINYASC_BOARDS": str(folder / "boards.yaml")})


def _usage_case(args: tuple, fragment: str, prefix: str = "") -> Case:
    return Case(f"command line: tinyasc {' '.join(args)}", lambda folder: list(args),
                (prefix or f"tinyasc {args[0]}: error: ", fragment))


def _write_file(folder: Path) -> Path:
    return write(folder / "a_file", "not a folder")


CASES = [
    *(_wav_case(name) for name in WAVS),
    Case("data folder: two audio files linked to each other (a symlink loop)", _loop_files,
         ("l1.wav", "a symbolic link to nothing (or a link loop), not an audio file")),
    Case("data folder: folder links to itself, its parent and a self-loop", _loop_folders, ("4 clips in 1 shards",), 0),
    Case("data folder: path with spaces and non-ASCII letters",
         lambda folder: _cache(folder, _dataset(folder, {}, root_name="my d\u00e4ta \u00fc")), ("4 clips in 1 shards",), 0),
    _csv_case("UTF-8 byte order mark (Excel)", ("\ufeffpath,label,split\n" + CSV_ROWS).encode(), ("4 clips",), 0),
    _csv_case("CRLF line ends", ("path,label,split\r\n" + CSV_ROWS.replace("\n", "\r\n")).encode(), ("4 clips",), 0),
    _csv_case("BOM and CRLF", ("\ufeffpath,label,split\r\n" + CSV_ROWS.replace("\n", "\r\n")).encode(), ("4 clips",), 0),
    _csv_case("empty lines", ("path,label,split\n\n" + CSV_ROWS.replace("\n", "\n\n")).encode(), ("4 clips",), 0),
    _csv_case("duplicate rows", ("path,label,split\n" + CSV_ROWS + CSV_ROWS).encode(),
              ("warning: 4 row(s) repeat a path listed earlier (the first: line 6 repeats 'x/good0.wav' of line 2)",), 0),
    _csv_case("label column missing", b"path,split\nx/good0.wav,train\n", ("missing column(s) label",)),
    _csv_case("UTF-16", ("path,label,split\n" + CSV_ROWS).encode("utf-16"), ("not UTF-8 text",)),
    _csv_case("header only", b"path,label,split\n", ("lists no audio files",)),
    _csv_case("a column named twice", ("path,label,split,label\n" + CSV_ROWS.replace("\n", ",other\n")).encode(),
              ("names the column 'label' twice",)),
    _csv_case("semicolons", ("path;label;split\n" + CSV_ROWS.replace(",", ";")).encode(), ("missing column(s) path, label",)),
    Case("export --out: an existing file", lambda folder: _export(_write_file(folder)),
         ("File exists", "a_file", "a file is in the way")),
    Case("export --out: a path under a file", lambda folder: _export(_write_file(folder) / "sub"),
         ("Not a directory", "a_file/sub")),
    Case("export --out: a folder nobody may write (/sys)", lambda folder: _export("/sys/tinyasc-hostile"),
         ("/sys/tinyasc-hostile", "write elsewhere")),
    Case("export --out: a path with spaces and non-ASCII letters",
         lambda folder: _export(folder / "my exp\u00f6rts \u00fc"), ("exported", "my exp\u00f6rts \u00fc"), 0),
    _board_case("an unknown key", {"colour": "red"}, ("board 'x' has an unknown key 'colour'",)),
    _board_case("clock_hz 2**40 (a uint32 in C)", {"clock_hz": 2**40}, ("'clock_hz' must be the core clock in Hz (below 2**32)",)),
    _board_case("clock_hz a string", {"clock_hz": "48MHz"}, ("'clock_hz' must be the core clock in Hz",)),
    _board_case("cpu gcc does not know", {"cpu": "cortex-m99"}, ("'cpu' must be a Cortex-M core gcc knows",)),
    _board_case("RAM origin not word-aligned", {"ram.origin": 0x20000001}, ("'origin' must be a word-aligned address",)),
    _board_case("flash size a list", {"flash.size": [1]}, ("'size' must be a size in bytes",)),
    _board_case("256 bytes of RAM (said in bytes, not as 0 KB)", {"ram.size": 256},
                ("anchor_shaped_cnn.tflite", "x's 256 bytes RAM"), named_file="the model"),
    _board_case("QEMU machine that does not exist", {"emulator.machine": "nope"},
                ("qemu-system-arm -M nope failed (exit 1) before the firmware printed anything", "unsupported machine type"),
                command="emulate"),
    _board_case("QEMU machine of another core (AN505, an M33, for an M3 image)", {"emulator.machine": "mps2-an505"},
                ("-M mps2-an505 failed", "Lockup", "runs a cortex-m3"), command="emulate"),
    _usage_case(("build", "a", "b"), "unrecognized arguments: b (see tinyasc build --help)"),
    _usage_case(("train", "extra"), "unrecognized arguments: extra (see tinyasc train --help)"),
    _usage_case(("data", "cache", "extra"), "unrecognized arguments: extra"),
    _usage_case(("emulate",), "the following arguments are required: export_dir"),
    _usage_case(("export",), "one of the arguments --run --tflite --model is required"),
    _usage_case(("export", "--tflite"), "argument --tflite: expected one argument"),
    _usage_case(("nonsense",), "invalid choice: 'nonsense'", prefix="tinyasc: error: "),
    _usage_case(("-x",), "unrecognized arguments: -x (see tinyasc --help)", prefix="tinyasc: error: "),
]


def run_case(capsys, case: Case, folder: Path) -> tuple[int, str, str, list]:
    """(exit code, stdout, stderr, the command line) of one case, built under `folder` (with its
    environment set)."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    os.environ.update(case.env(folder))
    try:
        args = case.make(folder)
        return (*run_cli(capsys, *args), args)
    finally:
        os.environ.clear()
        os.environ.update(saved)
