"""Hostile-input corpus, part 7: what a user hands tinyasc (tests/hostile.py CASES). Odd WAV formats
read correctly or are refused naming the file; label CSVs from spreadsheets (BOM, CRLF, empty lines,
repeats) read; output paths blocked by a file or a read-only folder, symlink loops, boards files
with unknown keys or values C or QEMU cannot take, and usage mistakes are each one line (exit 2).
benchmarks/hostile_table.py runs the same cases into benchmarks/results/hostile_table.md."""

import pytest
from hostile import CASES, MAX_ERROR_CHARS, run_case


@pytest.mark.parametrize("case", CASES, ids=[case.input for case in CASES])
def test_a_hostile_input_is_one_line_naming_it_or_a_correct_run(capsys, tmp_path, case):
    code, out, err, _ = run_case(capsys, case, tmp_path)
    assert code == case.code, (out[-2000:], err[-2000:])
    if case.code == 2:
        assert err.count("\n") == 1 and len(err) < MAX_ERROR_CHARS, err[:2000]
        text = err
    else:
        text = out
    for fragment in case.fragments:
        assert str(fragment) in text, text[-2000:]
