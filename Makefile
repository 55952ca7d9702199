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

.PHONY: demo test test-debs bench venv data clean-demo help

help:
	@echo "make demo   train a Fashion-MNIST model on the CPU (~$(MINUTES) min) and write samples, loss plot, GIF"
	@echo "make test   run the test suite"
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

bench: venv data
	$(BIN)/python bench/run_all.py

clean-demo:
	rm -rf $(RUN)
