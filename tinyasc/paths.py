"""Where tinyasc finds its own files (templates, boards.yaml): inside the installed package
(`tinyasc/_shipped/`, copied there by setup.py when a wheel is built) or at the root of a checkout."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SHIPPED_DIR = PACKAGE_DIR / "_shipped"
_DATA_ROOT = SHIPPED_DIR if (SHIPPED_DIR / "firmware_templates").is_dir() else REPO_ROOT
TEMPLATES_DIR = _DATA_ROOT / "firmware_templates"
BOARDS_FILE = _DATA_ROOT / "boards.yaml"
