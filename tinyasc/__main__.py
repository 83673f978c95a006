"""`python -m tinyasc ...` is the `tinyasc` command (for a checkout on PYTHONPATH, without the script)."""

from tinyasc.cli import main

raise SystemExit(main())
