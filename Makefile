# virtualpose_mm — the two commands a newcomer needs:
#   make demo   runs the main job on the embedded default data (installs first)
#   make test   runs the test suite (installs first)
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?= -q -p no:cacheprovider --timeout=900

.PHONY: install test demo demo-train golden clean

install:
	bash tools/install.sh

test: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) -m pytest tests $(PYTEST_ARGS)

demo: install
	bash demo/run_demo.sh

# reproduce the embedded demo checkpoint (VoxelPose for the Shelf rig from virtual scenes;
# about 1.5 h on 2 CPU cores), then run the demo with it
DEMO_TRAIN_DIR ?= work_dirs/voxelpose_shelf_virtual_cpu
demo-train: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PYTHON) tools/train.py \
		configs/voxelpose/voxelpose_shelf_virtual_cpu.py --work-dir $(DEMO_TRAIN_DIR)
	$(PYTHON) tools/misc/publish_model.py $(DEMO_TRAIN_DIR)/epoch_3.pth \
		$(DEMO_TRAIN_DIR)/voxelpose_shelf_virtual_cpu.pth --no-hash
	DEMO_CHECKPOINT=$(DEMO_TRAIN_DIR)/voxelpose_shelf_virtual_cpu.pth bash demo/run_demo.sh

# reproduce the reference-code golden vectors (needs ../shared/data/golden)
golden: install
	$(PYTHON) tools/analysis/check_golden.py ../shared/data/golden/voxelpose/*.pt \
		../shared/data/golden/virtualpose/*.pt ../shared/data/golden/mupots/*.pt ../shared/data/golden/faster_voxelpose/*.pt

clean:
	rm -rf $(VENV) work_dirs demo_output
