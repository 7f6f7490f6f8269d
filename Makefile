# Two commands do everything on a fresh machine: `make train` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOK := notebooks/clase_110_normalizacion.ipynb
TEACHER  := notebooks/clase_110_normalizacion_docente.ipynb
# Tested pins; the project itself admits a range (pyproject.toml).
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: train test data install bench parity experiments notebook clean gpu-bundle gpu-rehearsal

train: $(STAMP) data
	$(BIN)/python scripts/train.py --norm bn --overwrite

test: $(STAMP) data
	$(BIN)/python -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev,ray,notebook]"
	touch $(STAMP)

data:
	@bash scripts/get_data.sh

experiments: $(STAMP) data
	$(BIN)/python scripts/experiment.py all

parity: $(STAMP)
	$(BIN)/python scripts/parity.py

# The notebook's one source is notebooks/clase_110_normalizacion.py (jupytext percent format): teaching.notebooks
# writes the student's edition (cells tagged "solucion" left out) and the teacher's (cells tagged "alumno" left out),
# then papermill executes each on the real data, in place (nothing is opened).
notebook: $(STAMP) data
	$(BIN)/python -m teaching.notebooks notebooks/clase_110_normalizacion.py
	rm -rf notebooks/.corridas
	$(BIN)/papermill $(NOTEBOOK) $(NOTEBOOK) -p DATOS real -p CORRIDAS .corridas --cwd notebooks --kernel python3 --no-progress-bar
	$(BIN)/papermill $(TEACHER) $(TEACHER) -p DATOS real -p CORRIDAS .corridas --cwd notebooks --kernel python3 --no-progress-bar
	rm -rf notebooks/.corridas

bench: $(STAMP) data
	$(BIN)/python scripts/bench.py

# The dataset for the lent GPU machine, which has none: a git-ignored folder that its call carries
# (README, "GPU check"); gpu-rehearsal runs the GPU check here on the CPU in an imitation of that machine.
GPU_BUNDLE := data/gpu-bundle
gpu-bundle: data
	mkdir -p $(GPU_BUNDLE)
	cd $(or $(FASHION_MNIST_DIR),/usr/share/datasets/fashion-mnist) && cp train-images-idx3-ubyte.gz \
	  train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz $(CURDIR)/$(GPU_BUNDLE)/

gpu-rehearsal: $(STAMP) gpu-bundle
	$(BIN)/python scripts/gpu_rehearsal.py

clean:
	rm -rf $(VENV) runs .pytest_cache
