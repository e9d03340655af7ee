/* alexnetclassify: classifies raw video frames with libalexnet, in place. */
#pragma once

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN(gst_alexnet_debug);

#define GST_TYPE_ALEXNET_CLASSIFY (gst_alexnet_classify_get_type())
G_DECLARE_FINAL_TYPE(GstAlexNetClassify, gst_alexnet_classify, GST, ALEXNET_CLASSIFY,
                     GstVideoFilter)

typedef enum {
  GST_ALEXNET_OVERLAY_TOP_LEFT,
  GST_ALEXNET_OVERLAY_TOP_RIGHT,
  GST_ALEXNET_OVERLAY_BOTTOM_LEFT,
  GST_ALEXNET_OVERLAY_BOTTOM_RIGHT,
} GstAlexNetOverlayPosition;

#define GST_TYPE_ALEXNET_OVERLAY_POSITION (gst_alexnet_overlay_position_get_type())
GType gst_alexnet_overlay_position_get_type(void);

/* Inference arithmetic (alexnet::Precision): fp16 on GPUs, bf16 on GPUs and on CPUs with
 * avx512_bf16 or AMX, int8 on CPUs (calibrated models). */
typedef enum {
  GST_ALEXNET_PRECISION_FP32,
  GST_ALEXNET_PRECISION_FP16,
  GST_ALEXNET_PRECISION_BF16,
  GST_ALEXNET_PRECISION_INT8,
} GstAlexNetPrecision;

#define GST_TYPE_ALEXNET_PRECISION (gst_alexnet_precision_get_type())
GType gst_alexnet_precision_get_type(void);

/* How a device list is used (alexnet::Parallel): a replica per device, or the paper's split
 * of every layer over two devices. */
typedef enum {
  GST_ALEXNET_PARALLEL_DATA,
  GST_ALEXNET_PARALLEL_MODEL,
} GstAlexNetParallel;

#define GST_TYPE_ALEXNET_PARALLEL (gst_alexnet_parallel_get_type())
GType gst_alexnet_parallel_get_type(void);

/* What is classified: the whole frame, or each object (GstVideoRegionOfInterestMeta) an
 * upstream detector attached. */
typedef enum {
  GST_ALEXNET_INFERENCE_REGION_FULL_FRAME,
  GST_ALEXNET_INFERENCE_REGION_ROI_LIST,
} GstAlexNetInferenceRegion;

#define GST_TYPE_ALEXNET_INFERENCE_REGION (gst_alexnet_inference_region_get_type())
GType gst_alexnet_inference_region_get_type(void);

/* The tensor attached per frame or object as a GstAlexNetTensorMeta. */
typedef enum {
  GST_ALEXNET_OUTPUT_TENSOR_NONE,
  GST_ALEXNET_OUTPUT_TENSOR_PROBABILITIES,
  GST_ALEXNET_OUTPUT_TENSOR_FC7,
} GstAlexNetOutputTensor;

#define GST_TYPE_ALEXNET_OUTPUT_TENSOR (gst_alexnet_output_tensor_get_type())
GType gst_alexnet_output_tensor_get_type(void);

G_END_DECLS
