# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv (if missing) and install sfcl into it with its dev extras.
PYTHON ?= python3
VENV ?= .venv
TORCH_PKGS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.sfcl-installed

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet $(TORCH_PKGS)
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sfcl demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

clean:
	rm -rf outputs runs .pytest_cache
