"""Standard dataset layouts → the one `path,label,split` CSV that `load_csv_dataset` reads.

Each layout keeps its official folds or splits and never puts parts of one recording (ESC-50's
source file, UrbanSound8K's freesound id, TAU's location identifier) on both sides of a split:

- folder:        <root>/<label>/*.wav (any depth below the label folder); stratified 70/15/15.
- esc50:         <root>/meta/esc50.csv, audio in <root>/audio; 5 folds: `test_fold` is test, the
                 next fold is validation, the other three train (the folds already keep each
                 source recording in one fold).
- urbansound8k:  <root>/metadata/UrbanSound8K.csv, audio in <root>/audio/fold<k>/; 10 folds, same
                 rule as ESC-50.
- tau:           TAU Urban Acoustic Scenes 2020/2021 development set: <root>/meta.csv and
                 <root>/evaluation_setup/fold1_train.csv, fold1_evaluate.csv. The official
                 evaluate list is test; validation is carved out of the train list by whole
                 location identifiers (a city-location's segments stay together).
The written CSV holds absolute paths, so it can live anywhere (a run folder); datasets stay read-only.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import numpy as np

from tinyasc.errors import DatasetError
from tinyasc.artifacts.manifest import atomic_write_text

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}
LAYOUTS = ("synthetic", "folder", "esc50", "urbansound8k", "tau")


def _read_table(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetError(f"{path}: metadata file not found; is this the dataset's root folder as downloaded?")
    with open(path, newline="", encoding="utf-8-sig") as f, csv_errors_named(path):
        reader = csv.DictReader(f, delimiter=delimiter)
        check_unique_columns(path, reader.fieldnames or [])
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]


def check_unique_columns(path: Path, header: list[str]) -> None:
    """A header naming a column twice would let its last cell win silently: refuse it."""
    seen: set[str] = set()
    for column in header:
        name = (column or "").strip()
        if name and name in seen:
            raise DatasetError(f"{path}: the header names the column {name[:60]!r} twice; "
                               "keep one (which of the two cells is meant is ambiguous)")
        seen.add(name)


def csv_record_line(reader, row: dict) -> int:
    """The file line a csv.DictReader record starts on: the reader's count is at its last line,
    after any newlines inside quoted fields."""
    inside = sum(value.count("\n") for value in row.values() if isinstance(value, str))
    inside += sum(v.count("\n") for value in row.values() if isinstance(value, list) for v in value)
    return reader.line_num - inside


@contextlib.contextmanager
def csv_errors_named(path: Path):
    """A CSV that is not UTF-8, or that the csv module refuses (a field over 128 KB), is a
    DatasetError naming the file, not a traceback."""
    try:
        yield
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text (byte {error.start} of a read block is "
                           f"{error.object[error.start]:#04x}); save the CSV as UTF-8") from None
    except csv.Error as error:
        raise DatasetError(f"{path}: not a readable CSV ({str(error)[:120]}); fix the file") from None


def _require_columns(rows: list[dict], columns: tuple[str, ...], path: Path) -> None:
    header = set(rows[0]) if rows else set()
    missing = [c for c in columns if c not in header]
    if missing or not rows:
        raise DatasetError(
            f"{path}: expected columns {', '.join(columns)}; missing {', '.join(missing) or 'all rows'}. "
            "Is this the official metadata file?"
        )


def _fold_split(fold: int, test_fold: int, num_folds: int) -> str:
    if fold == test_fold:
        return "test"
    if fold == test_fold % num_folds + 1:
        return "val"
    return "train"


def _check_fold(test_fold: int, num_folds: int, name: str) -> None:
    if not 1 <= test_fold <= num_folds:
        raise DatasetError(f"{name} has folds 1 to {num_folds}; received test_fold={test_fold}")


def _absolute(path: Path) -> str:
    """The file's real path; a symbolic link loop stays as it is (the loader names it as a bad file)."""
    try:
        return str(path.resolve())
    except (RuntimeError, OSError):  # RuntimeError: Python < 3.13's "Symlink loop"
        return str(path.absolute())


def folder_rows(root: Path) -> list[dict]:
    """One subfolder per class; splits are left to the loader's stratified default."""
    root = Path(root)
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    rows = [
        {"path": _absolute(f), "label": c.name}
        for c in classes
        for f in sorted(c.rglob("*"))
        if f.suffix.lower() in AUDIO_SUFFIXES
    ]
    if not rows:
        raise DatasetError(f"{root}: no audio files in class subfolders (expected {root}/<label>/*.wav)")
    return rows


def esc50_rows(root: Path, test_fold: int = 1) -> list[dict]:
    _check_fold(test_fold, 5, "ESC-50")
    meta = Path(root) / "meta" / "esc50.csv"
    rows = _read_table(meta)
    _require_columns(rows, ("filename", "fold", "category"), meta)
    return [
        {
            "path": _absolute(Path(root) / "audio" / r["filename"]),
            "label": r["category"],
            "split": _fold_split(int(r["fold"]), test_fold, 5),
        }
        for r in rows
    ]


