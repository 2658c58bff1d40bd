# virtualpose_mm — the two commands a newcomer needs:
#   make demo   runs the main job on the embedded default data (installs first)
#   make test   runs the test suite (installs first)
VENV   ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?= -q -p no:cacheprovider --timeout=900

.PHONY: install test lint demo demo-train demo-train-voxelpose demo-train-virtualpose \
	demo-train-virtualpose-viewcube demo-train-virtualpose-lift \
	demo-train-virtualpose-lift-long demo-train-virtualpose-lift-peaks \
	demo-train-virtualpose-lift-maskdepth demo-train-virtualpose-refsigma \
	demo-train-virtualpose-refsigma-wide golden clean

install:
	bash tools/install.sh

test: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) -m pytest tests $(PYTEST_ARGS)

# flake8 over the code, tests and configs (settings: setup.cfg [flake8], 100 columns)
lint: install
	$(PYTHON) -m flake8 virtualpose_mm tools demo tests configs

demo: install
	bash demo/run_demo.sh

# reproduce the embedded demo checkpoint (Faster-VoxelPose for the Shelf rig from virtual
# scenes, seven stages: 3,600 + 4,400 + 3,000 + 4,000 + 5,000 + 4,400 + 4,000 iterations,
# about 10.4 h on one CPU core),
# then run the demo with it; demo-train-voxelpose: the same for the VoxelPose checkpoint
# (about 1.5 h); demo-train-virtualpose: the monocular VirtualPose stage-2 checkpoint
# (about 2 h, float16 storage); demo-train-virtualpose-viewcube: the VirtualPose checkpoint
# with camera-facing pose cubes, its root net started from MONO_ROOT_INIT (default the
# embedded checkpoint of demo-train-virtualpose), then its root net trained alone, then its
# pose net alone (about 1.4 h + 1.6 h + 1.7 h on two threads); demo-train-virtualpose-lift:
# the lifting refiner trained on top of MONO_LIFT_BASE (default the embedded viewcube
# checkpoint; about 1 h on two threads); demo-train-virtualpose-lift-long: that refiner
# trained further on frames of 3-8 people, from MONO_LIFT_LONG_BASE (default the embedded
# lift checkpoint; about 1 h 10 min on two threads); demo-train-virtualpose-lift-peaks:
# that refiner trained on twice as many people again without rendering the AGR, from
# MONO_LIFT_PEAKS_BASE (default the embedded lift-long checkpoint; about 1 h on two threads);
# demo-train-virtualpose-lift-maskdepth: that refiner trained further with the joints that
# have no heatmap peak masked (the lift-mask config, from MONO_LIFT_MASKDEPTH_BASE, default
# the embedded lift-peaks checkpoint; about 50 min on two threads), grafted into that
# checkpoint as its depth refiner; demo-train-virtualpose-refsigma: the two refiners and the
# root net of that checkpoint (from MONO_REFSIGMA_BASE, default the embedded lift-maskdepth
# checkpoint) each trained further alone on AGRs with the reference's σ relative to the
# image (the pose refiner in two runs), then put together with its pose net (about 2 h on
# two threads); demo-train-virtualpose-refsigma-wide: that checkpoint's pose refiner made
# twice as wide (publish_model.py --widen) and trained further, published with the pose
# net's weights stored as int8 (--int8) to stay under 15 MB (from MONO_REFSIGMA_WIDE_BASE,
# default the embedded refsigma checkpoint; about 1 h on two threads)
DEMO_TRAIN_DIR ?= work_dirs/faster-voxelpose_shelf_virtual_cpu
demo-train: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PYTHON) tools/train.py \
		configs/faster_voxelpose/faster-voxelpose_shelf_virtual_cpu.py --work-dir $(DEMO_TRAIN_DIR)
	# stages 2-7, each from the previous stage's last checkpoint (stage:that iteration)
	set -e; prev=$(DEMO_TRAIN_DIR); for si in 2:3600 3:4400 4:3000 5:4000 6:5000 7:4400; do \
		s=$${si%:*}; OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PYTHON) tools/train.py \
			configs/faster_voxelpose/faster-voxelpose_shelf_virtual_cpu_stage$$s.py \
			--work-dir $(DEMO_TRAIN_DIR)_stage$$s \
			--cfg-options load_from=$$prev/iter_$${si#*:}.pth; \
		prev=$(DEMO_TRAIN_DIR)_stage$$s; \
	done
	$(PYTHON) tools/misc/publish_model.py $(DEMO_TRAIN_DIR)_stage7/iter_4000.pth \
		$(DEMO_TRAIN_DIR)/faster-voxelpose_shelf_virtual_cpu.pth --no-hash
	DEMO_MODEL=faster-voxelpose \
	DEMO_CHECKPOINT=$(DEMO_TRAIN_DIR)/faster-voxelpose_shelf_virtual_cpu.pth bash demo/run_demo.sh

VP_TRAIN_DIR ?= work_dirs/voxelpose_shelf_virtual_cpu
demo-train-voxelpose: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PYTHON) tools/train.py \
		configs/voxelpose/voxelpose_shelf_virtual_cpu.py --work-dir $(VP_TRAIN_DIR)
	$(PYTHON) tools/misc/publish_model.py $(VP_TRAIN_DIR)/epoch_3.pth \
		$(VP_TRAIN_DIR)/voxelpose_shelf_virtual_cpu.pth --no-hash
	DEMO_MODEL=voxelpose \
	DEMO_CHECKPOINT=$(VP_TRAIN_DIR)/voxelpose_shelf_virtual_cpu.pth bash demo/run_demo.sh

