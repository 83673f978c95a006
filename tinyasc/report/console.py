"""One rich console for every table tinyasc prints."""

import shutil

from rich.console import Console


def wide_console() -> Console:
    """Wide enough for our tables even when stdout is a pipe or a CI log (rich assumes 80)."""
    return Console(width=max(shutil.get_terminal_size((140, 24)).columns, 100))


def training_result_lines(result: dict) -> list[str]:
    """What `tinyasc train` prints at the end: float and int8 test accuracy / log loss, how the int8
    model was made (the PTQ range kept, QAT or not), and accuracy per input-level bucket."""
    from tinyasc.report.levels import level_line

    float_metrics = result["float_test_metrics"]
    int8_metrics = result.get("int8_test_metrics") or result.get("qat_test_metrics") or result["ptq_test_metrics"]
    lines = [f"test set ({float_metrics['recordings']} recordings): accuracy / log loss float "
             f"{float_metrics['accuracy']:.3f} / {float_metrics['log_loss']:.3f}, int8 {result['quantization'].upper()} "
             f"(TFLM interpreter) {int8_metrics['accuracy']:.3f} / {int8_metrics['log_loss']:.3f}"]
    calibration = result.get("ptq_calibration") or {}
    if calibration.get("candidates"):
        tried = ", ".join(
            f"{c['method']} {c['val_accuracy']:.3f} / {c['val_log_loss']:.3f}" if "val_accuracy" in c else c["method"]
            for c in calibration["candidates"])
        lines.append(f"PTQ input ranges (val int8 accuracy / log loss): {tried}; kept {calibration['chosen']}")
    decision = result.get("qat_decision") or {}
    if decision.get("qat_ran"):
        lines.append(f"QAT ran (mode {decision['mode']}); exported the {decision.get('exported', 'qat').upper()} model")
    by_level = result.get("accuracy_by_level") or {}
    for kind, text in (("float", "float"), ("int8_host", "int8 (TFLM)")):
        if by_level.get(kind):
            lines.append(f"accuracy by level ({text}, clip RMS): {level_line(by_level[kind])}")
    return lines
