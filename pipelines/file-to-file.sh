#!/usr/bin/env bash
# A video file, classified frame by frame, written to a new file with the labels overlaid.
# The container follows OUTPUT's extension:
#   .webm  vp8enc ! webmmux        (gst-plugins-good; the default choice)
#   .mkv   vp8enc ! matroskamux    (gst-plugins-good)
#   .ogv   theoraenc ! oggmux      (gst-plugins-base)
#   .mp4   x264enc ! mp4mux        (gst-plugins-ugly), else avenc_mpeg4 ! mp4mux (gst-libav)
#
# Environment: see common.sh (DEVICE, THREADS, TOP_K, INTERVAL, BATCH_SIZE, LABELS,
# ELEMENT_OPTS), plus BITRATE (kbit/s, default 4000).
set -euo pipefail
USAGE="usage: $(basename "$0") MODEL.safetensors INPUT_VIDEO OUTPUT.{webm,mkv,ogv,mp4}"
# shellcheck source=pipelines/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exit_if_help "Writes INPUT_VIDEO to OUTPUT with the top-k labels drawn on each frame (video only)." "$@"
model_and_video_args 3 "$@"
output=$3
[[ -n $output ]] || usage_error "no output file given"
out_dir=$(dirname "$output")
[[ -d $out_dir && -w $out_dir ]] || die "cannot write '$output': folder '$out_dir' does not exist or is not writable"
[[ $(realpath -m "$input") != $(realpath -m "$output") ]] || die "the output would overwrite the input '$input'"
: "${BITRATE:=4000}"
check_int BITRATE "$BITRATE" 1
check_alexnet_plugin

case ${output,,} in
  *.webm) check_element vp8enc "install gstreamer1.0-plugins-good"
          check_element webmmux "install gstreamer1.0-plugins-good"
          encoder=(vp8enc deadline=1 cpu-used=8 "target-bitrate=$((BITRATE * 1000))" ! webmmux) ;;
  *.mkv)  check_element vp8enc "install gstreamer1.0-plugins-good"
          check_element matroskamux "install gstreamer1.0-plugins-good"
          encoder=(vp8enc deadline=1 cpu-used=8 "target-bitrate=$((BITRATE * 1000))" ! matroskamux) ;;
  *.ogv|*.ogg)
          check_element theoraenc "install gstreamer1.0-plugins-base"
          check_element oggmux "install gstreamer1.0-plugins-base"
          encoder=(theoraenc "bitrate=$BITRATE" ! oggmux) ;;
  *.mp4)  check_element mp4mux "install gstreamer1.0-plugins-good"
          if gst-inspect-1.0 --exists --atleast-version=0.0 x264enc 2>/dev/null; then
            encoder=(x264enc "bitrate=$BITRATE" speed-preset=veryfast ! "video/x-h264,profile=high" ! mp4mux)
          elif gst-inspect-1.0 --exists --atleast-version=0.0 avenc_mpeg4 2>/dev/null; then
            encoder=(avenc_mpeg4 "bitrate=$((BITRATE * 1000))" ! mp4mux)
          else
            die "no MP4 video encoder: install gstreamer1.0-plugins-ugly (x264enc) or gstreamer1.0-libav (avenc_mpeg4), or write .webm"
          fi ;;
  *) usage_error "unknown output type '$output': use .webm, .mkv, .ogv or .mp4" ;;
esac

element_args "$model"
file_source "$input"
set -x
# -e: end with EOS on Ctrl-C so the file is finalised (playable).
"$GST_LAUNCH" -e "${SOURCE[@]}" ! "${ELEMENT[@]}" ! videoconvert ! "${encoder[@]}" \
  ! filesink "location=$(quote_prop "$output")"
{ set +x; } 2>/dev/null
printf '%s: wrote %s\n' "$PROG" "$output" >&2
