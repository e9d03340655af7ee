/* The concurrent path of alexnetclassify (internal), used with batch-size > 1 or several
 * workers: frames are held (writable, mapped) in arrival order, classified in batches on the
 * workers in turn, and leave in order, pushed by the pusher thread as soon as their batch is
 * done. Streaming thread only, unless noted. */
#pragma once

#include "classify_engine.h"

/* Takes `buffer` (owned) into the queue, and into the open batch if it is to be classified;
 * sends the open batch once it is full or its batch-timeout is up. */
GstFlowReturn gst_alexnet_classify_enqueue(GstAlexNetClassify* self, GstBuffer* buffer);
/* The oldest held frame if it may leave now (else *outbuf is NULL): generate_output. */
GstFlowReturn gst_alexnet_classify_next_output(GstAlexNetClassify* self, GstBuffer** outbuf);
/* Sends the open images (frames, or objects with roi-list) in batches of batch-size to the
 * workers in turn (or to the shared instance), classified by the model current now; with
 * `partial`, the last batch too even if it is not full. */
void gst_alexnet_classify_dispatch(GstAlexNetClassify* self, bool partial);
/* Pushes every held frame, in order (before EOS, caps and other serialized events). */
GstFlowReturn gst_alexnet_classify_drain(GstAlexNetClassify* self);
/* Drops every held frame (after its worker is done with it). */
void gst_alexnet_classify_discard(GstAlexNetClassifyImpl* impl);

/* The pusher thread: its start (start(), before streaming), its body, and its stop (any
 * thread not holding the stream lock; joins it). */
void gst_alexnet_classify_start_pusher(GstAlexNetClassify* self);
void gst_alexnet_classify_pusher(GstAlexNetClassify* self);
void gst_alexnet_classify_stop_pusher(GstAlexNetClassifyImpl* impl);