MONO_TRAIN_DIR ?= work_dirs/virtualpose_virtualcam_cpu
demo-train-virtualpose: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PYTHON) tools/train.py \
		configs/virtualpose/virtualpose_virtualcam_cpu.py --work-dir $(MONO_TRAIN_DIR)
	$(PYTHON) tools/misc/publish_model.py $(MONO_TRAIN_DIR)/iter_3000.pth \
		$(MONO_TRAIN_DIR)/virtualpose_virtualcam_cpu.pth --fp16 --no-hash
	DEMO_MONO_CHECKPOINT=$(MONO_TRAIN_DIR)/virtualpose_virtualcam_cpu.pth bash demo/run_demo.sh

MONO_VC_TRAIN_DIR ?= work_dirs/virtualpose_virtualcam-viewcube_cpu
MONO_ROOT_INIT ?= checkpoints/virtualpose_virtualcam_cpu.pth
demo-train-virtualpose-viewcube: install
	# step 1 (voxel-centre proposals, as the embedded checkpoint was trained)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) tools/train.py \
		configs/virtualpose/virtualpose_virtualcam-viewcube_cpu.py --work-dir $(MONO_VC_TRAIN_DIR) \
		--cfg-options model.root_net.init_cfg.checkpoint=$(MONO_ROOT_INIT) \
		model.root_net.subvoxel=False
	$(PYTHON) tools/misc/publish_model.py $(MONO_VC_TRAIN_DIR)/iter_4000.pth \
		$(MONO_VC_TRAIN_DIR)/virtualpose_virtualcam-viewcube_cpu_step1.pth --fp16 --compact --no-hash
	# steps 2-3 (step:config:last iteration), each from the float16 file of the step
	# before: the root net alone (pose net frozen), then the pose net alone (root net
	# frozen)
	set -e; for sci in 2:root:2000 3:pose:3600; do \
		s=$${sci%%:*}; ci=$${sci#*:}; c=$${ci%:*}; \
		OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) tools/train.py \
			configs/virtualpose/virtualpose_virtualcam-viewcube-$${c}_cpu.py \
			--work-dir $(MONO_VC_TRAIN_DIR)_$$c --cfg-options load_from=$(MONO_VC_TRAIN_DIR)/virtualpose_virtualcam-viewcube_cpu_step$$((s - 1)).pth; \
		$(PYTHON) tools/misc/publish_model.py $(MONO_VC_TRAIN_DIR)_$$c/iter_$${ci#*:}.pth \
			$(MONO_VC_TRAIN_DIR)/virtualpose_virtualcam-viewcube_cpu_step$$s.pth --fp16 --compact --no-hash; \
	done
	cp $(MONO_VC_TRAIN_DIR)/virtualpose_virtualcam-viewcube_cpu_step3.pth \
		$(MONO_VC_TRAIN_DIR)/virtualpose_virtualcam-viewcube_cpu.pth
	DEMO_MONO_CONFIG=configs/virtualpose/virtualpose_virtualcam-viewcube_cpu.py \
	DEMO_MONO_CHECKPOINT=$(MONO_VC_TRAIN_DIR)/virtualpose_virtualcam-viewcube_cpu.pth \
		bash demo/run_demo.sh

# the refiner steps: train CONFIG from BASE into DIR, publish its last iteration (float16,
# deflated) as DIR/CONFIG.pth and run make demo's steps with it.
# $(call mono_refiner_step,CONFIG (configs/virtualpose/ stem),DIR,BASE,LAST_ITERATION)
define mono_refiner_step
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) tools/train.py \
		configs/virtualpose/$(1).py --work-dir $(2) --cfg-options load_from=$(3)
	$(PYTHON) tools/misc/publish_model.py $(2)/iter_$(4).pth $(2)/$(1).pth \
		--fp16 --deflate --no-hash
	DEMO_MONO_CONFIG=configs/virtualpose/$(1).py DEMO_MONO_CHECKPOINT=$(2)/$(1).pth \
		bash demo/run_demo.sh
