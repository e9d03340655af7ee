# shellcheck shell=bash disable=SC2034  # SOURCE, ELEMENT, PROG: used by the scripts
# Shared checks for the pipelines/ scripts. Sourced, not run.
#
# Environment (every script):
#   DEVICE        inference device(s), the library's grammar: auto | cpu | cpu,cpu | gpu:0,gpu:1
#                 (default: auto)
#   PARALLEL      with two devices: data (frames alternate between whole-network replicas) or
#                 model (each device holds half of every layer, the paper's split) (default: data)
#   THREADS       CPU threads, 0 = auto: 1 for small models, else all cores (default: 0)
#   TOP_K         labels per result (default: 5)
#   INTERVAL      inference-interval: 1 = every frame, N = every Nth frame (default: 1)
#   BATCH_SIZE    frames classified together (default: 1)
#   LABELS        optional labels file overriding the model's labels
#   ELEMENT_OPTS  further alexnetclassify properties, e.g. "threshold=0.2 font-scale=1.5"
#   GST_LAUNCH    the gst-launch-1.0 to run (default: gst-launch-1.0 from PATH)

PROG=$(basename "$0")

die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

usage_error() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  printf '%s\n' "$USAGE" >&2
  exit 2
}

# help_requested ARGS...: true when the first argument is -h/--help.
help_requested() {
  [[ ${1:-} == -h || ${1:-} == --help ]]
}

# exit_if_help DESCRIPTION ARGS...: on -h/--help, print USAGE and DESCRIPTION and exit 0.
exit_if_help() {
  local description=$1
  shift
  if help_requested "$@"; then
    printf '%s\n\n%s\n' "$USAGE" "$description"
    exit 0
  fi
}

