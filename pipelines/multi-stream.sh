#!/usr/bin/env bash
# Several video files (or camera streams) classified through ONE shared model
# (alexnetclassify model-instance-id=…): frames of all streams are batched together, each
# stream keeps its own order and results. One line per frame on stdout, prefixed with the
# stream's number (0, 1, …):
#
#   stream=1 pts=33333333, label=class_8, label_id=8, confidence=0.645, …, classified=true
#
# or, with VIEW=1, the annotated streams tiled in one window (compositor).
#
#   filesrc ! decodebin ! videoconvert ! alexnetclassify name=stream0 model-instance-id=multi ! …
#   filesrc ! decodebin ! videoconvert ! alexnetclassify name=stream1 model-instance-id=multi ! …
#
# Environment: see common.sh (DEVICE, THREADS, TOP_K, INTERVAL, LABELS, ELEMENT_OPTS);
# BATCH_SIZE defaults to the number of streams; BATCH_TIMEOUT (ms, default 50); VIEW=1.
set -euo pipefail
USAGE="usage: $(basename "$0") MODEL.safetensors VIDEO_FILE [VIDEO_FILE ...]"
# shellcheck source=pipelines/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exit_if_help "Classifies several videos through one shared model; one line per frame (stdout)." "$@"
several_streams_args "$@"
: "${VIEW:=0}"
[[ $VIEW == 0 || $VIEW == 1 ]] || die "VIEW must be 0 or 1, not '$VIEW'"
element_args "$model"
ELEMENT+=(model-instance-id=multi "batch-timeout=$BATCH_TIMEOUT")

args=()
if [[ $VIEW == 1 ]]; then
  window_sink
  cols=$(awk -v n="$n" 'BEGIN {c = int(sqrt(n)); if (c * c < n) c++; print c}')
  args+=(compositor name=mix)
  for ((k = 0; k < n; k++)); do
    args+=("sink_$k::xpos=$((k % cols * 640))" "sink_$k::ypos=$((k / cols * 360))")
  done
  args+=(! videoconvert ! "${sink[@]}")
fi
k=0
for v in "${videos[@]}"; do
  file_source "$v"
  args+=("${SOURCE[@]}" ! "${ELEMENT[@]}" "name=stream$k")
  if [[ $VIEW == 1 ]]; then
    args+=(! videoconvert ! videoscale ! "video/x-raw,width=640,height=360" ! mix.)
  else
    args+=(post-messages=true ! fakesink sync=false)
  fi
  k=$((k + 1))
done

if [[ $VIEW == 1 ]]; then
  echo "$GST_LAUNCH ${args[*]}" >&2
  exec "$GST_LAUNCH" "${args[@]}"
fi
# gst-launch-1.0 -m: keep each stream's alexnet-classification messages, without type
# annotations, prefixed with the stream's number; everything else to stderr.
"$GST_LAUNCH" -m "${args[@]}" |
  sed -u -E 's/(=|[<{] |, )\((guint64|gint64|guint|gint|int|uint|string|gchararray|double|gdouble|float|gfloat|boolean|gboolean)\)/\1/g' |
  awk '
    /^Got message #[0-9]+ from element "stream[0-9]+" \(element\): alexnet-classification[,;]/ {
      match($0, /"stream[0-9]+"/)
      k = substr($0, RSTART + 7, RLENGTH - 8)
      line = $0
      sub(/^[^:]*: alexnet-classification, */, "", line)
      sub(/;$/, "", line)
      print "stream=" k " " line
      fflush()
      next
    }
    /^Got message #/ { next }
    { print > "/dev/stderr" }
  '