def urbansound8k_rows(root: Path, test_fold: int = 10) -> list[dict]:
    _check_fold(test_fold, 10, "UrbanSound8K")
    meta = Path(root) / "metadata" / "UrbanSound8K.csv"
    rows = _read_table(meta)
    _require_columns(rows, ("slice_file_name", "fold", "class"), meta)
    return [
        {
            "path": _absolute(Path(root) / "audio" / f"fold{r['fold']}" / r["slice_file_name"]),
            "label": r["class"],
            "split": _fold_split(int(r["fold"]), test_fold, 10),
        }
        for r in rows
    ]


def tau_rows(root: Path, val_fraction: float = 0.15, seed: int = 0) -> list[dict]:
    root = Path(root)
    meta_path = root / "meta.csv"
    meta = _read_table(meta_path, delimiter="\t")
    _require_columns(meta, ("filename", "scene_label", "identifier"), meta_path)
    identifier = {r["filename"]: r["identifier"] for r in meta}
    train_path = root / "evaluation_setup" / "fold1_train.csv"
    evaluate_path = root / "evaluation_setup" / "fold1_evaluate.csv"
    train, evaluate = _read_table(train_path, "\t"), _read_table(evaluate_path, "\t")
    _require_columns(train, ("filename", "scene_label"), train_path)
    _require_columns(evaluate, ("filename", "scene_label"), evaluate_path)

    # Validation: whole location identifiers, drawn per scene so every class is represented.
    val_groups = set()
    rng = np.random.default_rng(seed)
    groups_by_scene: dict[str, list[str]] = {}
    for r in train:
        group = identifier.get(r["filename"], r["filename"])
        groups_by_scene.setdefault(r["scene_label"], [])
        if group not in groups_by_scene[r["scene_label"]]:
            groups_by_scene[r["scene_label"]].append(group)
    for groups in groups_by_scene.values():
        count = max(1, int(round(len(groups) * val_fraction))) if len(groups) > 1 else 0
        val_groups.update(rng.permutation(groups)[:count].tolist())

    def row(r, split):
        return {"path": _absolute(root / r["filename"]), "label": r["scene_label"], "split": split,
                "device": r["filename"].rsplit("-", 1)[-1].removesuffix(".wav")}

    rows = [row(r, "val" if identifier.get(r["filename"], r["filename"]) in val_groups else "train") for r in train]
    return rows + [row(r, "test") for r in evaluate]


def detect_layout(root: Path) -> str:
    root = Path(root)
    if (root / "meta" / "esc50.csv").is_file():
        return "esc50"
    if (root / "metadata" / "UrbanSound8K.csv").is_file():
        return "urbansound8k"
    if (root / "meta.csv").is_file() and (root / "evaluation_setup").is_dir():
        return "tau"
    return "folder"


def layout_rows(layout: str, root: Path, test_fold: int | None = None) -> list[dict]:
    readers = {
        "folder": lambda: folder_rows(root),
        "esc50": lambda: esc50_rows(root, test_fold or 1),
        "urbansound8k": lambda: urbansound8k_rows(root, test_fold or 10),
        "tau": lambda: tau_rows(root),
    }
    if layout not in readers:
        raise DatasetError(f"unknown dataset layout {layout!r}; expected one of {', '.join(readers)}")
    return readers[layout]()


def write_dataset_csv(rows: list[dict], out_csv: Path) -> Path:
    """The rows as a path,label[,split,...] CSV (absolute paths), written atomically."""
    columns = list(dict.fromkeys(key for r in rows for key in r))
    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join(_csv_field(str(r.get(c, ""))) for c in columns))
    atomic_write_text(Path(out_csv), "\n".join(lines) + "\n")
    return Path(out_csv)


# A cell starting with one of these is a formula to a spreadsheet (CSV injection: a class folder
# named `=HYPERLINK(...)`); written with a leading quote, which `csv_cell_value` removes on reading.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_field(value: str) -> str:
    if value.startswith(FORMULA_STARTS) or (value.startswith("'") and value[1:].startswith(FORMULA_STARTS)):
        value = "'" + value
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_cell_value(text: str) -> str:
    """A cell as written by `write_dataset_csv`, without the quote that neutralised a formula."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS + ("'",)):
        return text[1:]
    return text


def dataset_csv(spec: str, out_dir: Path, test_fold: int | None = None) -> Path:
    """Turn a `--data` value into a CSV for the loader.

    `spec` is a CSV file, a dataset root folder (layout detected), or `LAYOUT:PATH` to name the
    layout (esc50, urbansound8k, tau, folder). The CSV is written to out_dir/dataset.csv.
    """
    layout, _, path = spec.partition(":") if ":" in spec and spec.split(":", 1)[0] in LAYOUTS else ("", "", spec)
    root = Path(path)
    if not layout and root.is_file():
        return root
    if not root.is_dir():
        raise DatasetError(
            f"--data {spec}: no such file or folder; give 'synthetic', 'spoken-digits', a path,label[,split] CSV, or a dataset "
            f"root ({', '.join(LAYOUTS[1:])}, optionally as LAYOUT:PATH)"
        )
    rows = layout_rows(layout or detect_layout(root), root, test_fold)
    return write_dataset_csv(rows, Path(out_dir) / "dataset.csv")
