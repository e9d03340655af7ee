/* GstAlexNetMeta: registration, copy and the add/get helpers. See
 * gstalexnetmeta.h. */
#include "gstalexnetmeta.h"

#include <gst/video/video.h>

#include <string.h>

/* The API is registered without tags. A tag tells elements that change the
 * video (format, size, orientation, colour space) whether the meta still holds
 * after the change, and elements drop metas whose tags they do not know
 * (GstBaseTransform and videoconvertscale keep only untagged metas or ones with
 * the tags they handle). A whole-frame classification stays true through every
 * such change, so no tags means it survives videoconvert, videoscale and
 * friends downstream of alexnetclassify. */
GType
gst_alexnet_meta_api_get_type (void)
{
  static GType type = 0;

  if (g_once_init_enter (&type)) {
    static const gchar *tags[] = { NULL };
    GType t = gst_meta_api_type_register ("GstAlexNetMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
gst_alexnet_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  GstAlexNetMeta *m = (GstAlexNetMeta *) meta;

  (void) params;
  (void) buffer;
  m->n = 0;
  m->ids = NULL;
  m->labels = NULL;
  m->scores = NULL;
  m->model = NULL;
  m->roi_id = 0;
  m->x = m->y = m->width = m->height = 0;
  m->has_roi = FALSE;
  return TRUE;
}

static void
gst_alexnet_meta_free (GstMeta *meta, GstBuffer *buffer)
{
  GstAlexNetMeta *m = (GstAlexNetMeta *) meta;

  (void) buffer;
  g_free (m->ids);
  g_strfreev (m->labels);
  g_free (m->scores);
  g_free (m->model);
  m->ids = NULL;
  m->labels = NULL;
  m->scores = NULL;
  m->model = NULL;
  m->n = 0;
}

/* The results do not depend on the frame's bytes, so a copy (whole or part of
 * the buffer) keeps them, and a scale keeps them with an object's box scaled.
 * Other transforms are unknown: refused. */
static gboolean
gst_alexnet_meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer,
    GQuark type, gpointer data)
{
  GstAlexNetMeta *m = (GstAlexNetMeta *) meta;
  GstAlexNetMeta *out;
  gboolean scale = type == g_quark_from_static_string ("gst-video-scale");

  (void) buffer;
  if (!GST_META_TRANSFORM_IS_COPY (type) && !scale)
    return FALSE;
  out = gst_buffer_add_alexnet_meta (dest, m->n, m->ids,
      (const gchar *const *) m->labels, m->scores, m->model);
  if (out == NULL)
    return FALSE;
  out->roi_id = m->roi_id;
  out->x = m->x;
  out->y = m->y;
  out->width = m->width;
  out->height = m->height;
  out->has_roi = m->has_roi;
  if (scale && data != NULL) {
    GstVideoMetaTransform *t = (GstVideoMetaTransform *) data;
    gint iw = GST_VIDEO_INFO_WIDTH (t->in_info),
         ih = GST_VIDEO_INFO_HEIGHT (t->in_info);
    gint ow = GST_VIDEO_INFO_WIDTH (t->out_info),
         oh = GST_VIDEO_INFO_HEIGHT (t->out_info);
    if (iw > 0 && ih > 0) {
      out->x = (guint) gst_util_uint64_scale_int (m->x, ow, iw);
      out->width = (guint) gst_util_uint64_scale_int (m->width, ow, iw);
      out->y = (guint) gst_util_uint64_scale_int (m->y, oh, ih);
      out->height = (guint) gst_util_uint64_scale_int (m->height, oh, ih);
    }
  }
  return TRUE;
}

const GstMetaInfo *
gst_alexnet_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) &info)) {
    const GstMetaInfo *i = gst_meta_register (GST_ALEXNET_META_API_TYPE,
        "GstAlexNetMeta", sizeof (GstAlexNetMeta), gst_alexnet_meta_init,
        gst_alexnet_meta_free, gst_alexnet_meta_transform);
    g_once_init_leave ((GstMetaInfo **) &info, (GstMetaInfo *) i);
  }
  return info;
}

GstAlexNetMeta *
gst_buffer_add_alexnet_meta (GstBuffer *buffer, guint n, const gint *ids,
    const gchar *const *labels, const gfloat *scores, const gchar *model)
{
  GstAlexNetMeta *m;
  guint i;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  /* Checked before anything is added, so a refused call leaves the buffer
   * untouched. */
  if (n > 0 && (ids == NULL || labels == NULL || scores == NULL)) {
    g_critical ("%s: NULL array with n = %u", G_STRFUNC, n);
    return NULL;
  }
  for (i = 0; i < n; i++) {
    /* A NULL entry would end the NULL-terminated copy early and hide the rest.
     */
    if (labels[i] == NULL) {
      g_critical ("%s: label %u is NULL", G_STRFUNC, i);
      return NULL;
    }
  }

  m = (GstAlexNetMeta *) gst_buffer_add_meta (
      buffer, GST_ALEXNET_META_INFO, NULL);
  if (m == NULL)
    return NULL;

  m->n = n;
  m->ids = g_new (gint, n > 0 ? n : 1);
  m->scores = g_new (gfloat, n > 0 ? n : 1);
  m->labels = g_new0 (gchar *, n + 1);
  if (n > 0) {
    memcpy (m->ids, ids, n * sizeof (gint));
    memcpy (m->scores, scores, n * sizeof (gfloat));
  }
  for (i = 0; i < n; i++)
    m->labels[i] = g_strdup (labels[i]);
  /* Readers print the model name; "" is friendlier than NULL. */
  m->model = g_strdup (model != NULL ? model : "");
  return m;
}

GstAlexNetMeta *
gst_buffer_add_alexnet_object_meta (GstBuffer *buffer, guint n, const gint *ids,
    const gchar *const *labels, const gfloat *scores, const gchar *model,
    gint roi_id, guint x, guint y, guint width, guint height)
{
  GstAlexNetMeta *m
      = gst_buffer_add_alexnet_meta (buffer, n, ids, labels, scores, model);
  if (m == NULL)
    return NULL;
  m->roi_id = roi_id;
  m->x = x;
  m->y = y;
  m->width = width;
  m->height = height;
  m->has_roi = TRUE;
  return m;
}

GstAlexNetMeta *
gst_buffer_iterate_alexnet_meta (GstBuffer *buffer, gpointer *state)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (state != NULL, NULL);
  return (GstAlexNetMeta *) gst_buffer_iterate_meta_filtered (
      buffer, state, GST_ALEXNET_META_API_TYPE);
}

GstAlexNetMeta *
gst_buffer_get_alexnet_meta (GstBuffer *buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return (GstAlexNetMeta *) gst_buffer_get_meta (
      buffer, GST_ALEXNET_META_API_TYPE);
}
