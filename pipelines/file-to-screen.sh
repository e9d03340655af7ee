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

if help_requested "$@"; then
  printf '%s\n\nShows VIDEO_FILE in a window with the top-k labels drawn on each frame.\n' "$USAGE"
  exit 0
fi
(( $# == 2 )) || usage_error "expected 2 arguments, got $#"
model=$1 input=$2
check_model "$model"
check_input "$input"
check_alexnet_plugin
check_display
: "${SINK:=autovideosink}"
read -r -a sink <<<"$SINK"
check_element "${sink[0]}"

element_args "$model"
file_source "$input"
set -x
exec "$GST_LAUNCH" -e "${SOURCE[@]}" ! "${ELEMENT[@]}" ! videoconvert ! "${sink[@]}"
