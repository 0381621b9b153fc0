# reencoder: install, demo, tests, data, training.  `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data/cache

.PHONY: help install demo lint test data train-ae manifest clean

help:
	@echo "make demo      install into $(VENV) and upsample a shipped example"
	@echo "make test      install into $(VENV), lint, and run the tests"
	@echo "make data      install Debian music + render MIDI into $(DATA)"
	@echo "make train-ae  train (or resume) the autoencoder on $(DATA)"
	@echo "make manifest  rewrite weights/MANIFEST.json"
	@echo "TORCH=...      override the torch requirement (default $(TORCH))"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(STAMP)

demo: install
	@mkdir -p out
	$(BIN)/reencoder upsample examples/northerners_10s_22k.flac out/northerners_10s_44k.wav --overwrite
	@echo "output: out/northerners_10s_44k.wav"

lint: install
	$(BIN)/ruff check reencoder_cli tests benchmarks examples
	$(BIN)/ruff format --check reencoder_cli tests benchmarks examples

test: lint
	$(BIN)/python -m pytest

data: install
	$(BIN)/pip install -q -e ".[data]"
	$(BIN)/reencoder data build --root $(DATA)

train-ae: install
	$(BIN)/reencoder train autoencoder --data $(DATA) --run runs/ae

manifest: install
	$(BIN)/python -c "from reencoder_cli.weights import update_manifest; update_manifest()"

clean:
	rm -rf $(VENV) out .pytest_cache
