/* alexnetclassify's properties (internal; classify_properties.cpp): installed by class_init,
 * their defaults set by init, read and written through GObject. */
#pragma once

#include "classify_engine.h"

void gst_alexnet_classify_install_properties(GObjectClass* gobject_class);
void gst_alexnet_classify_default_settings(alexnet::gst::Settings& s);
void gst_alexnet_classify_set_property(GObject* object, guint prop_id, const GValue* value,
                                       GParamSpec* pspec);
void gst_alexnet_classify_get_property(GObject* object, guint prop_id, GValue* value,
                                       GParamSpec* pspec);
