#!/usr/bin/env bash
# Faces found by a real detector, each classified: OpenCV's Haar-cascade face detector
# (`facedetect`, Debian: gstreamer1.0-opencv and opencv-data) attaches one
# GstVideoRegionOfInterestMeta per face, and alexnetclassify inference-region=roi-list
# object-class=face classifies each face's box. One line per frame on stdout, as headless.sh
# prints them, with the frame's `objects` (id, roi-type, x, y, width, height, label,
# confidence, ids, labels, scores):
#
#   filesrc ! decodebin ! videoconvert ! facedetect display=false ! videoconvert !
#     alexnetclassify inference-region=roi-list object-class=face post-messages=true ! fakesink
#
# VIDEO_FILE may be a picture (JPEG, PNG): one frame. Environment: as headless.sh.
set -euo pipefail
USAGE="usage: $(basename "$0") MODEL.safetensors VIDEO_FILE"
# shellcheck source=pipelines/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exit_if_help "Classifies every face facedetect finds in VIDEO_FILE; one line per frame (stdout)." "$@"
model_and_video_args 2 "$@"
check_tools
check_element facedetect "Debian: apt install gstreamer1.0-opencv opencv-data"
export BEFORE_ELEMENT="facedetect display=false ! videoconvert"
export ELEMENT_OPTS="inference-region=roi-list object-class=face${ELEMENT_OPTS:+ $ELEMENT_OPTS}"
exec "$(dirname "${BASH_SOURCE[0]}")/headless.sh" "$@"
