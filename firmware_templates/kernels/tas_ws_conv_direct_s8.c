/* WS_CONV by ordinary convolution: the sampled kernel K[n, l, 0, m] = Φ[n·s + l, m mod M*] was
 * expanded at export time into `kernel` (OHWI int8 [filters, kernel_size, 1, input_channels], in
 * flash), so this is tas_conv2d_s8 on a (T, 1, M) input: cheaper than the integral image when
 * L·M·N is small (the first layer, M = 1). Calls tas_conv2d_s8 (its kernel record
 * puts tas_conv2d_s8.c before this file in a model). */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_ws_conv_common.h"

TAS_KERNEL void tas_ws_conv_direct_s8(const tas_ws_conv_params *p, const int8_t *input, const int8_t *kernel,
                                      const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                      int8_t *output)
{
    const tas_conv2d_params conv = {
        .input_height = p->input_length, .input_width = 1, .input_depth = p->input_channels,
        .filter_height = p->kernel_size, .filter_width = 1, .filter_depth = p->input_channels,
        .output_height = p->output_length, .output_width = 1, .output_depth = p->filters,
        .stride_height = p->stride, .stride_width = 1, .dilation_height = 1, .dilation_width = 1,
        .pad_height = p->pad_before, .pad_width = 0, .groups = 1,
        .input_offset = p->input_offset, .output_offset = p->output_offset,
        .act_min = p->act_min, .act_max = p->act_max,
    };
    tas_conv2d_s8(&conv, input, kernel, bias, multiplier, shift, output);
}
