/**
 * SECTION:element-alexnetclassify
 * @title: alexnetclassify
 *
 * Classifies every raw video frame with an AlexNet weights file (libalexnet) and annotates
 * the frame in place:
 *
 * 1. the top-k labels with their probabilities are drawn on the frame (#overlay,
 *    #overlay-position, #font-scale; labels below #threshold are not drawn);
 * 2. a full-frame #GstVideoRegionOfInterestMeta of type "classification" is attached whose
 *    "classification" parameter holds `label` (string), `label_id` (int) and `confidence`
 *    (double) of the best class (as DL Streamer does) and the top-k arrays `ids`, `labels`
 *    and `scores`; a #GstAlexNetMeta (libgstalexnetmeta-1.0) carries the same top-k and the
 *    model's file name;
 * 3. with #post-messages, an element message "alexnet-classification" with `pts`,
 *    `running-time`, `classified` and the fields above.
 *
 * The model is loaded on the NULL→READY state change; a missing or invalid file fails that
 * state change with an error naming the file and the problem. Setting #model while running
 * loads the new file in the background and swaps it in between two frames; a bad file keeps
 * the old model and posts a warning.
 *
 * With #inference-interval N only every Nth frame is classified; the others carry the last
 * result (overlay and metadata included). With the base class's `qos` property on, a frame
 * that is already late skips inference the same way (it is never dropped) and a QoS message
 * is posted.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     alexnetclassify model=alexnet.safetensors ! videoconvert ! autovideosink
 * ]|
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=30 ! alexnetclassify model=small.safetensors \
 *     post-messages=true overlay=false ! fakesink
 * ]|
 *
 * With one device and #batch-size 1, each frame is classified on the streaming thread as it
 * passes. With several devices (e.g. `device=cpu,cpu`, the CPU threads split between them)
 * or #batch-size N > 1, frames are held (writable, mapped) and classified in batches of up
 * to N on the devices in turn, concurrently, and leave in their original order as soon as
 * they are done (pushed by a small thread of the element): at most one filling batch and
 * one batch per device are held. A partial batch is sent once its oldest frame has waited
 * #batch-timeout ms, and every held frame is pushed before EOS, caps and other serialized
 * events. The LATENCY query reports the mean classification time (of a batch) plus, with
 * #batch-size > 1, the time a batch may wait to fill (at most #batch-timeout).
 *
 * With #inference-region roi-list, each object an upstream detector attached as a
 * #GstVideoRegionOfInterestMeta is classified instead of the whole frame (clamped to the frame,
 * filtered by #object-class and #min-object-size): its result goes on its ROI meta as a
 * "classification" param, into one #GstAlexNetMeta per object (has_roi, roi_id and the box),
 * and into the message's `objects` array. Objects are batched like frames (#batch-size, across
 * frames, devices and the streams of a shared instance):
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! facedetect display=false ! videoconvert ! \
 *     alexnetclassify model=m.safetensors inference-region=roi-list object-class=face ! \
 *     fakesink
 * ]|
 *
 * With #output-tensor probabilities or fc7, each frame (or object) also gets a
 * GstAlexNetTensorMeta: the probability of every class, or the 4096-d embedding (fc7 after its
 * ReLU).
 *
 * With #parallel model and two devices, the two devices work on every frame together, each
 * holding half of every layer (the paper's two-GPU split; the same results as one device):
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     alexnetclassify model=alexnet.safetensors device=gpu:0,gpu:1 parallel=model ! \
 *     videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstalexnetclassify.h"

#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alexnet/device.h"
#include "batcher.h"
#include "classify_engine.h"
#include "classify_properties.h"
#include "overlay.h"
#include "shared_instance.h"

#define GST_CAT_DEFAULT gst_alexnet_debug

using alexnet::gst::Engine;
using alexnet::gst::Settings;

#define VIDEO_FORMATS "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, GRAY8, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(VIDEO_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(VIDEO_FORMATS)));

#define gst_alexnet_classify_parent_class parent_class
G_DEFINE_TYPE(GstAlexNetClassify, gst_alexnet_classify, GST_TYPE_VIDEO_FILTER);

static void gst_alexnet_classify_finalize(GObject* object);
static GstStateChangeReturn gst_alexnet_classify_change_state(GstElement* element,
                                                              GstStateChange transition);
static gboolean gst_alexnet_classify_start(GstBaseTransform* trans);
static gboolean gst_alexnet_classify_src_event(GstBaseTransform* trans, GstEvent* event);
static gboolean gst_alexnet_classify_sink_event(GstBaseTransform* trans, GstEvent* event);
static gboolean gst_alexnet_classify_query(GstBaseTransform* trans, GstPadDirection direction,
                                           GstQuery* query);
static gboolean gst_alexnet_classify_set_info(GstVideoFilter* filter, GstCaps* incaps,
                                              GstVideoInfo* in_info, GstCaps* outcaps,
                                              GstVideoInfo* out_info);
static GstFlowReturn gst_alexnet_classify_transform_frame_ip(GstVideoFilter* filter,
                                                             GstVideoFrame* frame);
static gboolean gst_alexnet_classify_stop(GstBaseTransform* trans);
static GstFlowReturn gst_alexnet_classify_submit_input_buffer(GstBaseTransform* trans,
                                                              gboolean is_discont,
                                                              GstBuffer* input);
static GstFlowReturn gst_alexnet_classify_generate_output(GstBaseTransform* trans,
                                                          GstBuffer** outbuf);

static void gst_alexnet_classify_class_init(GstAlexNetClassifyClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

  gobject_class->set_property = gst_alexnet_classify_set_property;
  gobject_class->get_property = gst_alexnet_classify_get_property;
  gobject_class->finalize = gst_alexnet_classify_finalize;
  gst_alexnet_classify_install_properties(gobject_class);

  gst_element_class_set_static_metadata(
      element_class, "AlexNet classifier", "Filter/Analyzer/Video",
      "Classifies video frames with AlexNet, attaching the top-k labels as metadata "
      "and drawing them on the frame",
      "alexnet-gst developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR(gst_alexnet_classify_change_state);
  trans_class->start = GST_DEBUG_FUNCPTR(gst_alexnet_classify_start);
  trans_class->src_event = GST_DEBUG_FUNCPTR(gst_alexnet_classify_src_event);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_alexnet_classify_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR(gst_alexnet_classify_query);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_alexnet_classify_stop);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR(gst_alexnet_classify_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR(gst_alexnet_classify_generate_output);
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = FALSE;
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_alexnet_classify_set_info);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR(gst_alexnet_classify_transform_frame_ip);

  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_OVERLAY_POSITION, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PRECISION, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PARALLEL, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_INFERENCE_REGION, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_OUTPUT_TENSOR, static_cast<GstPluginAPIFlags>(0));
}

static void gst_alexnet_classify_init(GstAlexNetClassify* self) {
  self->impl = new GstAlexNetClassifyImpl();
  gst_alexnet_classify_default_settings(self->impl->settings);
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}

static void gst_alexnet_classify_finalize(GObject* object) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(object);
  gst_alexnet_classify_join_loader(self);
  gst_alexnet_classify_stop_pusher(self->impl);
  if (self->impl->model.shared) self->impl->model.shared->remove_sharer(self); /* left at READY */
  delete self->impl;
  self->impl = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static GstStateChangeReturn gst_alexnet_classify_change_state(GstElement* element,
                                                              GstStateChange transition) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    if (!gst_alexnet_classify_load(self)) return GST_STATE_CHANGE_FAILURE;
  }

  GstStateChangeReturn ret = GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE)) {
    alexnet::gst::ModelSlot& slot = self->impl->model;
    {
      std::lock_guard<std::mutex> guard(slot.lock);
      slot.loaded = false;
    }
    gst_alexnet_classify_join_loader(self);
    if (slot.shared) slot.shared->remove_sharer(self);
    std::lock_guard<std::mutex> guard(slot.lock);
    slot.pending.reset();
    slot.current.reset();
    slot.shared.reset(); /* the last sharer frees the instance */
  }
  return ret;
}

