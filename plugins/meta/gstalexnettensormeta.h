/* GstAlexNetTensorMeta: a float tensor that alexnetclassify attaches with
 * output-tensor=probabilities|fc7, one per frame (full-frame) or per object
 * (inference-region=roi-list), next to each GstAlexNetMeta.
 *
 *   probabilities  the softmax over every class (n = the model's classes);
 *   fc7            the network's embedding: the activations after fc7's ReLU,
 *                  the input of the last layer (n = 4096 for the paper's and
 *                  torchvision's configs), the features the paper's figure 4
 *                  finds neighbours with (compare with cosine or L2).
 *
 * Read them from a pad probe or an appsink (libgstalexnetmeta-1.0):
 *
 *   gpointer state = NULL;
 *   GstAlexNetTensorMeta *t;
 *   while ((t = gst_buffer_iterate_alexnet_tensor_meta (buffer, &state)))
 *     g_print ("%s of %s %d: %u floats\n",
 *         gst_alexnet_tensor_kind_name (t->kind),
 *         t->has_roi ? "object" : "frame", t->roi_id, t->n);
 *
 * (GStreamer 1.22 has no GstTensorMeta.) Untagged and copied with the buffer,
 * like GstAlexNetMeta.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  GST_ALEXNET_TENSOR_PROBABILITIES = 1,
  GST_ALEXNET_TENSOR_FC7 = 2,
} GstAlexNetTensorKind;

typedef struct _GstAlexNetTensorMeta GstAlexNetTensorMeta;

struct _GstAlexNetTensorMeta {
  GstMeta meta;

  GstAlexNetTensorKind kind;
  gint roi_id;      /* the object's GstVideoRegionOfInterestMeta id */
  gboolean has_roi; /* FALSE: the whole frame (roi_id 0) */
  guint n;          /* floats in data */
  gfloat *data;     /* owned by the meta */
};

#define GST_ALEXNET_TENSOR_META_API_TYPE                                       \
  (gst_alexnet_tensor_meta_api_get_type ())
#define GST_ALEXNET_TENSOR_META_INFO (gst_alexnet_tensor_meta_get_info ())

GType gst_alexnet_tensor_meta_api_get_type (void);
const GstMetaInfo *gst_alexnet_tensor_meta_get_info (void);

/* "probabilities", "fc7", or "unknown". */
const gchar *gst_alexnet_tensor_kind_name (GstAlexNetTensorKind kind);

/* Adds a meta holding a copy of n floats. Returns NULL (and adds nothing) when
 * data is NULL while n > 0. */
GstAlexNetTensorMeta *gst_buffer_add_alexnet_tensor_meta (GstBuffer *buffer,
    GstAlexNetTensorKind kind, gint roi_id, gboolean has_roi,
    const gfloat *data, guint n);

/* Each of the buffer's tensor metas in turn (*state = NULL to start), then
 * NULL. */
GstAlexNetTensorMeta *gst_buffer_iterate_alexnet_tensor_meta (
    GstBuffer *buffer, gpointer *state);

G_END_DECLS
