/* int8 1x1 convolution (pointwise, any stride, no padding, one group) for cores with the DSP
 * extension: a matrix product of the output pixels' input vectors with the [output_depth,
 * input_depth] weights, blocked 2 channels x 2 pixels so each loaded word feeds several SMLADs
 * (tas_mat_mult_dsp.h has the arithmetic and the weight layout). Same layouts (NHWC) and the same
 * bit-exact results as tas_conv2d_s8. packed_filter: the int8 weights in blocks of 2 channels
 * (pack_mat_mult_weights(weights, 2)), about one byte per weight; folded_bias [output_depth] = bias +
 * input_offset·Σ weights; multiplier and shift [output_depth], or one pair when quant_step is 0;
 * fast_requant 1: shift holds r - 1 and the fast requantization runs (chosen at export when exact
 * for every input, tas_mat_fast_requantize), 0: TFLite's shifts;
 * scratch: 4·(input_depth / 4) words (two pixels' inputs, widened).
 * A pointwise conv with stride 1 arrives as a 1-D conv over the H·W pixels (ops/conv.py). */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_mat_mult_dsp.h"

/* The input vector of output pixel `pixel` (row-major over output_height x output_width). */
static inline const int8_t *tas_conv2d_1x1_pixel_input(const tas_conv2d_params *p, const int8_t *input, int32_t pixel)
{
    const int32_t out_y = pixel / p->output_width, out_x = pixel % p->output_width;
    return input + (out_y * p->stride_height * p->input_width + out_x * p->stride_width) * p->input_depth;
}

TAS_KERNEL void tas_conv2d_1x1_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                      const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                      int32_t quant_step, int32_t fast_requant, int32_t *scratch, int8_t *output)
{
    const tas_mat_mult m = {
        .depth = p->input_depth, .output_depth = p->output_depth, .packed_weights = packed_filter,
        .folded_bias = folded_bias, .multiplier = multiplier, .shift = shift, .quant_step = quant_step,
        .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
        .fast_requant = fast_requant,
    };
    const int32_t pixels = p->output_height * p->output_width;
    const int32_t paired_end = pixels - pixels % 2;
    for (int32_t pixel = 0; pixel < paired_end; pixel += 2) {
        int8_t *out = output + pixel * p->output_depth;
        tas_mat_mult_two_rows(&m, tas_conv2d_1x1_pixel_input(p, input, pixel),
                              tas_conv2d_1x1_pixel_input(p, input, pixel + 1), scratch, out, out + p->output_depth);
    }
    if (paired_end < pixels) { /* the odd pixel alone */
        tas_mat_mult_one_row_pairs(&m, tas_conv2d_1x1_pixel_input(p, input, paired_end), scratch,
                                   output + paired_end * p->output_depth);
    }
}
