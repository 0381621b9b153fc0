# reencoder: install, demo, tests, data, training.  `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
# the package's extras installed into $(VENV); CI adds ray (.ci/run)
EXTRAS ?= dev
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data/cache
# 120 rendered pieces: the shipped weights' data (weights/logs/*/data-list.csv)
MIDI_PIECES ?= 120
LATENTS ?= data/latents
HOURS  ?= 2
VALID_HOURS ?= 0.3
MINUTES ?= 15
# extra `reencoder train autoencoder` options, e.g. AE_ARGS="--gan-start 1000000 --lr 1e-4"
AE_ARGS ?=
TRAIN  := OMP_WAIT_POLICY=PASSIVE nice -n 10 $(BIN)/reencoder train

.PHONY: help install demo lint test data train-ae train-latents train-modules train-module-m train-raw train-decoder gpu-pack gpu-slim ship manifest clean

help:
	@echo "make demo      install into $(VENV) and upsample a shipped example"
	@echo "make test      install into $(VENV), lint, and run the tests"
	@echo "make data      install Debian music + render MIDI into $(DATA)"
	@echo "make train-ae  train (or resume) the autoencoder on $(DATA), niced; options in AE_ARGS"
	@echo "make train-latents  encode $(HOURS) h per split of $(DATA) with weights/autoencoder"
	@echo "make train-modules  train every latent module, at most $(MINUTES) min each (PATIENCE, VALIDATE; -j2 THREADS=1: two at once)"
	@echo "make train-module-m the M bandwidth module, the same MINUTES as bwe-s"
	@echo "make train-raw      train the raw-audio baseline, $(MINUTES) min"
	@echo "make train-decoder  the autoencoder's decoder alone (encoder and modules kept), latent noise up to NOISE, $(MINUTES) min"
	@echo "make gpu-pack  Opus excerpts of $(DATA) + wheels in data/, to carry to a GPU (scripts/gpu_train_ae.sh)"
	@echo "make gpu-slim  leave the module weights out of the tree sent to a GPU (git checkout -- weights)"
	@echo "make ship RUN=runs/x FILE=x NAME=y [LIST=cache] [LOGS=dir]  copy RUN/FILE.safetensors to weights/NAME + its logs (weights/logs/NAME)"
	@echo "make manifest  rewrite weights/MANIFEST.json"
	@echo "TORCH=...      override the torch requirement (default $(TORCH))"
	@echo "EXTRAS=...     the package extras to install (default $(EXTRAS); e.g. dev,ray for the Ray test)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

demo: install
	@mkdir -p out
	$(BIN)/reencoder upsample examples/northerners_10s_22k.flac out/northerners_10s_44k.wav --overwrite
	@echo "output: out/northerners_10s_44k.wav"

lint: install
	$(BIN)/ruff check reencoder_cli tests benchmarks examples
	$(BIN)/ruff format --check reencoder_cli tests benchmarks examples
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

data: install
	$(BIN)/pip install -q -e ".[data]"
	$(BIN)/reencoder data build --root $(DATA) --midi-pieces $(MIDI_PIECES)

train-ae: install
	$(TRAIN) autoencoder --data $(DATA) --run runs/ae $(AE_ARGS)

train-latents: install
	$(TRAIN) latents --data $(DATA) --out $(LATENTS) --hours $(HOURS) --valid-hours $(VALID_HOURS)

# Every bandwidth module and the raw-audio baseline get the same budget: at most MINUTES of
# wall-clock, stopped earlier once PATIENCE validations (every VALIDATE minutes) in a row bring
# no new best, the exported weights being the best validation's; the same 200-step warm-up as
# the baseline's. Stereo (no raw competitor) gets twice the minutes. Modules are tied to one
# latent space (the autoencoder's encoder): after the encoder changes (a --decoder-only run
# keeps it), run train-latents and train-modules again, with the old runs/<module> folders
# moved away (a run folder resumes its checkpoint). `make -j2 train-modules THREADS=1` trains
# two at a time. train-module-m trains the M bandwidth module with bwe-s's budget (equal wall-clock).
PATIENCE ?= 0
VALIDATE ?= 10
THREADS  ?= 2
MODULE := $(TRAIN) module --latents $(LATENTS) --warmup 200 --threads $(THREADS) \
	--patience $(PATIENCE) --validate-minutes $(VALIDATE)
