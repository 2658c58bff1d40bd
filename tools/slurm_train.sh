#!/usr/bin/env bash
# Training on a Slurm cluster through the same launcher as dist_train.sh (torchrun):
# srun starts one task per node, each runs tools/dist_train.sh with NNODES, NODE_RANK and
# MASTER_ADDR taken from Slurm.
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [PORT=29500] [SRUN_ARGS=...] \
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
set -e
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
if [ -z "$PARTITION" ] || [ -z "$JOB_NAME" ] || [ -z "$CONFIG" ] || [ -z "$WORK_DIR" ]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py arguments]" >&2; exit 2
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
    "${HERE}/dist_train.sh" "${CONFIG}" ${NPROC} --work-dir="${WORK_DIR}" "${@:5}"