/* READY->PAUSED: a fresh stream. */
static gboolean gst_alexnet_classify_start(GstBaseTransform* trans) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  gst_alexnet_classify_discard(impl);
  const alexnet::gst::StreamState fresh;
  impl->stream.last = fresh.last;
  impl->stream.last_model = fresh.last_model;
  impl->stream.have_last = fresh.have_last;
  impl->stream.dispatched_any = fresh.dispatched_any;
  impl->stream.frame_index = fresh.frame_index;
  impl->stream.latency_announced = fresh.latency_announced;
  impl->stats.classified = 0;
  impl->stats.skipped = 0;
  impl->stats.latency_total_us = 0;
  impl->stats.qos_skipped = 0;
  impl->stats.objects_classified = 0;
  impl->stats.objects_skipped = 0;
  impl->stats.objects_cached = 0;
  impl->stream.objects.clear();
  impl->stream.window = alexnet::gst::StatsWindow();
  GST_OBJECT_LOCK(self);
  impl->qos = alexnet::gst::QosState();
  const guint batch_size = impl->settings.batch_size;
  const bool roi_list = impl->settings.region == GST_ALEXNET_INFERENCE_REGION_ROI_LIST;
  GST_OBJECT_UNLOCK(self);
  alexnet::gst::Batcher& b = impl->batcher;
  b.next_worker = 0;
  b.pushed_ret = GST_FLOW_OK;
  const int workers = impl->model.current ? impl->model.current->classifier->workers() : 1;
  /* A shared instance batches across streams, and objects batch across frames: both take the
   * concurrent path. */
  b.active = batch_size > 1 || workers > 1 || impl->model.shared != nullptr || roi_list;
  GST_INFO_OBJECT(self, "%s: batch-size %u, %d worker(s)", b.active ? "concurrent" : "synchronous",
                  batch_size, workers);
  if (b.active) gst_alexnet_classify_start_pusher(self);
  return TRUE;
}

