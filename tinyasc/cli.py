"""`tinyasc`: the command line. Thin on purpose: parse, call one stage, print.

Stages are imported inside each command so `tinyasc --help` stays instant (TensorFlow alone takes
~7 s to import). A `TinyascError` is a user mistake: its message is printed, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from tinyasc.cli_export import cmd_export, cmd_verify

# Random inputs `export` and `verify` compare on the host (issue 18: 100 missed a 1-in-200 mismatch).
VERIFY_RANDOM_INPUTS = 1000
# tinyasc.compile.verify.MAX_RANDOM_INPUTS (not imported here, so the CLI starts fast; a test ties them)
MAX_RANDOM_INPUTS = 100_000
RANDOM_WHY = " (the inputs are held in memory and TFLM runs them one by one; run verify again for more)"

EPILOG = """\
the pipeline, one command per stage:
  tinyasc train   --data synthetic --out runs/demo        train + int8-quantize a model
  tinyasc export  --board nrf52840 --run runs/demo       generate C for a board (export/<name>/)
  tinyasc verify  export/<name>                          host build with sanitizers vs TFLM, bit for bit
  tinyasc build   export/<name>                          cross-compile; flash/RAM report
  tinyasc emulate export/<name>                          run in the board's QEMU twin; instruction counts
  tinyasc emulate --audio clips/ export/<name>           your audio through the device's front-end and network
  tinyasc flash   export/<name>                          program a real board (--dry-run to see how)
  tinyasc report  export/<name>                          self-contained HTML report
  tinyasc boards                                         list the boards in boards.yaml
  tinyasc data cache --data DIR --config C.yaml          decode a dataset once into the waveform cache
  tinyasc demo                                           all of the above on the built-in synthetic data
