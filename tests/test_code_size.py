"""A size guard that keeps the house livable: no Python module over MAX_FILE_LINES lines and no
function over MAX_FUNCTION_LINES, in the package and in the benchmarks. Split by meaning when
one grows past them (a stage's helper, a command's parser), not by line count."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def python_files():
    return sorted(p for folder in ("tinyasc", "benchmarks") for p in (REPO / folder).rglob("*.py"))


def test_no_python_file_is_over_the_limit():
    long_files = {str(p.relative_to(REPO)): n for p in python_files()
                  if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert not long_files, f"over {MAX_FILE_LINES} lines: {long_files}"


def test_no_function_is_over_the_limit():
    long_functions = {}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = length
    assert not long_functions, f"over {MAX_FUNCTION_LINES} lines: {long_functions}"