static gboolean gst_alexnet_classify_stop(GstBaseTransform* trans) {
  GstAlexNetClassifyImpl* impl = GST_ALEXNET_CLASSIFY(trans)->impl;
  gst_alexnet_classify_stop_pusher(impl);
  gst_alexnet_classify_discard(impl);
  return TRUE;
}

/* QOS events are handled here, not by the base class (which would drop late frames):
 * a late frame skips inference instead. */
static gboolean gst_alexnet_classify_src_event(GstBaseTransform* trans, GstEvent* event) {
  GstAlexNetClassifyImpl* impl = GST_ALEXNET_CLASSIFY(trans)->impl;
  if (GST_EVENT_TYPE(event) == GST_EVENT_QOS) {
    gdouble proportion;
    GstClockTimeDiff diff;
    GstClockTime timestamp;
    gst_event_parse_qos(event, NULL, &proportion, &diff, &timestamp);
    GST_OBJECT_LOCK(trans);
    impl->qos.proportion = proportion;
    if (GST_CLOCK_TIME_IS_VALID(timestamp)) {
      if (diff >= 0 || static_cast<GstClockTime>(-diff) < timestamp)
        impl->qos.earliest_time = timestamp + diff;
      else
        impl->qos.earliest_time = 0;
    } else {
      impl->qos.earliest_time = GST_CLOCK_TIME_NONE;
    }
    GST_OBJECT_UNLOCK(trans);
    return gst_pad_push_event(GST_BASE_TRANSFORM_SINK_PAD(trans), event);
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->src_event(trans, event);
}

static gboolean gst_alexnet_classify_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) {
    gst_alexnet_classify_discard(impl);
    impl->batcher.pushed_ret = GST_FLOW_OK;
    impl->stream.objects.clear(); /* after a seek a tracker may reuse ids */
    GST_OBJECT_LOCK(trans);
    impl->qos.earliest_time = GST_CLOCK_TIME_NONE;
    GST_OBJECT_UNLOCK(trans);
  } else if (GST_EVENT_TYPE(event) == GST_EVENT_CUSTOM_DOWNSTREAM &&
             gst_event_has_name(event, "alexnet-stats") && !impl->batcher.queue.empty()) {
    /* an upstream classifier's stats: they follow the frames held here, without a drain */
    impl->stream.upstream_stats.push_back(
        {impl->stream.window.frames_total + impl->batcher.queue.size(), event});
    return TRUE;
  } else if ((static_cast<int>(GST_EVENT_TYPE(event)) &
              static_cast<int>(GST_EVENT_TYPE_SERIALIZED)) &&
             !impl->batcher.queue.empty()) {
    /* held frames leave before any later event (EOS, caps, segment …) */
    GstFlowReturn ret = gst_alexnet_classify_drain(self);
    GST_DEBUG_OBJECT(self, "drained before %s: %s", GST_EVENT_TYPE_NAME(event),
                     gst_flow_get_name(ret));
  }
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) gst_alexnet_classify_post_stats(self);
  if (static_cast<int>(GST_EVENT_TYPE(event)) & static_cast<int>(GST_EVENT_TYPE_SERIALIZED))
    gst_alexnet_classify_push_stats_event(self); /* before EOS, caps, segment … */
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

/* LATENCY: upstream's plus what we add: the mean classification time, and with
 * batch-size > 1 the time a batch may wait to fill (at most batch-timeout). */