endef

MONO_LIFT_TRAIN_DIR ?= work_dirs/virtualpose_virtualcam-viewcube-lift_cpu
MONO_LIFT_BASE ?= checkpoints/virtualpose_virtualcam-viewcube_cpu.pth
demo-train-virtualpose-lift: install
	$(call mono_refiner_step,virtualpose_virtualcam-viewcube-lift_cpu,$(MONO_LIFT_TRAIN_DIR),$(MONO_LIFT_BASE),6000)

MONO_LIFT_LONG_TRAIN_DIR ?= work_dirs/virtualpose_virtualcam-viewcube-lift-long_cpu
MONO_LIFT_LONG_BASE ?= checkpoints/virtualpose_virtualcam-viewcube-lift_cpu.pth
demo-train-virtualpose-lift-long: install
	$(call mono_refiner_step,virtualpose_virtualcam-viewcube-lift-long_cpu,$(MONO_LIFT_LONG_TRAIN_DIR),$(MONO_LIFT_LONG_BASE),6000)

MONO_LIFT_PEAKS_TRAIN_DIR ?= work_dirs/virtualpose_virtualcam-viewcube-lift-peaks_cpu
MONO_LIFT_PEAKS_BASE ?= checkpoints/virtualpose_virtualcam-viewcube-lift-long_cpu.pth
demo-train-virtualpose-lift-peaks: install
	$(call mono_refiner_step,virtualpose_virtualcam-viewcube-lift-peaks_cpu,$(MONO_LIFT_PEAKS_TRAIN_DIR),$(MONO_LIFT_PEAKS_BASE),12000)

MONO_LIFT_MASKDEPTH_TRAIN_DIR ?= work_dirs/virtualpose_virtualcam-viewcube-lift-mask_cpu
MONO_LIFT_MASKDEPTH_BASE ?= checkpoints/virtualpose_virtualcam-viewcube-lift-peaks_cpu.pth
demo-train-virtualpose-lift-maskdepth: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) tools/train.py \
		configs/virtualpose/virtualpose_virtualcam-viewcube-lift-mask_cpu.py \
		--work-dir $(MONO_LIFT_MASKDEPTH_TRAIN_DIR) --cfg-options load_from=$(MONO_LIFT_MASKDEPTH_BASE)
	$(PYTHON) tools/misc/publish_model.py $(MONO_LIFT_MASKDEPTH_BASE) \
		$(MONO_LIFT_MASKDEPTH_TRAIN_DIR)/virtualpose_virtualcam-viewcube-lift-maskdepth_cpu.pth \
		--fp16 --deflate --no-hash \
		--graft depth_refiner.=$(MONO_LIFT_MASKDEPTH_TRAIN_DIR)/iter_8000.pth:refiner.
	DEMO_MONO_CONFIG=configs/virtualpose/virtualpose_virtualcam-viewcube-lift-maskdepth_cpu.py \
	DEMO_MONO_CHECKPOINT=$(MONO_LIFT_MASKDEPTH_TRAIN_DIR)/virtualpose_virtualcam-viewcube-lift-maskdepth_cpu.pth \
		bash demo/run_demo.sh

