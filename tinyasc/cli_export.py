"""The `export` and `verify` commands: compile a run, a .tflite or a saved Keras model into an
export folder, then check its host build against TFLM (kept apart from cli.py to keep it short)."""

from __future__ import annotations

from pathlib import Path


def cmd_export(args) -> int:
    # Only the artifacts and the compiler: a run folder is read without audio or TensorFlow code.
    from tinyasc.artifacts.audio import AudioInput
    from tinyasc.artifacts.run import read_run, training_section
    from tinyasc.compile.export import export_model
    from tinyasc.compile.options import CompileOptions
    from tinyasc.frontend.stream import StreamSettings

    labels, test_inputs, name, tflite, run_metrics = None, None, args.name, args.tflite, None
    audio = AudioInput(sample_rate=args.sample_rate)
    if args.run:
        run = read_run(Path(args.run))
        tflite, labels, test_inputs, audio = run.tflite, list(run.labels), run.test_inputs, run.audio
        if args.sample_rate is not None and args.sample_rate != audio.sample_rate:
            from tinyasc.errors import TinyascError

            raise TinyascError(f"the run was trained at {audio.sample_rate} Hz; leave out --sample-rate {args.sample_rate}")
        name = name or Path(args.run).name
        run_metrics = {"path": str(run.path), **{key: run.summary[key] for key in RUN_METRIC_KEYS if key in run.summary},
                       **training_section(run.summary)}
    if args.keras_model:
        return _export_keras_model(args)
    if tflite is None:
        raise SystemExit("tinyasc export: give --run RUN_DIR, --tflite FILE or --model FILE")
    result = export_model(
        tflite, board_name=args.board, out_root=args.out, name=name, labels=labels,
        test_inputs=test_inputs, num_test_vectors=args.test_vectors, audio=audio,
        options=CompileOptions(sparse=args.sparse, ws_kernel=args.ws_kernel), c_prefix=args.c_prefix,
        stream=StreamSettings(stride_s=args.stream_stride, smoothing=args.stream_smoothing),
        run_metrics=run_metrics,
    )
    return _print_export(result, args)


# What run.json measured that the export's manifest (and so the report) keeps.
RUN_METRIC_KEYS = ("val_accuracy", "float_test_accuracy", "float_test_metrics", "test_clips")


def _export_keras_model(args) -> int:
    import tempfile

    from tinyasc.artifacts.audio import AudioInput
    from tinyasc.compile.export import export_model
    from tinyasc.compile.options import CompileOptions
    from tinyasc.convert.from_file import quantize_model_file
    from tinyasc.errors import TinyascError

    if not args.calibration:
        raise TinyascError("--model needs --calibration DIR: the inputs the int8 quantization is calibrated on")
    model_path = Path(args.keras_model)
    with tempfile.TemporaryDirectory(prefix="tinyasc-quantize-") as work:
        tflite = quantize_model_file(model_path, args.calibration, Path(work) / f"{model_path.stem}.tflite",
                                     sample_rate=args.sample_rate)
        result = export_model(
            tflite, board_name=args.board, out_root=args.out, name=args.name or model_path.stem,
            num_test_vectors=args.test_vectors, audio=AudioInput(sample_rate=args.sample_rate),
            options=CompileOptions(sparse=args.sparse, ws_kernel=args.ws_kernel), c_prefix=args.c_prefix,
        )
    return _print_export(result, args)


def _print_export(result, args) -> int:
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
    if args.verify <= 0:
        return 0
    print(f"host check: the test vectors and {args.verify:,} random inputs, host build vs TFLM "
          "(--verify N to change, 0 to skip) ...", flush=True)
    return _host_check(result.export_dir, args.verify)


def _host_check(export_dir: Path, num_random: int) -> int:
    """The host build of the export against TFLM on its test vectors and `num_random` random inputs."""
    from tinyasc.compile.verify import verify_on_host

    report = verify_on_host(export_dir, num_random=num_random)
    print(
        f"host build (ASan+UBSan, -Wall -Wextra -Werror): {report['bit_exact']}/{report['inputs']} "
        "outputs bit-exact with the TFLM reference interpreter"
    )
    return 0 if report["bit_exact"] == report["inputs"] else 1


def cmd_verify(args) -> int:
    return _host_check(Path(args.export_dir), args.random)
