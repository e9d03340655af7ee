#!/usr/bin/env bash
# A webcam (V4L2), classified live, shown in a window with the labels overlaid.
#
#   v4l2src device=/dev/videoN ! videoconvert ! alexnetclassify ! videoconvert ! autovideosink
#
# Environment: see common.sh (DEVICE, THREADS, TOP_K, INTERVAL, BATCH_SIZE, LABELS,
# ELEMENT_OPTS), plus
#   CAPS  the camera mode to ask for, e.g. CAPS=video/x-raw,width=640,height=480,framerate=30/1
#   SINK  the video sink (default autovideosink; e.g. SINK=kmssink without X/Wayland)
# If the classifier cannot keep up, raise INTERVAL (e.g. INTERVAL=3 classifies every third
# frame and carries the last result on the others).
set -euo pipefail
USAGE="usage: $(basename "$0") MODEL.safetensors [/dev/videoN]   (default /dev/video0)"
# shellcheck source=pipelines/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exit_if_help "Shows the camera live with the top-k labels drawn on each frame." "$@"
(( $# == 1 || $# == 2 )) || usage_error "expected 1 or 2 arguments, got $#"
model=$1 camera=${2:-/dev/video0}
check_model "$model"
if [[ ! -e $camera ]]; then
  shopt -s nullglob
  cams=(/dev/video*)
  if (( ${#cams[@]} )); then
    die "camera '$camera' not found; video devices here: ${cams[*]}"
  else
    die "camera '$camera' not found, and there is no /dev/video* device at all (no camera" \
      "connected, or no access from this container/VM)"
  fi
fi
[[ -c $camera ]] || die "'$camera' is not a video device (not a character device)"
[[ -r $camera && -w $camera ]] || die "no permission to open '$camera' (add yourself to the 'video' group)"
check_alexnet_plugin
check_element v4l2src "install gstreamer1.0-plugins-good"
window_sink

element_args "$model"
caps=()
[[ -z ${CAPS:-} ]] || caps=("$CAPS" !)
set -x
exec "$GST_LAUNCH" -e v4l2src "device=$(quote_prop "$camera")" ! "${caps[@]}" videoconvert \
  ! "${ELEMENT[@]}" ! videoconvert ! "${sink[@]}"
