"""Ship boards.yaml and firmware_templates/ inside the wheel.

Both stay at the repo root (the README, the Makefile and other tools point there); `build_py` copies
them into `tinyasc/_shipped/` of the build tree only, so an installed wheel finds them next to its code
(tinyasc/paths.py) and a checkout never has two copies to keep in step.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("boards.yaml", "firmware_templates")


class BuildWithShippedData(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "tinyasc" / "_shipped"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in SHIPPED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildWithShippedData})
