/* WS_CONV (WSNet weight-sampling convolution, DESIGN §4, docs/ws_conv.md): the parameters both
 * kernels share. A (T, 1, M) int8 input is read as [input_length, input_channels]. */
#ifndef TAS_WS_CONV_COMMON_H
#define TAS_WS_CONV_COMMON_H

#include <stdint.h>

typedef struct {
    int32_t input_length, input_channels, condensed_length, condensed_channels;
    int32_t kernel_size, filters, sampling_stride, stride, pad_before, output_length;
    int32_t input_offset, output_offset, act_min, act_max;
} tas_ws_conv_params;

static inline int32_t tas_ws_conv_scratch_words(const tas_ws_conv_params *p)
{
    return p->condensed_channels + 2 * (p->condensed_length + 1) + p->kernel_size * p->filters;
}


#endif /* TAS_WS_CONV_COMMON_H */
