# fromnoise: the two commands of the README, and a few more.
#   make demo   set up .venv, get Fashion-MNIST, train on the CPU for ~10 minutes, sample, write pictures
#   make test   set up .venv if missing, install what the tests need (Debian packages when root, pip extras),
#               lint with ruff, run the test suite: on a fresh Debian machine it passes with no skips
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    ?= runs/demo
MINUTES ?= 10
# What the tests read offline: Fashion-MNIST, the emoji font, clip-art PNGs; chromium for the web page tests.
TEST_DEBS := dataset-fashion-mnist fonts-noto-color-emoji openclipart-png chromium
# pip extras the tests import (dev: pytest, diffusers, the text encoder, the Inception file, pyarrow; web: gradio).
TEST_EXTRAS := dev,web

.PHONY: demo art test test-debs bench venv data clean-demo help

help:
	@echo "make demo   train a Fashion-MNIST model on the CPU (~$(MINUTES) min) and write samples, loss plot, GIF"
	@echo "make test   run the test suite"
	@echo "make art    the flagship: 256x256 clip-art objects from 32 features + a mask (ART_MINUTES=$(ART_MINUTES) minutes, ART_RECIPE=$(ART_RECIPE))"
	@echo "make bench  run the benchmarks under bench/ (long)"

$(BIN)/fromnoise: pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU machines carry exactly this pair
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(BIN)/fromnoise

venv: $(BIN)/fromnoise

# Fashion-MNIST offline from Debian's package; without it, torchvision downloads it when online.
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null \
	      && echo "installed Debian's dataset-fashion-mnist"; \
	  else echo "note: 'sudo apt-get install dataset-fashion-mnist' gives Fashion-MNIST offline; trying the download instead"; fi; \
	fi

demo: venv data
	$(BIN)/fromnoise visualize --dataset fashion-mnist --out $(RUN)/forward_diffusion.png
	$(BIN)/fromnoise train --dataset fashion-mnist --preset fashion --minutes $(MINUTES) --out $(RUN)
	$(BIN)/fromnoise sample $(RUN) --num-images 64 --show-intermediate --out $(RUN)/generated
	@echo
	@echo "Pictures:"
	@echo "  samples grid        $(RUN)/generated/grid.png"
	@echo "  denoising GIF       $(RUN)/generated/denoising.gif"
	@echo "  denoising frames    $(RUN)/generated/denoising.png"
	@echo "  loss plot           $(RUN)/loss.png"
	@echo "  samples during training  $(RUN)/samples/"
	@echo "  forward noising     $(RUN)/forward_diffusion.png"
	@echo "Next: $(BIN)/fromnoise sample $(RUN) --sampler ddpm --steps 1000 -n 16   (or make demo again to train on)"

# Debian packages the tests need: installed when root (apt-get update only if the first try fails),
# otherwise the command to run is printed and the tests that need them will say what is missing.
test-debs:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages for the tests:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    (apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >/dev/null; \
	  else echo "note: the tests need 'sudo apt-get install$$missing' (run 'sudo make test-debs')"; fi; \
	fi

# pip extras, once per pyproject.toml change (the stamp lives inside .venv).
$(VENV)/.test-extras: $(BIN)/fromnoise pyproject.toml
	$(BIN)/python -m pip install -q -e ".[$(TEST_EXTRAS)]"
	@touch $@

# lint first (ruff, configured in pyproject.toml): a few seconds, and it fails before a long test run does
test: venv test-debs $(VENV)/.test-extras
	$(BIN)/ruff check fromnoise tests bench
	$(BIN)/python -m pytest tests

# The flagship (reference 000) on Debian's clip art, features + mask conditioned, ART_MINUTES of wall-clock time
# in all (default: a laptop evening). ART_RECIPE=latent: the autoencoder for a quarter of it (its defaults are the
# measured recipe: 64x64 crops, the squared error, DC-AE shortcuts), then the latent diffusion model on its latents;
# ART_RECIPE=patch: the pixel-space youandme-patch (8x8 patches, x0-prediction) for all of it, no second model.
# Which is the default is measured (bench/flagship_versus.py; bench/results/report.md). Then pictures: generated
# objects beside the held-out originals they were asked to be, and one slider sweep per feature group (its
# representative feature; bench/bench_sliders.py without --features measures all 32).
ART ?= runs/art
ART_MINUTES ?= 120
ART_RECIPE ?= patch
ART_TRAIN ?= 2000
ART_HELDOUT ?= 200
ART_DATA ?= data/clipart$(ART_TRAIN)
ART_AE_MINUTES = $(shell echo "$(ART_MINUTES)" | awk '{print $$1 / 4}')
ART_DIFF_MINUTES = $(shell echo "$(ART_MINUTES)" | awk '{print $$1 * 3 / 4}')
art: venv
	@case "$(ART_RECIPE)" in latent|patch) ;; *) echo "ART_RECIPE=$(ART_RECIPE): give latent or patch" >&2; exit 2;; esac
	@if [ ! -d /usr/share/openclipart ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q openclipart-png >/dev/null || (apt-get update -q && apt-get install -y -q openclipart-png >/dev/null); fi
	$(BIN)/python bench/clipart_dataset.py $(ART_DATA) --size 256 --train $(ART_TRAIN) --heldout $(ART_HELDOUT)
ifeq ($(ART_RECIPE),patch)
	$(BIN)/fromnoise train $(ART_DATA)/train --preset youandme-patch --condition features --mask \
	    --minutes $(ART_MINUTES) --out $(ART)/model
else
	$(BIN)/fromnoise train-autoencoder $(ART_DATA)/train --image-size 256 --channels 4 --factor 4 \
	    --minutes $(ART_AE_MINUTES) --out $(ART)/ae
	$(BIN)/fromnoise train $(ART_DATA)/train --autoencoder $(ART)/ae --condition features --mask \
	    --minutes $(ART_DIFF_MINUTES) --out $(ART)/model
endif
	$(BIN)/python bench/art_pictures.py $(ART)/model $(ART_DATA)/heldout --out $(ART)/pictures
	$(BIN)/python bench/bench_sliders.py --run $(ART)/model --data $(ART_DATA)/train --heldout $(ART_DATA)/heldout \
	    --objects 4 --features temperature shadow_intensity color_uniformity circularity num_holes \
	    --out $(ART)/pictures --name sliders
	@echo
	@echo "Pictures:"
	@echo "  generated beside the originals   $(ART)/pictures/heldout_vs_generated.png"
	@echo "  one slider sweep per group        $(ART)/pictures/sliders_<group>.png (table: sliders.md)"
	@if [ -d $(ART)/ae ]; then echo "  the autoencoder's reconstructions $(ART)/ae/samples/latest.png"; fi
	@echo "Open the page: $(BIN)/fromnoise serve $(ART)/model"

bench: venv data
	$(BIN)/python bench/run_all.py

clean-demo:
	rm -rf $(RUN)
