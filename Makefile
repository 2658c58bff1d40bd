# virtualpose_mm — the two commands a newcomer needs:
#   make demo   runs the main job on the embedded default data (installs first)
#   make test   runs the test suite (installs first)
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?= -q -p no:cacheprovider --timeout=900

.PHONY: install test demo golden clean

install:
	bash tools/install.sh

test: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) -m pytest tests $(PYTEST_ARGS)

demo: install
	bash demo/run_demo.sh

# reproduce the reference-code golden vectors (needs ../shared/data/golden)
golden: install
	$(PYTHON) tools/analysis/check_golden.py ../shared/data/golden/voxelpose/*.pt \
		../shared/data/golden/virtualpose/*.pt ../shared/data/golden/mupots/*.pt

clean:
	rm -rf $(VENV) work_dirs demo_output
