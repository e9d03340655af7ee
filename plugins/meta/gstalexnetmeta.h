/* GstAlexNetMeta: the classification result that alexnetclassify attaches to
 * each buffer.
 *
 * An application links against libgstalexnetmeta-1.0 (pkg-config
 * gstalexnetmeta-1.0) and reads it from a pad probe or an appsink:
 *
 *   GstAlexNetMeta *m = gst_buffer_get_alexnet_meta (buffer);
 *   if (m)
 *     for (guint i = 0; i < m->n; i++)
 *       g_print ("%s %.3f\n", m->labels[i], m->scores[i]);
 *
 * The top-k are sorted best first. The meta is copied with the buffer
 * (transform: copy). It is registered without tags, so videoscale and
 * videoconvert keep it as it is: an object's box stays in the coordinates of
 * the frame alexnetclassify saw (the object's GstVideoRegionOfInterestMeta,
 * which carries the same result as its "classification" param, is scaled).
 *
 * Objects (alexnetclassify inference-region=roi-list): one meta per classified
 * object, with has_roi TRUE, the object's ROI id and its box in the frame
 * (clamped to it). Iterate them all with
 *
 *   gpointer state = NULL;
 *   GstAlexNetMeta *m;
 *   while ((m = gst_buffer_iterate_alexnet_meta (buffer, &state)))
 *     if (m->has_roi)
 *       g_print ("object %d at %u,%u: %s\n", m->roi_id, m->x, m->y,
 * m->labels[0]);
 *
 * ABI: roi_id … has_roi were appended after release 0.1.0; readers built
 * against the older header read the fields before them unchanged.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _GstAlexNetMeta GstAlexNetMeta;

struct _GstAlexNetMeta {
  GstMeta meta;

  guint n;   /* number of results (the element's top-k, at most the classes) */
  gint *ids; /* n class indices, best first */
  gchar **labels; /* n labels (NULL-terminated array of n strings) */
  gfloat *scores; /* n probabilities in [0, 1] */
  gchar *model;   /* the weights file's name (basename) */

  /* Appended after 0.1.0 (objects). For a full-frame result has_roi is FALSE
   * and the box is the whole frame's size at 0, 0 (or 0 x 0 if unknown). */
  gint roi_id;               /* the object's GstVideoRegionOfInterestMeta id */
  guint x, y, width, height; /* its box in the frame, in pixels */
  gboolean has_roi;
};

#define GST_ALEXNET_META_API_TYPE (gst_alexnet_meta_api_get_type ())
#define GST_ALEXNET_META_INFO (gst_alexnet_meta_get_info ())

GType gst_alexnet_meta_api_get_type (void);
const GstMetaInfo *gst_alexnet_meta_get_info (void);

/* Adds a meta holding copies of the arrays. Returns NULL (and adds nothing)
 * when an array is NULL while n > 0. */
GstAlexNetMeta *gst_buffer_add_alexnet_meta (GstBuffer *buffer, guint n,
    const gint *ids, const gchar *const *labels, const gfloat *scores,
    const gchar *model);

/* gst_buffer_add_alexnet_meta for one object: has_roi TRUE, its id and box. */
GstAlexNetMeta *gst_buffer_add_alexnet_object_meta (GstBuffer *buffer, guint n,
    const gint *ids, const gchar *const *labels, const gfloat *scores,
    const gchar *model, gint roi_id, guint x, guint y, guint width,
    guint height);

/* The buffer's first meta, or NULL. */
GstAlexNetMeta *gst_buffer_get_alexnet_meta (GstBuffer *buffer);

/* Each of the buffer's metas in turn (*state = NULL to start), then NULL. */
GstAlexNetMeta *gst_buffer_iterate_alexnet_meta (
    GstBuffer *buffer, gpointer *state);

G_END_DECLS
