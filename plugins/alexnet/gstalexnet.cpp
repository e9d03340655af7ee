/* The GStreamer plugin `alexnet`: registers the elements alexnetclassify and alexnetpublish. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstalexnetclassify.h"
#include "gstalexnetpublish.h"

GST_DEBUG_CATEGORY(gst_alexnet_debug);

static gboolean plugin_init(GstPlugin* plugin) {
  GST_DEBUG_CATEGORY_INIT(gst_alexnet_debug, "alexnet", 0, "AlexNet image classification");
  return gst_element_register(plugin, "alexnetclassify", GST_RANK_NONE,
                              GST_TYPE_ALEXNET_CLASSIFY) &&
         gst_element_register(plugin, "alexnetpublish", GST_RANK_NONE, GST_TYPE_ALEXNET_PUBLISH);
}

#ifndef PACKAGE
#define PACKAGE "alexnet-gst"
#endif
#ifndef ALEXNET_VERSION
#define ALEXNET_VERSION "0.1.0"
#endif

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, alexnet,
                  "AlexNet image classification of raw video frames", plugin_init, ALEXNET_VERSION,
                  "MIT/X11", "alexnet-gst", "https://github.com/alexnet-gst")
