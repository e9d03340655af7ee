/* GstAlexNetTensorMeta: registration, copy and the add/iterate helpers. See
 * gstalexnettensormeta.h. */
#include "gstalexnettensormeta.h"

#include <string.h>

/* Untagged, as GstAlexNetMeta (see gstalexnetmeta.c): the probabilities and
 * the embedding of a frame hold through any change of its format or size. */
GType
gst_alexnet_tensor_meta_api_get_type (void)
{
  static GType type = 0;

  if (g_once_init_enter (&type)) {
    static const gchar *tags[] = { NULL };
    GType t = gst_meta_api_type_register ("GstAlexNetTensorMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
gst_alexnet_tensor_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  GstAlexNetTensorMeta *m = (GstAlexNetTensorMeta *) meta;

  (void) params;
  (void) buffer;
  m->kind = GST_ALEXNET_TENSOR_PROBABILITIES;
  m->roi_id = 0;
  m->has_roi = FALSE;
  m->n = 0;
  m->data = NULL;
  return TRUE;
}

static void
gst_alexnet_tensor_meta_free (GstMeta *meta, GstBuffer *buffer)
{
  GstAlexNetTensorMeta *m = (GstAlexNetTensorMeta *) meta;

  (void) buffer;
  g_free (m->data);
  m->data = NULL;
  m->n = 0;
}

/* Copies (whole or part of the buffer) and scales keep the tensor; other
 * transforms are unknown: refused. */
static gboolean
gst_alexnet_tensor_meta_transform (GstBuffer *dest, GstMeta *meta,
    GstBuffer *buffer, GQuark type, gpointer data)
{
  GstAlexNetTensorMeta *m = (GstAlexNetTensorMeta *) meta;

  (void) buffer;
  (void) data;
  if (!GST_META_TRANSFORM_IS_COPY (type)
      && type != g_quark_from_static_string ("gst-video-scale"))
    return FALSE;
  return gst_buffer_add_alexnet_tensor_meta (
             dest, m->kind, m->roi_id, m->has_roi, m->data, m->n)
         != NULL;
}

const GstMetaInfo *
gst_alexnet_tensor_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) &info)) {
    const GstMetaInfo *i = gst_meta_register (GST_ALEXNET_TENSOR_META_API_TYPE,
        "GstAlexNetTensorMeta", sizeof (GstAlexNetTensorMeta),
        gst_alexnet_tensor_meta_init, gst_alexnet_tensor_meta_free,
        gst_alexnet_tensor_meta_transform);
    g_once_init_leave ((GstMetaInfo **) &info, (GstMetaInfo *) i);
  }
  return info;
}

const gchar *
gst_alexnet_tensor_kind_name (GstAlexNetTensorKind kind)
{
  switch (kind) {
    case GST_ALEXNET_TENSOR_PROBABILITIES:
      return "probabilities";
    case GST_ALEXNET_TENSOR_FC7:
      return "fc7";
  }
  return "unknown";
}

GstAlexNetTensorMeta *
gst_buffer_add_alexnet_tensor_meta (GstBuffer *buffer,
    GstAlexNetTensorKind kind, gint roi_id, gboolean has_roi,
    const gfloat *data, guint n)
{
  GstAlexNetTensorMeta *m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  if (n > 0 && data == NULL) {
    g_critical ("%s: NULL data with n = %u", G_STRFUNC, n);
    return NULL;
  }
  m = (GstAlexNetTensorMeta *) gst_buffer_add_meta (
      buffer, GST_ALEXNET_TENSOR_META_INFO, NULL);
  if (m == NULL)
    return NULL;
  m->kind = kind;
  m->roi_id = roi_id;
  m->has_roi = has_roi;
  m->n = n;
  m->data = g_new (gfloat, n > 0 ? n : 1);
  if (n > 0)
    memcpy (m->data, data, n * sizeof (gfloat));
  return m;
}

GstAlexNetTensorMeta *
gst_buffer_iterate_alexnet_tensor_meta (GstBuffer *buffer, gpointer *state)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (state != NULL, NULL);
  return (GstAlexNetTensorMeta *) gst_buffer_iterate_meta_filtered (
      buffer, state, GST_ALEXNET_TENSOR_META_API_TYPE);
}
