#!/usr/bin/env bash
# A video file, classified frame by frame with no display: one line per frame on stdout,
# taken from the element's "alexnet-classification" bus messages (gst-launch-1.0 -m):
#
#   pts=33000000, label=class_8, label_id=8, confidence=0.645, ids=< 8, 1, 3 >,
#   labels=< class_8, class_1, class_3 >, scores=< 0.645, 0.163, 0.069 >, running-time=33000000,
#   classified=true
#
# (on one line; pts and running-time in ns; strings with spaces or commas come quoted and
# escaped as GStreamer serialises them; classified=false on frames that carried the last
# result, with inference-interval > 1 or after QoS)
#
# and a summary (frames, wall time, frames per second) on stderr.
#
#   filesrc ! decodebin ! videoconvert ! alexnetclassify post-messages=true ! fakesink
#
# Environment: see common.sh (DEVICE, THREADS, TOP_K, INTERVAL, BATCH_SIZE, LABELS,
# ELEMENT_OPTS), plus REALTIME=1 to run at the file's frame rate (default: as fast as
# possible) and BEFORE_ELEMENT, elements put before alexnetclassify (e.g. a detector:
# detect-classify.sh sets "facedetect display=false ! videoconvert").
set -euo pipefail
USAGE="usage: $(basename "$0") MODEL.safetensors VIDEO_FILE"
# shellcheck source=pipelines/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exit_if_help "Prints one classification per frame of VIDEO_FILE (stdout), no display needed." "$@"
model_and_video_args 2 "$@"
check_alexnet_plugin
: "${REALTIME:=0}"
[[ $REALTIME == 0 || $REALTIME == 1 ]] || die "REALTIME must be 0 or 1, not '$REALTIME'"
sync=false
[[ $REALTIME == 0 ]] || sync=true

element_args "$model"
ELEMENT+=(post-messages=true)
file_source "$input"
if [[ -n ${BEFORE_ELEMENT:-} ]]; then
  read -r -a before <<<"$BEFORE_ELEMENT"
  SOURCE+=(! "${before[@]}")
fi
count_file=$(mktemp)
trap 'rm -f "$count_file"' EXIT

unbuffered=()
command -v stdbuf >/dev/null 2>&1 && unbuffered=(stdbuf -oL)
start=$(date +%s.%N)
# gst-launch-1.0 -m prints every bus message as 'Got message #N from element "E" (TYPE): '
# followed by the structure; keep ours, drop the type annotations ("=(double)0.5"), send
# gst-launch's progress lines to stderr and drop the other messages.
status=0
"${unbuffered[@]}" "$GST_LAUNCH" -m "${SOURCE[@]}" ! "${ELEMENT[@]}" ! fakesink "sync=$sync" |
  sed -u -E 's/(=|[<{] |, )\((guint64|gint64|guint|gint|int|uint|string|gchararray|double|gdouble|float|gfloat|boolean|gboolean)\)/\1/g' |
  awk -v count_file="$count_file" '
    /^Got message #[0-9]+ from element "[^"]*" \(element\): alexnet-classification[,;]/ {
      line = $0
      sub(/^[^:]*: alexnet-classification, */, "", line)
      sub(/;$/, "", line)
      if (match(line, /(^|, )pts=[0-9]+/)) {  # pts first
        pts = substr(line, RSTART, RLENGTH)
        sub(/^, /, "", pts)
        line = pts ", " substr(line, 1, RSTART - 1) substr(line, RSTART + RLENGTH)
        sub(/, , /, ", ", line)
        sub(/, $/, "", line)
      }
      print line
      fflush()
      n++
      next
    }
    /^Got message #/ { next }
    { print > "/dev/stderr" }
    END { print n + 0 > count_file }
  ' || status=$?
end=$(date +%s.%N)
frames=$(cat "$count_file")
(( status != 0 )) || awk -v n="$frames" -v t0="$start" -v t1="$end" -v p="$PROG" 'BEGIN {
  t = t1 - t0
  printf "%s: %d frames in %.2f s (%.1f frames/s, model loading included)\n", p, n, t, (t > 0 ? n / t : 0) > "/dev/stderr"
}'
exit "$status"
