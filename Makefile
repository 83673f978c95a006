# Two commands do all set-up on a fresh Debian machine (root): `make demo` and `make test`.
# Set-up is idempotent: apt-get runs only when a tool is missing, the venv is rebuilt only when
# requirements.lock or pyproject.toml change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
# The demo needs the cross compiler and QEMU; the tests also build the real-board project with
# cmake (tests/test_project.py), render the HTML report in headless chromium (tests/test_report.py) and
# synthesise a slice of the spoken-digits set with espeak-ng (tests/test_spoken_digits.py).
DEMO_APT := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
TEST_APT := $(DEMO_APT) cmake chromium espeak-ng

.PHONY: setup demo-deps test-deps demo test clean

setup: demo-deps $(STAMP)

# apt-get runs only for packages that are not installed yet.
define apt_install_missing
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt-get:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

demo-deps:
	$(call apt_install_missing,$(DEMO_APT))

test-deps:
	$(call apt_install_missing,$(TEST_APT))

# Two steps (DESIGN §3): the pinned stack, then tf-keras and TF-MOT without their dependencies,
# which would otherwise pull the full `tensorflow` wheel next to tensorflow-cpu.
# pip's output goes to .venv/pip.log and is shown only when an install fails.
PIP := $(PY) -m pip install -q --disable-pip-version-check
PIP_LOG := $(VENV)/pip.log
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned Python packages into $(VENV) (log: $(PIP_LOG))"
	@$(PIP) -r requirements.lock > $(PIP_LOG) 2>&1 || { cat $(PIP_LOG); exit 1; }
	@$(PIP) --no-deps tf-keras==2.21.0 tensorflow-model-optimization==0.8.1 >> $(PIP_LOG) 2>&1 || { cat $(PIP_LOG); exit 1; }
	@$(PIP) --no-deps -e . >> $(PIP_LOG) 2>&1 || { cat $(PIP_LOG); exit 1; }
	touch $(STAMP)

demo: setup
	$(VENV)/bin/tinyasc demo

test: setup test-deps
	$(PY) -m pytest -q -ra

clean:
	rm -rf $(VENV) export/*/ runs/
