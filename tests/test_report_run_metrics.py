"""The report shows what the training run measured for any export from a run, not only the demo's."""

from tinyasc.compile.export import export_model
from tinyasc.report.html import render_report, report_data


def test_report_shows_the_runs_accuracy_when_there_is_no_evaluation(tiny_cnn_tflite, tmp_path):
    run = {"path": "runs/x", "val_accuracy": 0.8125, "float_test_accuracy": 0.75}
    with_run = export_model(tiny_cnn_tflite, board_name="cortex-m4", out_root=tmp_path, name="with_run",
                            run_metrics=run).export_dir
    assert report_data(with_run)["accuracy"] == {"float, the run's validation split": 0.8125,
                                                 "float, the run's test split": 0.75}
    assert "0.8125" in render_report(with_run)
    bare = export_model(tiny_cnn_tflite, board_name="cortex-m4", out_root=tmp_path, name="bare").export_dir
    assert report_data(bare)["accuracy"] == {}
    assert "export from a run" in render_report(bare)
