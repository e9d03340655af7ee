/* alexnetpublish: turns the results alexnetclassify attaches to frames into JSON for other
 * processes, passing the buffers through unchanged. */
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_ALEXNET_PUBLISH (gst_alexnet_publish_get_type())
G_DECLARE_FINAL_TYPE(GstAlexNetPublish, gst_alexnet_publish, GST, ALEXNET_PUBLISH, GstBaseTransform)

/* Where the JSON goes. */
typedef enum {
  GST_ALEXNET_PUBLISH_METHOD_FILE,
  GST_ALEXNET_PUBLISH_METHOD_MQTT, /* only in builds with libmosquitto */
} GstAlexNetPublishMethod;

/* method=mqtt: what a full queue does. */
typedef enum {
  GST_ALEXNET_PUBLISH_ON_FULL_BLOCK,
  GST_ALEXNET_PUBLISH_ON_FULL_DROP_OLDEST,
} GstAlexNetPublishOnFull;

#define GST_TYPE_ALEXNET_PUBLISH_ON_FULL (gst_alexnet_publish_on_full_get_type())
GType gst_alexnet_publish_on_full_get_type(void);

#define GST_TYPE_ALEXNET_PUBLISH_METHOD (gst_alexnet_publish_method_get_type())
GType gst_alexnet_publish_method_get_type(void);

/* method=file: one object per line, or one JSON array. */
typedef enum {
  GST_ALEXNET_PUBLISH_FILE_FORMAT_JSON_LINES,
  GST_ALEXNET_PUBLISH_FILE_FORMAT_JSON_ARRAY,
} GstAlexNetPublishFileFormat;

#define GST_TYPE_ALEXNET_PUBLISH_FILE_FORMAT (gst_alexnet_publish_file_format_get_type())
GType gst_alexnet_publish_file_format_get_type(void);

G_END_DECLS