static gboolean gst_alexnet_classify_query(GstBaseTransform* trans, GstPadDirection direction,
                                           GstQuery* query) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  if (direction == GST_PAD_SINK && GST_QUERY_TYPE(query) == GST_QUERY_DRAIN) {
    GST_PAD_STREAM_LOCK(GST_BASE_TRANSFORM_SINK_PAD(trans));
    if (!impl->batcher.queue.empty()) gst_alexnet_classify_drain(self);
    GST_PAD_STREAM_UNLOCK(GST_BASE_TRANSFORM_SINK_PAD(trans));
  }
  gboolean ret = GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
  if (ret && direction == GST_PAD_SRC && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(query, &live, &min, &max);
    GstClockTime ours = gst_alexnet_classify_added_latency(self);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
    GST_DEBUG_OBJECT(trans, "adding latency %" GST_TIME_FORMAT, GST_TIME_ARGS(ours));
    gst_query_set_latency(query, live, min, max);
  }
  return ret;
}

static gboolean gst_alexnet_classify_set_info(GstVideoFilter* filter, GstCaps* incaps,
                                              GstVideoInfo* in_info, GstCaps*, GstVideoInfo*) {
  alexnet::gst::StreamState& stream = GST_ALEXNET_CLASSIFY(filter)->impl->stream;
  try {
    stream.format =
        alexnet::pixel_format_from_name(gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(in_info)));
  } catch (const std::exception& e) {
    GST_WARNING_OBJECT(filter, "unsupported format: %s", e.what());
    return FALSE;
  }
  stream.matrix = in_info->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709
                      ? alexnet::ColorMatrix::BT709
                      : alexnet::ColorMatrix::BT601;
  stream.range = in_info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255
                     ? alexnet::ColorRange::Full
                     : alexnet::ColorRange::Limited;
  GST_DEBUG_OBJECT(filter, "caps %" GST_PTR_FORMAT, static_cast<void*>(incaps));
  return TRUE;
}

/* --- the synchronous path: one frame at a time on worker 0 ------------------------------ */

static GstFlowReturn gst_alexnet_classify_transform_frame_ip(GstVideoFilter* filter,
                                                             GstVideoFrame* frame) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(filter);
  GstBaseTransform* trans = GST_BASE_TRANSFORM(filter);
  GstAlexNetClassifyImpl* impl = self->impl;

  const alexnet::gst::Clock::time_point entered = alexnet::gst::Clock::now();
  gst_alexnet_classify_push_stats_event(self); /* the frame before has been pushed */
  try {
    const Settings s = gst_alexnet_classify_settings(self);
    gst_alexnet_classify_swap_model(self);
    if (!impl->model.current) {
      GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("No model loaded"), (NULL));
      return GST_FLOW_ERROR;
    }
    const Engine& engine = *impl->model.current;
    alexnet::gst::StreamState& stream = impl->stream;
    const GstClockTime pts = GST_BUFFER_PTS(frame->buffer);
    const GstClockTime running_time = running_time_of(trans, pts);
    const bool run =
        gst_alexnet_classify_decide(self, frame->buffer, s, running_time, stream.have_last);
    if (run) {
      alexnet::Frame f = frame_of(frame, stream.format, stream.matrix, stream.range);
      gst_alexnet_classify_keep_result(self,
                                       alexnet::gst::ready_slot(alexnet::gst::classify_batch(
                                           engine, {&f, 1}, static_cast<int>(s.top_k), 0,
                                           s.output_tensor == GST_ALEXNET_OUTPUT_TENSOR_FC7)));
    }
    gst_alexnet_classify_annotate(self, frame, stream.format, stream.range, run, pts, running_time);
    gst_alexnet_classify_frame_left(self, entered);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Classification failed: %s", e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* --- the concurrent path (batcher.cpp) ---------------------------------------------------- */

static GstFlowReturn gst_alexnet_classify_submit_input_buffer(GstBaseTransform* trans,
                                                              gboolean is_discont,
                                                              GstBuffer* input) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  GstFlowReturn ret =
      GST_BASE_TRANSFORM_CLASS(parent_class)->submit_input_buffer(trans, is_discont, input);
  if (!impl->batcher.active || ret != GST_FLOW_OK) return ret;
  GstBuffer* buffer = trans->queued_buf;
  trans->queued_buf = NULL;
  if (!buffer) return GST_FLOW_OK;
  return gst_alexnet_classify_enqueue(self, buffer);
}

static GstFlowReturn gst_alexnet_classify_generate_output(GstBaseTransform* trans,
                                                          GstBuffer** outbuf) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  if (!impl->batcher.active)
    return GST_BASE_TRANSFORM_CLASS(parent_class)->generate_output(trans, outbuf);
  return gst_alexnet_classify_next_output(self, outbuf);
}
