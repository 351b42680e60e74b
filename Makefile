# Two commands on a fresh clone:  `make demo` (train + evaluate + promote on the embedded model)  and  `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0   # first: the CPU wheel, so nothing pulls a CUDA build
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) run.py run --config configs/demo.yaml $(ARGS)

test: setup
	$(PY) -m pytest

.PHONY: setup demo test