MODULES := bwe-s stereo-s bwe-s-l1 flow-s
.PHONY: $(addprefix train-,$(MODULES))
train-modules: $(addprefix train-,$(MODULES))
train-bwe-s: install
	$(MODULE) bwe --disc-start 150 --run runs/bwe-s --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/bwe-s FILE=bwe NAME=bwe-s
train-stereo-s: install
	$(MODULE) stereo --run runs/stereo-s --minutes $$(awk 'BEGIN { print 2 * $(MINUTES) }')
	$(MAKE) ship RUN=runs/stereo-s FILE=stereo NAME=stereo-s
train-bwe-s-l1: install
	$(MODULE) bwe --l1-only --run runs/bwe-s-l1 --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/bwe-s-l1 FILE=bwe NAME=bwe-s-l1
train-flow-s: install
	$(MODULE) flow --run runs/flow-s --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/flow-s FILE=flow NAME=flow-s

train-module-m: install
	$(MODULE) bwe --size M --disc-start 150 --run runs/bwe-m --minutes $(MINUTES)
	$(MAKE) ship RUN=runs/bwe-m FILE=bwe NAME=bwe-m

# The raw-audio baseline does not depend on the autoencoder: train it with the bandwidth modules' budget.
train-raw: install
	$(TRAIN) raw --data $(DATA) --run runs/rawbwe --minutes $(MINUTES) --threads $(THREADS) \
		--patience $(PATIENCE) --validate-minutes $(VALIDATE)
	$(MAKE) ship RUN=runs/rawbwe FILE=rawbwe NAME=rawbwe LIST=$(DATA)

# The decoder alone, from weights/autoencoder: the encoder, so the latent space and every module,
# stay as they are. Latent noise up to NOISE x each frame's RMS on half the items makes the decoder
# forgive a latent module's imperfect output, at some cost on clean latents (0: none).
NOISE ?= 0.1
train-decoder: install
	$(TRAIN) autoencoder --data $(DATA) --run runs/ae-dec-$(NOISE) --init autoencoder --decoder-only \
		--latent-noise $(NOISE) --gan-start 1000000000 --minutes $(MINUTES) --threads $(THREADS) \
		--validate-minutes $(VALIDATE) --checkpoint-minutes 5

# What a lent GPU machine lacks (Python 3.12 there), pinned to the versions of this venv.
GPU_WHEELS := soundfile==0.14.0 soxr==1.1.0 cffi==2.1.1 pycparser==3.12 auraloss==0.4.0 librosa==0.11.0 \
	audioread==3.1.0 decorator==5.3.1 pooch==1.9.0 platformdirs==4.14.5
# Fewer minutes at a rate well above what the autoencoder aims for (Opus 96 kbps: mel-D 0.13),
# so the carried music does not cap what it teaches; with the code, the autoencoder and the
# wheels, under the device's 64 MiB
PACK_MINUTES ?= 40
PACK_KBPS ?= 96

gpu-pack: install
	rm -rf data/pack
	$(BIN)/reencoder data pack data/pack --root $(DATA) --minutes $(PACK_MINUTES) --kbps $(PACK_KBPS)
	$(BIN)/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d data/wheels $(GPU_WHEELS)
	@du -sh data/pack data/wheels

# The device takes 64 MiB of tree in all: the module weights (40 MB) stay behind while the
# autoencoder trains there. `git checkout -- weights` brings them back.
gpu-slim:
	git ls-files 'weights/*.safetensors' | grep -v '^weights/autoencoder' | xargs rm -f
	@git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1

# With its curve, data list (LIST: the cache it trained on; the music cache for the autoencoder
# and the raw baseline) and command, into LOGS (a decoder-only fine-tune: a folder of its own under
# the autoencoder's, which keeps the main run's). The manifest is rewritten under a lock: two
# modules trained at once may ship together.
LIST ?= $(LATENTS)
LOGS ?= weights/logs/$(NAME)
ship:
	cp $(RUN)/$(FILE).safetensors weights/$(NAME).safetensors
	mkdir -p $(LOGS)
	cp $(RUN)/log.csv $(RUN)/loss.png $(LOGS)/
	$(BIN)/reencoder data list $(LIST) > $(LOGS)/data-list.csv
	$(BIN)/python -c "from reencoder_cli.io.modelfile import read_meta; \
		print(read_meta('weights/$(NAME).safetensors').train['command'])" > $(LOGS)/command.txt
	flock weights/.manifest.lock $(MAKE) manifest

manifest: install
	$(BIN)/python -c "from reencoder_cli.io.weights import update_manifest; update_manifest()"

clean:
	rm -rf $(VENV) out .pytest_cache
