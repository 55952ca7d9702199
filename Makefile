# fromnoise: the two commands of the README, and a few more.
#   make demo   set up .venv, get Fashion-MNIST, train on the CPU for ~10 minutes, sample, write pictures
#   make test   set up .venv if missing, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    ?= runs/demo
MINUTES ?= 10

.PHONY: demo test bench venv data clean-demo help

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

test: venv
	$(BIN)/python -m pytest tests

bench: venv data
	$(BIN)/python bench/run_all.py

clean-demo:
	rm -rf $(RUN)
