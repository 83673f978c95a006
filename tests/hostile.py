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