# model_and_video_args COUNT ARGS...: exactly COUNT arguments, of which the first two are a
# readable model and input video. Sets model and input.
model_and_video_args() {
  local count=$1
  shift
  (( $# == count )) || usage_error "expected $count arguments, got $#"
  model=$1 input=$2
  check_model "$model"
  check_input "$input"
}

# several_streams_args ARGS...: a readable model and at least one readable video, for the
# scripts that run several streams through one shared model; checks the plugin and
# BATCH_TIMEOUT (ms, default 50), and makes BATCH_SIZE default to the number of streams. Sets
# model, videos (an array) and n.
several_streams_args() {
  (( $# >= 2 )) || usage_error "expected a model and at least one video, got $# arguments"
  model=$1
  shift
  videos=("$@")
  check_model "$model"
  for v in "${videos[@]}"; do check_input "$v"; done
  check_alexnet_plugin
  n=${#videos[@]}
  : "${BATCH_TIMEOUT:=50}"
  check_int BATCH_TIMEOUT "$BATCH_TIMEOUT" 0
  [[ ${BATCH_SIZE:-1} != 1 ]] || BATCH_SIZE=$n
}

: "${GST_LAUNCH:=gst-launch-1.0}"
: "${DEVICE:=auto}"
: "${PARALLEL:=data}"
: "${THREADS:=0}"
: "${TOP_K:=5}"
: "${INTERVAL:=1}"
: "${BATCH_SIZE:=1}"
: "${LABELS:=}"
: "${ELEMENT_OPTS:=}"

check_tools() {
  command -v "$GST_LAUNCH" >/dev/null 2>&1 ||
    die "$GST_LAUNCH not found; install GStreamer's tools (Debian: apt install gstreamer1.0-tools)"
  command -v gst-inspect-1.0 >/dev/null 2>&1 ||
    die "gst-inspect-1.0 not found; install GStreamer's tools (Debian: apt install gstreamer1.0-tools)"
}

# check_element NAME [HINT]: the GStreamer element NAME is available. (--exists alone also
# asks for a plugin version >= GStreamer's own, which our 0.x plugin would fail.)
check_element() {
  gst-inspect-1.0 --exists --atleast-version=0.0 "$1" 2>/dev/null && return 0
  die "GStreamer element '$1' not found${2:+; $2}"
}

# The alexnetclassify element, with the plugin path hint for a build-folder plugin.
check_alexnet_plugin() {
  check_tools
  if gst-inspect-1.0 --exists --atleast-version=0.0 alexnetclassify 2>/dev/null; then
    return 0
  fi
  local here root hint=""
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  root=$(dirname "$here")
  for b in "$root"/build*/plugins/alexnet/libgstalexnet.so; do
    if [[ -f $b ]]; then
      hint=" (found $b: run with GST_PLUGIN_PATH=$(dirname "$b"))"
      break
    fi
  done
  die "GStreamer element 'alexnetclassify' not found: the plugin libgstalexnet.so is not" \
    "installed and not on GST_PLUGIN_PATH${GST_PLUGIN_PATH:+ (now: $GST_PLUGIN_PATH)}." \
    "Build it (meson setup build && ninja -C build) and run with" \
    "GST_PLUGIN_PATH=build/plugins/alexnet$hint, or meson install it." \
    "If it is there but fails to load, GST_DEBUG=GST_PLUGIN_LOADING:4 says why."
}

# check_model FILE
check_model() {
  [[ -n $1 ]] || usage_error "no model given"
  [[ -e $1 ]] || die "model file '$1' not found (MODEL is a libalexnet weights file, .safetensors)"
  [[ -f $1 ]] || die "model '$1' is not a regular file"
  [[ -r $1 ]] || die "model file '$1' is not readable"
}

# check_input FILE
check_input() {
  [[ -n $1 ]] || usage_error "no input video given"
  [[ -e $1 ]] || die "input video '$1' not found"
  [[ -f $1 ]] || die "input '$1' is not a regular file"
  [[ -r $1 ]] || die "input video '$1' is not readable"
}

# check_int NAME VALUE [MIN]: VALUE is a decimal integer >= MIN (default 1)
check_int() {
  local min=${3:-1}
  if ! [[ $2 =~ ^[0-9]{1,9}$ ]] || (( 10#$2 < min )); then
    die "$1 must be an integer >= $min, not '$2'"
  fi
}

# check_display: a window can be opened (X11 or Wayland), unless SINK is overridden.
check_display() {
  if [[ -z ${SINK:-} && -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} ]]; then
    die "no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so autovideosink cannot" \
      "open a window. Run this from a desktop session (or ssh -X), write a file with" \
      "file-to-file.sh, print results with headless.sh, or choose a sink, e.g." \
      "SINK=kmssink $PROG ... or SINK=fakesink $PROG ..."
  fi
}

# window_sink: the video sink for the window scripts, SINK (default autovideosink) split into
# the array sink and checked to exist; with no SINK given, a display must be there.
window_sink() {
  check_display
  : "${SINK:=autovideosink}"
  read -r -a sink <<<"$SINK"
  check_element "${sink[0]}"
}

# quote_prop VALUE: VALUE as a gst-launch property value (quoted, with \ and " escaped).
quote_prop() {
  local v=${1//\\/\\\\}
  v=${v//\"/\\\"}
  printf '"%s"' "$v"
}

# The alexnetclassify element description as gst-launch-1.0 arguments (one word each
# property: gst-launch-1.0 joins its arguments with spaces and parses the result).
# Sets the array ELEMENT.
element_args() {
  local model=$1
  check_int THREADS "$THREADS" 0
  check_int TOP_K "$TOP_K" 1
  check_int INTERVAL "$INTERVAL" 1
  check_int BATCH_SIZE "$BATCH_SIZE" 1
  [[ $PARALLEL == data || $PARALLEL == model ]] ||
    usage_error "PARALLEL must be data or model, got '$PARALLEL'"
  ELEMENT=(alexnetclassify "model=$(quote_prop "$model")" "device=$(quote_prop "$DEVICE")"
           "parallel=$PARALLEL" "threads=$THREADS" "top-k=$TOP_K"
           "inference-interval=$INTERVAL" "batch-size=$BATCH_SIZE")
  if [[ -n $LABELS ]]; then
    [[ -f $LABELS && -r $LABELS ]] || die "labels file '$LABELS' (LABELS) not found or not readable"
    ELEMENT+=("labels-file=$(quote_prop "$LABELS")")
  fi
  if [[ -n $ELEMENT_OPTS ]]; then
    local extra
    read -r -a extra <<<"$ELEMENT_OPTS"
    ELEMENT+=("${extra[@]}")
  fi
}

# file_source FILE: the decoding front end; sets the array SOURCE.
file_source() {
  SOURCE=(filesrc "location=$(quote_prop "$1")" ! decodebin ! videoconvert)
}
