#!/usr/bin/env bash
# Distributed training with torchrun (MMPose's script, same variables).
#   tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: run it on every node with the same NNODES, MASTER_ADDR and PORT and each
# node's NODE_RANK (0 .. NNODES-1):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 8
# Without CUDA, GPUS processes train on the CPU with the gloo backend (chosen
# automatically; the log says so).
set -e
CONFIG=$1
GPUS=$2
if [ -z "$CONFIG" ] || [ -z "$GPUS" ]; then
  echo "usage: $0 CONFIG GPUS [train.py arguments]" >&2; exit 2
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
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
