# reencoder: install, demo, tests, data, training.  `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data/cache
LATENTS ?= data/latents
HOURS  ?= 2
VALID_HOURS ?= 0.3
MINUTES ?= 15
TRAIN  := OMP_WAIT_POLICY=PASSIVE nice -n 10 $(BIN)/reencoder train

.PHONY: help install demo lint test data train-ae train-latents train-modules train-raw ship manifest clean

help:
	@echo "make demo      install into $(VENV) and upsample a shipped example"
	@echo "make test      install into $(VENV), lint, and run the tests"
	@echo "make data      install Debian music + render MIDI into $(DATA)"
	@echo "make train-ae  train (or resume) the autoencoder on $(DATA)"
	@echo "make train-latents  encode $(HOURS) h per split of $(DATA) with weights/autoencoder"
	@echo "make train-modules  train every latent module, $(MINUTES) min each"
	@echo "make train-raw      train the raw-audio baseline, $(MINUTES) min"
	@echo "make ship RUN=runs/x FILE=x NAME=y  copy RUN/FILE.safetensors to weights/NAME + its logs"
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

train-latents: install
	$(TRAIN) latents --data $(DATA) --out $(LATENTS) --hours $(HOURS) --valid-hours $(VALID_HOURS)

# Same wall-clock budget for every module and for the raw-audio baseline (issue 4). Modules are
# tied to one autoencoder: after it changes, run train-latents and train-modules again (a run
# folder resumes its checkpoint, so move the old runs/<module> folders away first).
train-modules: install
	$(TRAIN) module bwe --disc-start 400 --latents $(LATENTS) --run runs/bwe-s --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/bwe-s FILE=bwe NAME=bwe-s
	$(TRAIN) module stereo --latents $(LATENTS) --run runs/stereo-s --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/stereo-s FILE=stereo NAME=stereo-s
	$(TRAIN) module bwe --l1-only --latents $(LATENTS) --run runs/bwe-s-l1 --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/bwe-s-l1 FILE=bwe NAME=bwe-s-l1
	$(TRAIN) module flow --latents $(LATENTS) --run runs/flow-s --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/flow-s FILE=flow NAME=flow-s

# The raw-audio baseline does not depend on the autoencoder: train it once, with MINUTES equal to the modules'.
train-raw: install
	$(TRAIN) raw --data $(DATA) --run runs/rawbwe --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/rawbwe FILE=rawbwe NAME=rawbwe

ship:
	cp $(RUN)/$(FILE).safetensors weights/$(NAME).safetensors
	mkdir -p weights/logs/$(NAME)
	cp $(RUN)/log.csv $(RUN)/loss.png weights/logs/$(NAME)/
	$(MAKE) manifest

manifest: install
	$(BIN)/python -c "from reencoder_cli.weights import update_manifest; update_manifest()"

clean:
	rm -rf $(VENV) out .pytest_cache