"""


def _cmd_boards(args) -> int:
    from tinyasc.artifacts.boards import format_boards_table, load_boards
    from tinyasc.report.console import wide_console

    wide_console().print(format_boards_table(load_boards(args.boards_file)))
    return 0


def _cmd_train(args) -> int:
    from tinyasc.train.run import train_run

    result = train_run(
        data=args.data, run_dir=Path(args.out), model_name=args.model, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, resume=args.resume, config=args.config,
        skip_bad_files=args.skip_bad_files, cache_dir=args.cache_dir, cache=not args.no_cache,
    )
    if "worker" in result:
        print(f"worker {result['worker']}: trained {result['epochs_done']} epochs; the chief writes the run")
        return 0
    if result["skipped_files"]:
        print(f"skipped {len(result['skipped_files'])} unreadable audio file(s); the list is in {args.out}/run.json")
    from tinyasc.report.console import training_result_lines

    print("\n".join(training_result_lines(result)))
    print(f"int8 model: {result['tflite']}")
    return 0


def _cmd_build(args) -> int:
    from tinyasc.firmware.build import build_firmware

    result = build_firmware(Path(args.export_dir))
    print(result.summary())
    if args.project:
        from tinyasc.firmware.project import build_project

        project = build_project(Path(args.export_dir))
        print(f"built {project.elf_path} (real-board project, CMake): flash {project.sizes['flash']:,} B, "
              f"RAM {project.sizes['ram']:,} B")
    return 0


def _cmd_emulate(args) -> int:
    if args.audio:
        return _emulate_audio(args)
    from tinyasc.emulate.qemu import run_firmware

    result = run_firmware(Path(args.export_dir), timeout_s=args.timeout)
    print(result.log.rstrip())
    if args.profile and result.passed:
        from tinyasc.emulate.profile import format_profile_table, profile_firmware

        print(format_profile_table(profile_firmware(Path(args.export_dir), timeout_s=args.timeout)))
    if result.pcm_instructions is not None:
        print(f"PCM front-end (one input window of int16 samples → the int8 input): {result.pcm_instructions:,} instructions")
    if result.ram:
        from tinyasc.emulate.ram import ram_line

        print(ram_line(result.ram))
    layers_passed = None
    if args.layer_check:  # every intermediate tensor too: a saturating output can hide a wrong layer
        from tinyasc.emulate.layer_check import check_layers, layer_check_line

        layers = check_layers(Path(args.export_dir), timeout_s=args.timeout)
        layers_passed = layers.passed
        print(layer_check_line(layers))
    # Say exactly what was checked: the firmware's embedded vectors, nothing more.
    matched = max(result.vectors - result.mismatches, 0)
    passed = result.passed and layers_passed is not False
    status = f"{'PASS' if passed else 'FAIL'}: self-test {matched}/{result.vectors} vectors bit-exact" + (
        ", but an intermediate tensor differs from TFLM's (per-layer check above)" if layers_passed is False else "")
    print(
        f"{status}: {result.instructions_per_inference:,} instructions per inference, "
        f"~{result.latency_ms_estimate:.1f} ms at the board's clock (estimate from instruction counts)"
    )
    return 0 if passed else 1


def _emulate_audio(args) -> int:
    from tinyasc.emulate.audio_eval import evaluate_audio
    from tinyasc.emulate.audio_text import format_audio_evaluation

    evaluation = evaluate_audio(Path(args.export_dir), Path(args.audio), split=args.split, timeout_s=args.timeout)
    print(format_audio_evaluation(evaluation))
    return 0 if evaluation.host_equal.all() else 1


def _cmd_flash(args) -> int:
    from tinyasc.firmware.flash import flash, plan_flash

    plan = plan_flash(Path(args.export_dir), board_name=args.board, tool=args.tool, probe=args.probe)
    if args.dry_run:
        print(plan.dry_run_text())
        return 0
    print(flash(plan))
    return 0


def _cmd_report(args) -> int:
    from tinyasc.report.html import write_report

    path = write_report(Path(args.export_dir), out=Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def _cmd_fuzz(args) -> int:
    import json

    from tinyasc.compile.fuzz.campaign import run_campaign

    figures = run_campaign(args.fuzz, args.seed, Path(args.fuzz_cases), sys.stdout, first=args.first)
    print(json.dumps({k: figures[k] for k in ("graphs", "compared", "inputs_compared", "seconds", "findings")}))
    if figures["findings"]:
        print(f"{figures['findings']} finding(s), each shrunk and saved in {args.fuzz_cases}")
    return 1 if figures["findings"] else 0


def _cmd_bench(args) -> int:
    if args.fuzz:
        return _cmd_fuzz(args)
    import tempfile

    from tinyasc.bench import format_bench_table, run_bench, select_suite, write_results

    with tempfile.TemporaryDirectory(prefix="tinyasc-bench-") as work_dir:
        rows = run_bench(Path(work_dir), boards=args.boards, suite=select_suite(args.models))
    print(format_bench_table(rows))
    if args.out:  # the tracked benchmarks/results/ is rewritten only when asked for
        json_path, csv_path = write_results(rows, Path(args.out))
        print(f"wrote {json_path} and {csv_path}")
    return 0 if all(row["bit_exact"] for row in rows if not row.get("refused")) else 1


def _cmd_summary(args) -> int:
    from tinyasc.compile.tflite_reader import read_tflite
    from tinyasc.report.console import wide_console
    from tinyasc.report.summary import measured_tflite_sizes, summarize, summary_source, summary_table

    source = summary_source(args.model, sample_rate=args.sample_rate)
    seconds = args.seconds or source.audio.seconds_per_inference
    from tinyasc.errors import naming

    with naming(source.tflite):
        summary = summarize(read_tflite(source.tflite), sample_rate=source.audio.sample_rate, seconds=seconds)
        summary["measured_tflite_bytes"] = measured_tflite_sizes(source.tflite)
    rate = f"{source.audio.sample_rate:,} Hz" if source.audio.sample_rate else "unknown"
    title = f"tinyasc summary: {source.tflite} (audio rate {rate}, from {source.where})"
    wide_console().print(summary_table(summary, title))
    return 0


def _cmd_demo(args) -> int:
    from tinyasc.demo import run_demo

    return run_demo(work_dir=Path(args.work_dir), board=args.board, epochs=args.epochs)


def _positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above 0 (nan, inf and negatives are refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 1e6):
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 1e6, received {text[:40]!r}")
    return value


def _whole(low: int, high: int, why: str = ""):
    """argparse type: a whole number from `low` to `high` (`why`: the reason for the limit)."""

    def parse(text: str) -> int:
        value = int(text) if text.strip().lstrip("+-").isdigit() and len(text) < 20 else None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low:,} to {high:,}{why}, "
                                             f"received {text[:40]!r}")
        return value

    return parse


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are one line too, like every other error (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_bounded(message)} (see {self.prog} --help)\n")


def _sample_rate(text: str) -> int:
    """argparse type: an audio sample rate in Hz, 1,000 to 768,000."""
    if not text.isdigit() or not 1000 <= int(text[:10]) <= 768_000:
        raise argparse.ArgumentTypeError(f"expected a sample rate in Hz between 1000 and 768000, received {text[:40]!r}")
    return int(text)


def _add_cache_arguments(p, with_switch: bool = True) -> None:
    p.add_argument("--cache-dir", help="where decoded waveforms are cached, shared by runs (default: <run folder>/cache); "
                   "a cache is keyed by the files, their sizes and times, and the rate, length and channels")
    if with_switch:
        p.add_argument("--no-cache", action="store_true", help="decode every clip from its file every epoch")


def _cmd_data(args) -> int:
    from tinyasc.train.run import cache_dataset

    report = cache_dataset(data=args.data, run_dir=Path(args.out), config=args.config, cache_dir=args.cache_dir,
                           skip_bad_files=args.skip_bad_files, workers=args.workers)
    print(f"{report['clips']} clips in {report['shards']} shards ({report['built']} built now, "
          f"{report['bytes'] / 2**20:.1f} MiB) at {report['folder']}")
    return 0


def _add_training_commands(sub) -> None:
    """Train and export: from audio to generated C."""
    p = sub.add_parser("train", help="train a model and quantize it to an int8 .tflite")
    p.add_argument("--data", default="synthetic", help="'synthetic' (built-in); 'spoken-digits' (zero..nine spoken by "
                   "165 espeak-ng speakers, 3,300 1-s clips at data.sample_rate, -40..0 dBFS, noise and rooms, split by "
                   "speaker; made once, needs apt-get install espeak-ng) or 'spoken-commands' (the digits plus "
                   "yes/no/up/down/left/right/on/off/stop/go, 6,600 clips); a CSV with path,label[,split], or a dataset "
                   "root: a folder per class, ESC-50, UrbanSound8K or TAU (detected; or LAYOUT:PATH) (default: synthetic)")
    p.add_argument("--config", help="experiment YAML (configs/*.yaml): model, data, features, recipe, strategy; "
                   "--epochs/--batch-size/--seed override it, --model is ignored")
    p.add_argument("--model", default="anchor_cnn", help="model from the registry, without --config (default: anchor_cnn)")
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the config's, else 12)")
    p.add_argument("--batch-size", type=int, help="default: the config's, else 32")
    p.add_argument("--seed", type=int, help="default: the config's, else 0")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--skip-bad-files", action="store_true", help="leave out missing, unreadable or empty audio "
                   "files (counted, listed in run.json) instead of stopping at the first one")
    _add_cache_arguments(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("data", help="dataset tools: `tinyasc data cache` decodes a dataset into the waveform cache")
    p.add_argument("action", choices=("cache",), help="cache: decode every clip once into memory-mapped shards")
    p.add_argument("--data", default="synthetic", help="as for `tinyasc train` (default: synthetic)")
    p.add_argument("--config", help="experiment YAML: its data section (rate, length, channels) decides the clips")
    p.add_argument("--out", default="runs/demo", help="the run folder whose cache/ to fill, without --cache-dir "
                   "(default: runs/demo)")
    p.add_argument("--skip-bad-files", action="store_true", help="leave out files whose header does not read")
    p.add_argument("--workers", type=_whole(1, 64), default=2, help="decoding threads (default: 2)")
    _add_cache_arguments(p, with_switch=False)
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("export", help="generate C for a board from a run or any int8 .tflite")
    p.add_argument("--board", default="nrf52840", help="board name from boards.yaml (default: nrf52840)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run folder written by `tinyasc train`")
    source.add_argument("--tflite", help="any full-int8 .tflite file")
    source.add_argument("--model", dest="keras_model", help="a saved Keras model (.keras, .h5 or a SavedModel folder), "
                        "quantized to int8 on --calibration first")
    p.add_argument("--calibration", help="with --model: a folder of model inputs (.npy) or, for a raw-waveform "
                   "model, audio clips (.wav/.flac at --sample-rate) to calibrate the int8 quantization on")
    p.add_argument("--name", help="export folder name (default: the run's or the file's name)")
    p.add_argument("--out", default="export", help="export root folder (default: export)")
    p.add_argument("--sample-rate", type=_sample_rate, help="audio rate the model takes, in Hz, recorded in the manifest "
                   "and model.h (a run's own rate is used with --run; a bare --tflite has none unless given)")
    p.add_argument("--verify", type=_whole(0, MAX_RANDOM_INPUTS, RANDOM_WHY), default=VERIFY_RANDOM_INPUTS, metavar="N",
                   help="compare the host build (sanitizers on) with TFLM on the test vectors and N random inputs, "
                        f"in one host process (default: {VERIFY_RANDOM_INPUTS}; 0 skips it)")
    p.add_argument("--stream-stride", type=_positive_seconds, metavar="SECONDS",
                   help="streaming API (pcm_stream.c): audio between results (default: half the model's window)")
    p.add_argument("--stream-smoothing", type=_whole(1, 255), default=1, metavar="K",
                   help="streaming API: each result is the mean of the last K network outputs (default: 1, off)")
    p.add_argument("--test-vectors", type=_whole(1, 1000), default=4, help="inputs embedded in the firmware for its self-check (default: 4)")
    p.add_argument("--sparse", choices=("auto", "never", "always"), default="auto",
                   help="sparse weights for pruned conv/dense layers: where they pay off (auto, default), never, "
                        "or wherever a sparse kernel applies (always)")
    p.add_argument("--ws-kernel", choices=("auto", "integral", "direct"), default="auto",
                   help="WSNet WS_CONV layers: integral image or direct conv on the sampled kernel; "
                        "auto (default) picks per layer the one an instruction model fitted to QEMU counts says is cheaper on the core")
    p.add_argument("--c-prefix", default="tinyasc", help="prefix of every C name and macro in the library layouts "
                   "under targets/ (cmake, zephyr, arduino), so several models link into one image (default: tinyasc)")
    p.set_defaults(func=cmd_export)


def _add_device_commands(sub) -> None:
    """Verify, build, emulate, flash: the generated C on the host, in QEMU and on a board."""
    p = sub.add_parser("verify", help="build the generated C for this machine with sanitizers; compare with TFLM bit for bit")
    p.add_argument("export_dir")
    p.add_argument("--random", type=_whole(0, MAX_RANDOM_INPUTS, RANDOM_WHY), default=VERIFY_RANDOM_INPUTS,
                   help=f"random inputs to compare besides the test vectors (default: {VERIFY_RANDOM_INPUTS}, "
                        f"at most {MAX_RANDOM_INPUTS:,}: they are held in memory and run one by one in TFLM)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("build", help="cross-compile the firmware with arm-none-eabi-gcc; flash and RAM report")
    p.add_argument("export_dir")
    p.add_argument("--project", action="store_true", help="also build project/ (the real part's memory map) with CMake, for `tinyasc flash`")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("emulate", help="run the firmware in the board's QEMU twin: bit-exact check, instructions per inference")
    p.add_argument("export_dir")
    p.add_argument("--timeout", type=_positive_seconds, default=300, help="seconds before QEMU is stopped (default: 300)")
    p.add_argument("--profile", action="store_true",
                   help="also build and run a per-op profiling variant; print instructions per layer (manifest 'profile')")
    p.add_argument("--no-layer-check", dest="layer_check", action="store_false",
                   help="skip the per-layer check (a verification build comparing every intermediate tensor with TFLM)")
    p.add_argument("--audio", metavar="PATH",
                   help="run audio through the firmware's own PCM front-end and network instead of the self-test: "
                        "a WAV (or any soundfile-readable file), a folder of class sub-folders, or a labels CSV "
                        "(path,label[,split]); files of at most 10 minutes each; prints predictions, accuracy / macro-F1 / confusion when labelled, "
                        "QEMU vs the host build, instructions and the real-time factor (manifest 'audio_evaluation')")
    p.add_argument("--split", choices=("test", "val", "train", "all"),
                   help="with --audio and a CSV with a split column: the rows to run (default: test)")
    p.set_defaults(func=_cmd_emulate)

    p = sub.add_parser("flash", help="program a real board with the export's image (pyocd, nrfjprog or openocd)")
    p.add_argument("export_dir")
    p.add_argument("--board", help="refuse unless the image was built for this board")
    p.add_argument("--tool", choices=("pyocd", "nrfjprog", "openocd"), help="default: the first the board's flasher settings allow")
    p.add_argument("--probe", help="debug probe unique id / serial number (default: the only one connected)")
    p.add_argument("--dry-run", action="store_true", help="print the image, tool and command, flash nothing")
    p.set_defaults(func=_cmd_flash)


def _add_report_commands(sub) -> None:
    """What the others measured, and the whole pipeline at once."""
    p = sub.add_parser("boards", help="list the boards tinyasc knows (boards.yaml)")
    p.add_argument("--boards-file", help="another boards.yaml (default: the one in the repo, or $TINYASC_BOARDS)")
    p.set_defaults(func=_cmd_boards)

    p = sub.add_parser("report", help="a self-contained HTML report of an export (figures, plots, memory plan)")
    p.add_argument("export_dir")
    p.add_argument("--out", help="HTML file to write (default: <export_dir>/report.html)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("bench", help="the benchmark suite on each core twin in QEMU: instructions, flash, RAM, ratio to TFLM")
    p.add_argument("--out", help="write bench.json and bench.csv into this folder (the repo's tables: "
                   "--out benchmarks/results); without it the table is only printed")
    p.add_argument("--boards", nargs="+", help="boards to run (default: cortex-m3 nrf52840 cortex-m7 nrf5340-app corstone-300)")
    p.add_argument("--models", nargs="+", help="bench models to run (default: the whole suite, tinyasc/bench.py SUITE)")
    p.add_argument("--fuzz", type=_whole(1, 100_000_000), metavar="N", help="instead: differential-fuzz N random graphs (host build vs "
                   "TFLM, bit for bit); findings are shrunk and saved under --fuzz-cases")
    p.add_argument("--seed", type=_whole(0, 2**32 - 1), default=1, help="--fuzz: the seed of the graphs (default: 1)")
    p.add_argument("--first", type=_whole(0, 2**32 - 1), default=0, help="--fuzz: the first graph index (to resume a campaign)")
    p.add_argument("--fuzz-cases", default="tests/data/fuzz", help="--fuzz: where findings go (default: tests/data/fuzz)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("summary", help="parameters, non-zeros, MACs per second of audio and sizes of a model, per layer, vs the DCASE limits")
    p.add_argument("model", metavar="RUN_OR_TFLITE",
                   help="a run folder (its sample rate and features are used), an export folder, or an int8 .tflite")
    p.add_argument("--sample-rate", type=_sample_rate, help="audio rate of a bare .tflite's raw-waveform input, in Hz "
                   "(without it, and without --seconds, only per-inference figures are given)")
    p.add_argument("--seconds", type=_positive_seconds, help="seconds of audio per inference (default: from the run, "
                   "else input length / --sample-rate)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("demo", help="train, quantize, export, build and emulate on the built-in synthetic data")
    p.add_argument("--work-dir", default=".", help="where runs/ and export/ go (default: .)")
    p.add_argument("--board", default="nrf52840")
    p.add_argument("--epochs", type=int, default=12)
    p.set_defaults(func=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="tinyasc",
        description="Acoustic scene and sound event classifiers from audio files to Cortex-M firmware.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tinyasc {_version()}")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines (hidden by default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_training_commands(sub)
    _add_device_commands(sub)
    _add_report_commands(sub)
    return parser


def _version() -> str:
    from tinyasc import __version__

    return __version__


# OS errors that are the machine's state, not a bug: the CLI says what to do instead of a traceback.
USER_OS_ERRORS = {
    errno.ENOSPC: "free some disk space (or write elsewhere) and run the command again",
    errno.EDQUOT: "the disk quota is full; free some space and run the command again",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "no permission; write elsewhere or fix the folder's permissions",
    errno.ENAMETOOLONG: "use a shorter path or name",
    errno.EPERM: "the operation is not permitted there; write elsewhere",
    errno.EEXIST: "a file is in the way of a folder tinyasc makes; remove it or choose another path",
    errno.ENOTDIR: "a file stands where the path needs a folder; choose another path",
    errno.EISDIR: "a folder stands where the path needs a file; choose another path",
    errno.ELOOP: "the path goes through a symbolic link loop; fix or remove the link",
}
MAX_MESSAGE_CHARS = 10_000  # a message quoting user data is cut by its stage; this is the last guard


def _bounded(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[:MAX_MESSAGE_CHARS] + f"... ({len(text) - MAX_MESSAGE_CHARS:,} more characters)"


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions:  # argparse keeps no public handle on them
        if command in action.choices:
            return action.choices[command]
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the subcommand that was given them, like its other usage mistakes
        command_parser = parser if args.command is None else _subparser(parser, args.command)
        command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from tinyasc.tf_env import set_verbose  # no TensorFlow import: only the environment

    set_verbose(args.verbose)
    if args.command is None:
        parser.print_help()
        return 2
    from tinyasc.errors import TinyascError

    try:
        return args.func(args)
    except TinyascError as e:
        print(f"tinyasc {args.command}: error: {_bounded(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error (before OSError: a subclass)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        if e.errno not in USER_OS_ERRORS:
            raise
        # The disk, not the code: one line naming the file (what was being written is cleaned up
        # by the stage that wrote it: staging folders, atomic writes).
        where = f" writing {e.filename}" if e.filename else ""
        print(f"tinyasc {args.command}: error: {e.strerror}{_bounded(where)}; {USER_OS_ERRORS[e.errno]}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tinyasc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
