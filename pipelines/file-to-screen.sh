#!/usr/bin/env bash
# A video file, classified frame by frame, shown in a window with the labels overlaid.
#
#   filesrc ! decodebin ! videoconvert ! alexnetclassify ! videoconvert ! autovideosink
#
# Environment: see common.sh (DEVICE, THREADS, TOP_K, INTERVAL, BATCH_SIZE, LABELS,
# ELEMENT_OPTS), plus SINK (default autovideosink; e.g. SINK=kmssink without X/Wayland).
set -euo pipefail
USAGE="usage: $(basename "$0") MODEL.safetensors VIDEO_FILE"
# shellcheck source=pipelines/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exit_if_help "Shows VIDEO_FILE in a window with the top-k labels drawn on each frame." "$@"
model_and_video_args 2 "$@"
check_alexnet_plugin
window_sink

element_args "$model"
file_source "$input"
set -x
exec "$GST_LAUNCH" -e "${SOURCE[@]}" ! "${ELEMENT[@]}" ! videoconvert ! "${sink[@]}"
