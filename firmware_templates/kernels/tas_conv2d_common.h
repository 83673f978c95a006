/* Parameters shared by the int8 convolution kernels, computed at export time
 * (tinyasc/compile/ops/conv.py: Conv2DParams). */
#ifndef TAS_CONV2D_COMMON_H
#define TAS_CONV2D_COMMON_H

#include <stdint.h>

typedef struct {
    int32_t input_height, input_width, input_depth;
    int32_t filter_height, filter_width, filter_depth;
    int32_t output_height, output_width, output_depth;
    int32_t stride_height, stride_width, dilation_height, dilation_width;
    int32_t pad_height, pad_width, groups;
    int32_t input_offset, output_offset, act_min, act_max;
} tas_conv2d_params;

#endif /* TAS_CONV2D_COMMON_H */
