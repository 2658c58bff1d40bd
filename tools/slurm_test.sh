#!/usr/bin/env bash
# Evaluation on a Slurm cluster through the same launcher as dist_test.sh (torchrun):
# one srun task per node runs tools/dist_test.sh with NNODES, NODE_RANK and MASTER_ADDR
# from Slurm.
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [PORT=29500] [SRUN_ARGS=...] \
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
set -e
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
if [ -z "$PARTITION" ] || [ -z "$JOB_NAME" ] || [ -z "$CONFIG" ] || [ -z "$CHECKPOINT" ]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments]" >&2; exit 2
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
NODES=$(( (GPUS + GPUS_PER_NODE - 1) / GPUS_PER_NODE ))
NPROC=$(( GPUS < GPUS_PER_NODE ? GPUS : GPUS_PER_NODE ))
HERE="$(cd "$(dirname "$0")" && pwd)"

export PORT=${PORT:-29500}
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --nodes=${NODES} \
    --ntasks=${NODES} \
    --ntasks-per-node=1 \
    --gres=gpu:${NPROC} \
    --cpus-per-task=$(( CPUS_PER_TASK * NPROC )) \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    bash -c 'NNODES=$SLURM_NNODES NODE_RANK=$SLURM_NODEID \
        MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1) \
        exec "$0" "$@"' \
    "${HERE}/dist_test.sh" "${CONFIG}" "${CHECKPOINT}" ${NPROC} "${@:5}"
