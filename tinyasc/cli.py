"""`tinyasc`: the command line. Thin on purpose: parse, call one stage, print.

Stages are imported inside each command so `tinyasc --help` stays instant (TensorFlow alone takes
~7 s to import). A `TinyascError` is a user mistake: its message is printed, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
        skip_bad_files=args.skip_bad_files,
    )
    if result["skipped_files"]:
        print(f"skipped {len(result['skipped_files'])} unreadable audio file(s); the list is in {args.out}/run.json")
    from tinyasc.report.console import training_result_lines

    print("\n".join(training_result_lines(result)))
    print(f"int8 model: {result['tflite']}")
    return 0


def _cmd_export(args) -> int:
    # Only the artifacts and the compiler: a run folder is read without audio or TensorFlow code.
    from tinyasc.artifacts.audio import AudioInput
    from tinyasc.artifacts.run import read_run
    from tinyasc.compile.export import export_model
    from tinyasc.compile.options import CompileOptions

    labels, test_inputs, name, tflite = None, None, args.name, args.tflite
    audio = AudioInput(sample_rate=args.sample_rate)
    if args.run:
        run = read_run(Path(args.run))
        tflite, labels, test_inputs, audio = run.tflite, list(run.labels), run.test_inputs, run.audio
        if args.sample_rate is not None and args.sample_rate != audio.sample_rate:
            from tinyasc.errors import TinyascError

            raise TinyascError(f"the run was trained at {audio.sample_rate} Hz; leave out --sample-rate {args.sample_rate}")
        name = name or Path(args.run).name
    if tflite is None:
        raise SystemExit("tinyasc export: give --run RUN_DIR or --tflite FILE")
    result = export_model(
        tflite, board_name=args.board, out_root=args.out, name=name, labels=labels,
        test_inputs=test_inputs, num_test_vectors=args.test_vectors, audio=audio,
        options=CompileOptions(sparse=args.sparse, ws_kernel=args.ws_kernel),
    )
    if args.run:
        from tinyasc.artifacts.manifest import update_manifest
        from tinyasc.artifacts.run import TRAINING_SECTION, training_section

        update_manifest(result.export_dir, TRAINING_SECTION, training_section(run.summary))
    figures = result.manifest["export"]
    print(
        f"exported {result.export_dir}: {figures['parameters']:,} parameters, {figures['macs']:,} MACs, "
        f"arena {figures['arena_bytes']:,} B (lower bound {figures['arena_lower_bound_bytes']:,} B)"
    )
    for layer in figures["layers"]:
        if layer.get("weight_format") == "sparse":
            print(
                f"  op {layer['op']} {layer['kind']}: sparse weights, {layer['nonzero_weights']:,} non-zero "
                f"({layer['sparsity']:.0%} zeros), {layer['sparse_bytes_saved']:,} B saved, "
                f"~{layer['sparse_instructions_saved_estimate']:,} instructions saved (estimate)"
            )
    return 0


def _cmd_verify(args) -> int:
    from tinyasc.compile.verify import verify_on_host

    report = verify_on_host(Path(args.export_dir), num_random=args.random)
    print(
        f"host build (ASan+UBSan, -Wall -Wextra -Werror): {report['bit_exact']}/{report['inputs']} "
        "outputs bit-exact with the TFLM reference interpreter"
    )
    return 0 if report["bit_exact"] == report["inputs"] else 1


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
    status = "PASS (bit-exact)" if result.passed else "FAIL"
    print(
        f"{status}: {result.instructions_per_inference:,} instructions per inference, "
        f"~{result.latency_ms_estimate:.1f} ms at the board's clock (estimate from instruction counts)"
    )
    return 0 if result.passed else 1


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


def _cmd_bench(args) -> int:
    import tempfile

    from tinyasc.bench import format_bench_table, run_bench, select_suite, write_results

    with tempfile.TemporaryDirectory(prefix="tinyasc-bench-") as work_dir:
        rows = run_bench(Path(work_dir), boards=args.boards, suite=select_suite(args.models))
    json_path, csv_path = write_results(rows, Path(args.out))
    print(format_bench_table(rows))
    print(f"wrote {json_path} and {csv_path}")
    return 0 if all(row["bit_exact"] for row in rows) else 1


def _cmd_summary(args) -> int:
    from tinyasc.compile.tflite_reader import read_tflite
    from tinyasc.report.console import wide_console
    from tinyasc.report.summary import measured_tflite_sizes, summarize, summary_source, summary_table

    source = summary_source(args.model, sample_rate=args.sample_rate)
    seconds = args.seconds or source.audio.seconds_per_inference
    summary = summarize(read_tflite(source.tflite), sample_rate=source.audio.sample_rate, seconds=seconds)
    summary["measured_tflite_bytes"] = measured_tflite_sizes(source.tflite)
    rate = f"{source.audio.sample_rate:,} Hz" if source.audio.sample_rate else "unknown"
    title = f"tinyasc summary: {source.tflite} (audio rate {rate}, from {source.where})"
    wide_console().print(summary_table(summary, title))
    return 0


def _cmd_demo(args) -> int:
    from tinyasc.demo import run_demo

    return run_demo(work_dir=Path(args.work_dir), board=args.board, epochs=args.epochs)


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
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("export", help="generate C for a board from a run or any int8 .tflite")
    p.add_argument("--board", default="nrf52840", help="board name from boards.yaml (default: nrf52840)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run folder written by `tinyasc train`")
    source.add_argument("--tflite", help="any full-int8 .tflite file")
    p.add_argument("--name", help="export folder name (default: the run's or the file's name)")
    p.add_argument("--out", default="export", help="export root folder (default: export)")
    p.add_argument("--sample-rate", type=int, help="audio rate the model takes, in Hz, recorded in the manifest "
                   "and model.h (a run's own rate is used with --run; a bare --tflite has none unless given)")
    p.add_argument("--test-vectors", type=int, default=4, help="inputs embedded in the firmware for its self-check (default: 4)")
    p.add_argument("--sparse", choices=("auto", "never", "always"), default="auto",
                   help="sparse weights for pruned conv/dense layers: where they pay off (auto, default), never, "
                        "or wherever a sparse kernel applies (always)")
    p.add_argument("--ws-kernel", choices=("auto", "integral", "direct"), default="auto",
                   help="WSNet WS_CONV layers: integral image or direct conv on the sampled kernel; "
                        "auto (default) picks the cheaper per layer from the op counts")
    p.set_defaults(func=_cmd_export)


def _add_device_commands(sub) -> None:
    """Verify, build, emulate, flash: the generated C on the host, in QEMU and on a board."""
    p = sub.add_parser("verify", help="build the generated C for this machine with sanitizers; compare with TFLM bit for bit")
    p.add_argument("export_dir")
    p.add_argument("--random", type=int, default=100, help="random int8 inputs to compare (default: 100)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("build", help="cross-compile the firmware with arm-none-eabi-gcc; flash and RAM report")
    p.add_argument("export_dir")
    p.add_argument("--project", action="store_true", help="also build project/ (the real part's memory map) with CMake, for `tinyasc flash`")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("emulate", help="run the firmware in the board's QEMU twin: bit-exact check, instructions per inference")
    p.add_argument("export_dir")
    p.add_argument("--timeout", type=float, default=300, help="seconds before QEMU is stopped (default: 300)")
    p.add_argument("--profile", action="store_true",
                   help="also build and run a per-op profiling variant; print instructions per layer (manifest 'profile')")
    p.add_argument("--audio", metavar="PATH",
                   help="run audio through the firmware's own PCM front-end and network instead of the self-test: "
                        "a WAV (or any soundfile-readable file), a folder of class sub-folders, or a labels CSV "
                        "(path,label[,split]); prints predictions, accuracy / macro-F1 / confusion when labelled, "
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
    p.add_argument("--out", default="benchmarks/results", help="where bench.json and bench.csv go (default: benchmarks/results)")
    p.add_argument("--boards", nargs="+", help="boards to run (default: cortex-m3 nrf52840 cortex-m7 nrf5340-app corstone-300)")
    p.add_argument("--models", nargs="+", help="bench models to run (default: the whole suite, tinyasc/bench.py SUITE)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("summary", help="parameters, non-zeros, MACs per second of audio and sizes of a model, per layer, vs the DCASE limits")
    p.add_argument("model", metavar="RUN_OR_TFLITE",
                   help="a run folder (its sample rate and features are used), an export folder, or an int8 .tflite")
    p.add_argument("--sample-rate", type=int, help="audio rate of a bare .tflite's raw-waveform input, in Hz "
                   "(without it, and without --seconds, only per-inference figures are given)")
    p.add_argument("--seconds", type=float, help="seconds of audio per inference (default: from the run, "
                   "else input length / --sample-rate)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("demo", help="train, quantize, export, build and emulate on the built-in synthetic data")
    p.add_argument("--work-dir", default=".", help="where runs/ and export/ go (default: .)")
    p.add_argument("--board", default="nrf52840")
    p.add_argument("--epochs", type=int, default=12)
    p.set_defaults(func=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyasc",
        description="Acoustic scene and sound event classifiers from audio files to Cortex-M firmware.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tinyasc {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_training_commands(sub)
    _add_device_commands(sub)
    _add_report_commands(sub)
    return parser


def _version() -> str:
    from tinyasc import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from tinyasc.errors import TinyascError

    try:
        return args.func(args)
    except TinyascError as e:
        print(f"tinyasc {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tinyasc {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
