#!/usr/bin/env bash
# Distributed evaluation with torchrun (MMPose's script, same variables).
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node (see
# dist_train.sh). Without CUDA the processes run on the CPU with gloo.
set -e
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
if [ -z "$CONFIG" ] || [ -z "$CHECKPOINT" ] || [ -z "$GPUS" ]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py arguments]" >&2; exit 2
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
