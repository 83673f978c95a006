# Two commands do all set-up on a fresh Debian machine (root): `make demo` and `make test`.
# Set-up is idempotent: apt-get runs only when a tool is missing, the venv is rebuilt only when
# requirements.lock or pyproject.toml change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
# cmake builds the real-board project (tests/test_project.py); chromium renders the HTML report
# headless (tests/test_report.py).
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm cmake chromium

.PHONY: setup system-deps demo test clean

setup: system-deps $(STAMP)

system-deps:
	@if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null \
	    || ! command -v cmake >/dev/null || ! command -v chromium >/dev/null \
	    || ! dpkg -s libnewlib-arm-none-eabi >/dev/null 2>&1; then \
	  echo "installing $(APT_PACKAGES) with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

# Two steps (DESIGN §3): the pinned stack, then tf-keras and TF-MOT without their dependencies,
# which would otherwise pull the full `tensorflow` wheel next to tensorflow-cpu.
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps tf-keras==2.21.0 tensorflow-model-optimization==0.8.1
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: setup
	$(VENV)/bin/tinyasc demo

test: setup
	$(PY) -m pytest -q -ra

clean:
	rm -rf $(VENV) export/*/ runs/
