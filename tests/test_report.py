"""`tinyasc report`: the HTML of a real export (built, emulated in QEMU, profiled per layer), with
every section present, its plots embedded, and rendered by headless Chromium into a non-blank
screenshot of the requested size."""

import base64
import io
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinyasc.cli import main
from tinyasc.compile.export import export_model
from tinyasc.emulate.profile import profile_firmware
from tinyasc.emulate.qemu import run_firmware
from tinyasc.errors import TinyascError
from tinyasc.firmware.build import build_firmware
from tinyasc.artifacts.manifest import read_manifest, update_manifest
from tinyasc.report.html import SECTIONS, render_report

SCREEN = (1200, 2000)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# What the demo stores after measuring the test set (made-up counts: 2 of 20 misclassified).
EVALUATION = {"accuracy": {"float": 0.95, "int8 host": 0.9, "int8 QEMU": 0.9},
              "labels": ["dog", "rain", "siren", "wind"],
              "confusion_matrix": [[5, 0, 0, 0], [1, 4, 0, 0], [0, 0, 5, 0], [0, 1, 0, 4]]}


@pytest.fixture(scope="module")
def measured_export(tiny_cnn_tflite, tmp_path_factory):  # noqa: F811
    export = export_model(tiny_cnn_tflite, board_name="stm32f405", name="tiny",
                          out_root=tmp_path_factory.mktemp("report"))
    build_firmware(export.export_dir)
    assert run_firmware(export.export_dir).passed
    profile_firmware(export.export_dir)
    update_manifest(export.export_dir, "evaluation", EVALUATION)
    return export.export_dir


@pytest.fixture(scope="module")
def report_html(measured_export):
    assert main(["report", str(measured_export)]) == 0
    return (measured_export / "report.html").read_text()


def embedded_pngs(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(data)))
            for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_has_every_section_with_the_manifests_figures(report_html, measured_export):
    manifest = read_manifest(measured_export)
    for section in SECTIONS:
        assert f'<section id="{section}">' in report_html, section
    assert "tinyasc report: tiny on stm32f405" in report_html
    assert f"{manifest['export']['macs']:,}" in report_html
    assert f"{manifest['emulation']['instructions_per_inference']:,}" in report_html
    assert "0.9500" in report_html and "int8 QEMU" in report_html
    for layer in manifest["profile"]["layers"]:  # per-layer instructions from the profile run
        assert f"{layer['instructions']:,}" in report_html
    build = manifest["build"]
    assert f"<td class=\"n\">{build['flash_limit']:,}</td>" in report_html
    assert "arm-none-eabi-gcc" in report_html and manifest["versions"]["tflite-micro"] in report_html
    assert "Image linked at the board's own addresses: yes" in report_html


def test_report_is_self_contained_with_three_embedded_plots(report_html):
    assert "http://" not in report_html and "https://" not in report_html
    assert "<script" not in report_html and "<link" not in report_html
    plots = embedded_pngs(report_html)
    assert len(plots) == 3  # confusion matrix, arena plan, flash/RAM
    for plot in plots:
        assert plot.format == "PNG" and plot.width > 200 and plot.height > 100


