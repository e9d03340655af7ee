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
 * (transform: copy).
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

/* The buffer's meta, or NULL. */
GstAlexNetMeta *gst_buffer_get_alexnet_meta (GstBuffer *buffer);

G_END_DECLS
