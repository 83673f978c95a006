/* Shared parameters of the int8 pooling kernels (NHWC, batch 1; input and output share
 * quantization, so no requantization happens). */
#ifndef TAS_POOL2D_COMMON_H
#define TAS_POOL2D_COMMON_H

#include <stdint.h>

typedef struct {
    int32_t input_height, input_width, depth;
    int32_t filter_height, filter_width, output_height, output_width;
    int32_t stride_height, stride_width, pad_height, pad_width;
    int32_t act_min, act_max;
} tas_pool2d_params;

/* The taps [start, end) of a pooling window starting at `origin` that fall inside the image. */
static inline void tas_pool_window(int32_t origin, int32_t filter_size, int32_t input_size, int32_t *start, int32_t *end)
{
    *start = origin < 0 ? -origin : 0;
    *end = filter_size < input_size - origin ? filter_size : input_size - origin;
}

#endif /* TAS_POOL2D_COMMON_H */
