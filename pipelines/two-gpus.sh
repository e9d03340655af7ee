#!/usr/bin/env bash
# A video file classified on two GPUs at once (device=gpu:0,gpu:1): frames go to both in
# turn and leave in their original order (PARALLEL=model: both GPUs work on every frame,
# each holding half of every layer, the paper's split). Prints one result per frame (as
# headless.sh) and the frames per second.
#
# Needs a CUDA build and the NVIDIA driver; elsewhere the element refuses gpu:N with a clear
# error, which this script passes on. DEVICE overrides the devices, e.g. DEVICE=gpu:0,gpu:0
# (two workers on one GPU) or DEVICE=cpu,cpu (two CPU workers).
set -euo pipefail
USAGE="usage: $(basename "$0") MODEL.safetensors VIDEO_FILE"
DEVICE=${DEVICE:-gpu:0,gpu:1}
# shellcheck source=pipelines/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exit_if_help "Classifies VIDEO_FILE on gpu:0 and gpu:1 together (DEVICE overrides)." "$@"
model_and_video_args 2 "$@"
export DEVICE
if [[ $DEVICE == *gpu* ]] && command -v nvidia-smi >/dev/null 2>&1; then
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
  (( gpus >= 2 )) || printf '%s: warning: nvidia-smi lists %s GPU(s); device=%s needs two\n' \
    "$PROG" "${gpus:-0}" "$DEVICE" >&2
fi
exec "$(dirname "${BASH_SOURCE[0]}")/headless.sh" "$@"
