#!/usr/bin/env bash
# Several video files (or camera streams) through ONE shared model (alexnetclassify
# model-instance-id=…) into an MQTT broker: each stream's alexnetpublish sends one JSON object
# per frame (docs/publish-schema.md) on alexnet/<source>/frame, the source being the file's
# location. Watch them with examples' alexnet-mqtt-summary, or mosquitto_sub -t 'alexnet/#'.
#
#   filesrc ! decodebin ! videoconvert ! alexnetclassify model-instance-id=multi ! \
#       alexnetpublish method=mqtt address=… ! fakesink     (one such branch per stream)
#
# Environment: see common.sh (DEVICE, THREADS, TOP_K, INTERVAL, LABELS, ELEMENT_OPTS);
# BATCH_SIZE defaults to the number of streams; BATCH_TIMEOUT (ms, default 50);
# MQTT_ADDRESS (host[:port], default 127.0.0.1:1883), MQTT_TOPIC (default
# alexnet/{source}/{type}), MQTT_QOS (0, 1 or 2; default 1), PUBLISH_OPTS (further
# alexnetpublish properties, e.g. "username=u password=p max-queued=50000").
set -euo pipefail
USAGE="usage: $(basename "$0") MODEL.safetensors VIDEO_FILE [VIDEO_FILE ...]"
# shellcheck source=pipelines/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

exit_if_help "Classifies several videos through one shared model into an MQTT broker." "$@"
several_streams_args "$@"
: "${MQTT_ADDRESS:=127.0.0.1:1883}" "${MQTT_TOPIC:=alexnet/{source\}/{type\}}" "${MQTT_QOS:=1}"
[[ $MQTT_QOS =~ ^[012]$ ]] || die "MQTT_QOS must be 0, 1 or 2, not '$MQTT_QOS'"
# (not "gst-inspect | grep -q": grep quitting at the match would fail the pipe under pipefail)
publish_info=$(gst-inspect-1.0 alexnetpublish 2>/dev/null || true)
[[ $publish_info =~ \([0-9]+\):\ mqtt\  ]] ||
  die "this alexnet plugin has no method=mqtt (build it with libmosquitto-dev installed)"
element_args "$model"
ELEMENT+=(model-instance-id=multi "batch-timeout=$BATCH_TIMEOUT")
read -r -a publish_opts <<<"${PUBLISH_OPTS:-}"

args=()
k=0
for v in "${videos[@]}"; do
  file_source "$v"
  args+=("${SOURCE[@]}" ! "${ELEMENT[@]}" "name=stream$k"
    ! alexnetpublish method=mqtt "address=$MQTT_ADDRESS" "topic=$MQTT_TOPIC" "qos=$MQTT_QOS"
    "${publish_opts[@]}" ! fakesink sync=false)
  k=$((k + 1))
done
echo "$GST_LAUNCH ${args[*]}" >&2
exec "$GST_LAUNCH" "${args[@]}"
