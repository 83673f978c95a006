"""Where tinyasc finds its own files (templates, boards.yaml) in a checkout or an editable install."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
TEMPLATES_DIR = REPO_ROOT / "firmware_templates"

