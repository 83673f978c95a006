/* int8 1x1 convolution (pointwise, any stride, no padding, one group) for cores with the DSP
 * extension: a matrix product of the output pixels' input vectors with the [output_depth,
 * input_depth] weights, blocked 2 channels x 2 pixels so each loaded word feeds several SMLADs
 * (tas_mat_mult_dsp.h has the arithmetic and the weight layout). Same layouts (NHWC) and the same
 * bit-exact results as tas_conv2d_s8. packed_filter: the int8 weights in blocks of 2 channels
 * (pack_mat_mult_weights(weights, 2)), about one byte per weight; folded_bias [output_depth] = bias +
 * input_offset·Σ weights; multiplier and shift [output_depth], or one pair when quant_step is 0;
 * fast_requant 1: shift holds r - 1 and the fast requantization runs (chosen at export when exact
 * for every input, tas_mat_fast_requantize), 0: TFLite's shifts;
 * scratch: 6·(input_depth / 4) words (three pixels' inputs, widened).
 * With the fast requantization, per-channel constants and no tail bytes, pixels go three at a time
 * (tas_mat_mult_triples_dsp.h: 2 channels x 3 pixels in assembly), the rest in pairs.
 * A pointwise conv with stride 1 arrives as a 1-D conv over the H·W pixels (ops/conv.py). */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_conv2d_1x1_dsp.h"

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
    tas_conv2d_1x1_dsp_pixels(p, &m, input, scratch, output);
}
