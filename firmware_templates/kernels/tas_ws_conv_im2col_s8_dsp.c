/* WS_CONV by ordinary convolution on the fast path for cores with the DSP extension: the
 * sampled kernel K[n, l, 0, m] = Φ[n·s + l, m mod M*] expanded at export time and packed for the im2col kernel
 * (weight_packing.py: pack_im2col_weights, one group), the input zero point folded into the bias,
 * so this is tas_conv2d_im2col_s8_dsp on a (T, 1, M) input (its kernel record pastes that file
 * first). scratch: as tas_conv2d_im2col_s8_dsp asks for the (kernel_size, 1, M) window. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_ws_conv_common.h"

TAS_KERNEL void tas_ws_conv_im2col_s8_dsp(const tas_ws_conv_params *p, const int8_t *input, const int32_t *packed_kernel,
                                          const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                          int32_t quant_step, int32_t *scratch, int8_t *output)
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
    tas_conv2d_im2col_s8_dsp(&conv, input, packed_kernel, folded_bias, multiplier, shift, quant_step, scratch, output);
}
