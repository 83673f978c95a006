/* int8 convolution when every output row reads one contiguous input window: no padding,
 * dilation 1, one group, and a filter as wide as the input (a 1-D convolution in 2-D form, or a
 * 1x1 conv whose pixels are its rows). Then window k of output row y is
 * input[y * stride_height * input_width * input_depth + k] and the filter is stored in the same
 * order, so each output is a dot product over one flat array: two rows at a time through the
 * portable matrix product (tas_mat_mult_s8.h: 4 channels x 2 rows per pass, the input zero point
 * folded into the bias), straight from the input, no copy.
 * packed_filter: pack_mat_mult_weights(weights, 4); multiplier/shift per channel, or one pair when
 * quant_step is 0. Bit-exact with tas_conv2d_s8. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_mat_mult_s8.h"

TAS_KERNEL void tas_conv2d_rows_s8(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                   const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                   int32_t quant_step, int8_t *output)
{
    const int32_t window = p->filter_height * p->filter_width * p->filter_depth;
    const int32_t row_step = p->stride_height * p->input_width * p->input_depth;
    const int32_t rows = p->output_height, depth = p->output_depth;
    const tas_mat_mult_s8_stage stage = {folded_bias, multiplier, shift, quant_step,
                                         p->output_offset, p->act_min, p->act_max};
    const int32_t paired_end = rows & ~1;
    const int8_t *in = input;
    int8_t *out = output;
    for (int32_t out_y = 0; out_y < paired_end; out_y += 2, in += 2 * row_step, out += 2 * depth) {
        tas_mat_mult_s8_two_pixels(&stage, in, in + row_step, window, depth, (const int8_t *)packed_filter,
                                   out, out + depth);
    }
    if (paired_end < rows) { /* a lone last row (a row stream's odd row of pixels) */
        tas_mat_mult_s8_one_pixel(&stage, in, window, depth, (const int8_t *)packed_filter, out);
    }
}