MONO_REFSIGMA_TRAIN_DIR ?= work_dirs/virtualpose_virtualcam-viewcube-lift-refsigma_cpu
MONO_REFSIGMA_BASE ?= checkpoints/virtualpose_virtualcam-viewcube-lift-maskdepth_cpu.pth
demo-train-virtualpose-refsigma: install
	mkdir -p $(MONO_REFSIGMA_TRAIN_DIR)
	# the depth refiner's start: the base's depth refiner as a config's `refiner`
	$(PYTHON) tools/misc/publish_model.py $(MONO_REFSIGMA_BASE) \
		$(MONO_REFSIGMA_TRAIN_DIR)/depth_init.pth --no-hash --drop refiner. \
		--drop depth_refiner. --graft refiner.=$(MONO_REFSIGMA_BASE):depth_refiner.
	set -e; for step in lift-refsigma:pose_refiner:$(MONO_REFSIGMA_BASE) \
		lift-refsigma2:pose_refiner2:$(MONO_REFSIGMA_TRAIN_DIR)/pose_refiner/iter_4000.pth \
		lift-refsigma-depth:depth_refiner:$(MONO_REFSIGMA_TRAIN_DIR)/depth_init.pth \
		refsigma-root:root_net:$(MONO_REFSIGMA_BASE); do \
		cfg=$${step%%:*}; rest=$${step#*:}; \
		OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) tools/train.py \
			configs/virtualpose/virtualpose_virtualcam-viewcube-$${cfg}_cpu.py \
			--work-dir $(MONO_REFSIGMA_TRAIN_DIR)/$${rest%%:*} \
			--cfg-options load_from=$${rest#*:}; done
	$(PYTHON) tools/misc/publish_model.py $(MONO_REFSIGMA_TRAIN_DIR)/root_net/iter_1000.pth \
		$(MONO_REFSIGMA_TRAIN_DIR)/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth \
		--fp16 --deflate --no-hash --drop refiner. --drop depth_refiner. \
		--graft refiner.=$(MONO_REFSIGMA_TRAIN_DIR)/pose_refiner2/iter_5000.pth:refiner. \
		--graft depth_refiner.=$(MONO_REFSIGMA_TRAIN_DIR)/depth_refiner/iter_4000.pth:refiner.
	DEMO_MONO_CONFIG=configs/virtualpose/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py \
	DEMO_MONO_CHECKPOINT=$(MONO_REFSIGMA_TRAIN_DIR)/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth \
		bash demo/run_demo.sh

MONO_REFSIGMA_WIDE_TRAIN_DIR ?= work_dirs/virtualpose_virtualcam-viewcube-lift-refsigma-wide_cpu
MONO_REFSIGMA_WIDE_BASE ?= checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth
demo-train-virtualpose-refsigma-wide: install
	mkdir -p $(MONO_REFSIGMA_WIDE_TRAIN_DIR)
	$(PYTHON) tools/misc/publish_model.py $(MONO_REFSIGMA_WIDE_BASE) \
		$(MONO_REFSIGMA_WIDE_TRAIN_DIR)/refiner-x2.pth --no-hash --widen refiner.=2 --seed 0
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PYTHON) tools/train.py \
		configs/virtualpose/virtualpose_virtualcam-viewcube-lift-refsigma-wide_cpu.py \
		--work-dir $(MONO_REFSIGMA_WIDE_TRAIN_DIR) \
		--cfg-options load_from=$(MONO_REFSIGMA_WIDE_TRAIN_DIR)/refiner-x2.pth
	$(PYTHON) tools/misc/publish_model.py $(MONO_REFSIGMA_WIDE_TRAIN_DIR)/iter_10000.pth \
		$(MONO_REFSIGMA_WIDE_TRAIN_DIR)/virtualpose_virtualcam-viewcube-lift-refsigma-wide_cpu.pth \
		--fp16 --deflate --no-hash --int8 pose_net.
	DEMO_MONO_CONFIG=configs/virtualpose/virtualpose_virtualcam-viewcube-lift-refsigma-wide_cpu.py \
	DEMO_MONO_CHECKPOINT=$(MONO_REFSIGMA_WIDE_TRAIN_DIR)/virtualpose_virtualcam-viewcube-lift-refsigma-wide_cpu.pth \
		bash demo/run_demo.sh

# reproduce the reference-code golden vectors (needs ../shared/data/golden)
golden: install
	$(PYTHON) tools/analysis/check_golden.py ../shared/data/golden/voxelpose/*.pt \
		../shared/data/golden/virtualpose/*.pt ../shared/data/golden/mupots/*.pt ../shared/data/golden/faster_voxelpose/*.pt

clean:
	rm -rf $(VENV) work_dirs demo_output
