"""Reading a user's YAML file (experiment configs, boards files) without trusting it.

`yaml.safe_load` already refuses to build arbitrary objects, but it happily expands an alias bomb
(a few hundred bytes that stand for billions of nodes), recurses until Python's stack runs out on
deeply nested input, lets a repeated key silently replace the first one, and shows raw bytes of a
non-UTF-8 file in a traceback. `load_user_yaml` refuses each of these with one line naming the
file, before anything large is built. Anchors and aliases stay allowed (a boards file may share
settings), as long as the expanded document stays small.

`clip_repr` is how every error message quotes user data: a repr cut to a bounded length.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tinyasc.errors import TinyascError

MAX_FILE_BYTES = 1024 * 1024  # a config or boards file is a few KB
MAX_DEPTH = 50  # mappings and lists nested deeper than this are not a config
MAX_EXPANDED_NODES = 100_000  # nodes after expanding every alias
MAX_REPR_CHARS = 80


def clip_repr(value, limit: int = MAX_REPR_CHARS) -> str:
    """repr(value) cut to `limit` characters, so an error message stays one short line.
    Containers are not walked in full: a huge (or alias-shared) structure costs no more to quote."""
    if isinstance(value, dict):
        text = "{" + ", ".join(f"{clip_repr(k, limit)}: {clip_repr(v, limit)}" for k, v in _first(value.items())) + \
               (", ...}" if len(value) > 4 else "}")
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(clip_repr(v, limit) for v in _first(value)) + (", ...]" if len(value) > 4 else "]")
    else:
        text = repr(value) if not isinstance(value, str) or len(value) <= 4 * limit else repr(value[: 4 * limit])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first(items, count: int = 4):
    for index, item in enumerate(items):
        if index == count:
            return
        yield item


class _CheckedLoader(yaml.SafeLoader):
    """SafeLoader that refuses repeated keys and too deep nesting while composing, and counts the
    nodes the document would expand to before any Python object is built."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels at line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise _Refused(f"the key {clip_repr(key_node.value)} appears twice (lines "
                                       f"{seen[key_node.value] + 1} and {key_node.start_mark.line + 1}); "
                                       "keep one")
                    seen[key_node.value] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


class _Refused(Exception):
    """A structural problem found while loading; turned into the caller's error type."""


def _expanded_size(node, memo: dict) -> int:
    """Nodes in the document with every alias expanded (an alias is the same node object, so
    memoising by identity keeps this linear in the composed size)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a self-referencing alias counts once; safe_load builds it as a cycle
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        size = 1
    memo[key] = size
    return size


def load_user_yaml(path: Path, error: type[TinyascError] = TinyascError, what: str = "YAML file"):
    """The document in `path`, or `error` with one line naming the file and the problem."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise error(f"cannot read the {what} {path} ({e.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise error(f"{path}: larger than {MAX_FILE_BYTES // 1024} KB; a {what} is a few KB of YAML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text (byte {e.start} is {data[e.start]:#04x}); save the {what} as UTF-8") from None
    loader = _CheckedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_EXPANDED_NODES:
            raise _Refused(f"its aliases expand to {size:,} nodes (limit {MAX_EXPANDED_NODES:,}); "
                           "write the values out instead of nesting aliases")
        return loader.construct_document(node)
    except _Refused as e:
        raise error(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        kind = "not valid YAML" if isinstance(e, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise error(f"{path}: {kind}{where}: {clip_repr(problem, 200).strip(chr(39))}; fix the file") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # e.g. a 5,000-digit integer, a bad date
        raise error(f"{path}: a value cannot be read ({clip_repr(str(e), 120)}); fix it") from None
    finally:
        loader.dispose()