def test_headless_chromium_renders_a_non_blank_page_of_the_requested_size(measured_export,
                                                                          report_html, tmp_path):
    screenshot = tmp_path / "report.png"
    subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--screenshot={screenshot}",
                    f"--window-size={SCREEN[0]},{SCREEN[1]}",
                    (measured_export / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = Image.open(screenshot)
    assert image.format == "PNG" and image.size == SCREEN
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    # Text, tables and plots: many dark pixels, in the top and the bottom half of the page.
    dark = pixels < 128
    assert dark[: SCREEN[1] // 2].mean() > 0.01 and dark[SCREEN[1] // 2:].mean() > 0.002
    assert pixels.std() > 20


def test_report_of_an_export_not_yet_built_says_what_to_run(tiny_cnn_tflite, tmp_path):  # noqa: F811
    export = export_model(tiny_cnn_tflite, board_name="microbit-v1", out_root=tmp_path)
    page = render_report(export.export_dir)
    assert "Not built yet: run <code>tinyasc build</code>" in page
    assert "not measured: run <code>tinyasc emulate</code>" in page
    assert 'No accuracy in the manifest' in page and len(embedded_pngs(page)) == 1


def test_report_of_a_folder_that_is_not_an_export_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(TinyascError, match="is not an export folder"):
        render_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    assert "tinyasc report: error:" in capsys.readouterr().err


def test_report_shows_accuracy_by_level_for_float_int8_host_and_qemu(measured_export, tmp_path):
    import shutil

    from tinyasc.report.html import level_rows

    export_dir = tmp_path / "tiny"
    shutil.copytree(measured_export, export_dir)
    buckets = {"quiet": {"clips": 4, "accuracy": 0.25, "range": "RMS < -45 dBFS"},
               "medium": {"clips": 0, "accuracy": None, "range": "-45 to -30 dBFS"},
               "loud": {"clips": 6, "accuracy": 0.8333, "range": "RMS >= -30 dBFS"}}
    update_manifest(export_dir, "run", {
        "float_test_accuracy": 0.7, "int8_test_accuracy": 0.6, "quantization": "ptq", "ptq_input_range": "p99.9",
        "accuracy_by_level": {"float": buckets, "int8_host": {**buckets, "quiet": {**buckets["quiet"], "accuracy": 0.125}}}})
    page = render_report(export_dir)
    table = page[page.index('<table id="accuracy-by-level">'):]
    table = table[:table.index("</table>")]
    assert "float (Keras" in table and "int8 host (TFLM" in table and "int8 QEMU" not in table, "no audio run yet"
    assert "0.2500 (4 clips)" in table and "0.1250 (4 clips)" in table and "- (0 clips)" in table
    assert "PTQ input range kept: p99.9" in page
    rows = level_rows(None, {"machine": "netduino2", "accuracy_by_level": buckets})
    assert [row["what"] for row in rows] == ["int8 QEMU (netduino2, emulate --audio)"]


# ---- the per-tensor memory plan and RAM with the measured stack ------------------------------------

GOLDEN_DS_CNN = Path(__file__).resolve().parent / "fixtures" / "golden" / "ds_cnn_tiny.tflite"


def html_table(page: str, table_id: str) -> list[list[str]]:
    """The cells of each data row of the table with that id, tags stripped, thousands commas dropped."""
    table = page[page.index(f'<table id="{table_id}">'):]
    table = table[:table.index("</table>")]
    return [[re.sub(r"<[^>]+>", "", cell).replace(",", "").strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.DOTALL) if "<td" in row]


def test_the_tensor_plan_table_is_the_manifests_plan_with_its_in_place_ops_and_row_stream_segments(tmp_path):
    """DS-CNN's depthwise convs run as row streams: in place, one output placed inside its buffer."""
    export = export_model(GOLDEN_DS_CNN, board_name="nrf52840", out_root=tmp_path)
    plan = read_manifest(export.export_dir)["export"]["memory_plan"]
    page = render_report(export.export_dir)
    rows = html_table(page, "tensor-plan")
    shown = sorted((int(r[0][1:]), int(r[2]), int(r[3]), int(r[5].split()[0]), int(r[6].split()[0]))
                   for r in rows if r[0] != "scratch")
    assert shown == sorted((t["tensor"], t["offset"], t["bytes"], t["first_op"], t["last_op"]) for t in plan["tensors"])
    scratch = [b for b in plan["buffers"] if b.get("scratch_op") is not None and b["storage"] == "arena"]
    assert len(scratch) > 0 and sum(r[0] == "scratch" for r in rows) == len(scratch)
    in_place = {int(r[0][1:]) for r in rows if "written in place" in r[7]}
    assert plan["in_place_ops"] and in_place == set(plan["in_place_ops"].values())
    inside = [segment[3] for b in plan["buffers"] if b["storage"] == "arena" for segment in b["segments"] if segment[3]]
    assert inside, "this model has a row-stream output placed inside its buffer"
    assert sorted(int(re.search(r"\+(\d+) B", r[7]).group(1)) for r in rows if "row-stream segment" in r[7]) == sorted(inside)
    assert f"lower bound {plan['lower_bound_bytes']:,} B" in page and f"{plan['arena_bytes']:,} bytes" in page


def test_ram_counts_the_measured_stack_high_water_mark(report_html, measured_export):
    from tinyasc.artifacts.boards import get_board
    from tinyasc.firmware.size import size_report

    emulation = read_manifest(measured_export)["emulation"]
    ram, sizes = emulation["ram"], size_report(measured_export / "build" / "firmware.elf")
    assert ram["static_bytes"] == sizes["data"] + sizes["bss"] and ram["arena_bytes"] == sizes["arena_bytes"]
    assert ram["frontend_bytes"] == 0, "a model without a PCM front-end"
    assert 0 < ram["stack_used_bytes"] == emulation["stack_used"] < ram["stack_reserved_bytes"] == sizes["stack"]
    assert ram["used_bytes"] == ram["static_bytes"] + ram["stack_used_bytes"]
    assert ram["free_bytes"] == get_board("stm32f405").ram_size - ram["used_bytes"] > ram["free_linked_bytes"]
    rows = {r[0]: r for r in html_table(report_html, "memory")}
    measured = rows["RAM (stack: measured high-water mark)"]
    assert (int(measured[1]), int(measured[3])) == (ram["used_bytes"], ram["free_bytes"])
    assert f"stack {ram['stack_used_bytes']}" in measured[5]
    assert int(rows["RAM (stack: as reserved)"][1]) == sizes["ram"]
