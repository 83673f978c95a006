/* tas_fully_connected_s8 for cores with the DSP extension: same layouts for input and output, same
 * bit-exact results, two MACs per SMLAD (tas_mat_mult_dsp.h has the arithmetic and the weight layout).
 * input [batches, input_depth] int8; packed_weights: the [output_depth, input_depth] int8 weights in
 * blocks of 4 channels (pack_mat_mult_weights(weights, 4)), about one byte per weight; folded_bias
 * [output_depth] = bias + input_offset·Σ weights, computed at export time; multiplier and shift
 * [output_depth], or one pair when quant_step is 0 (per-tensor weights); output [batches, output_depth].
 * Each input word, widened, feeds 4 channels (tas_mat_mult_one_row); no scratch RAM. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_mat_mult_dsp.h"

TAS_KERNEL void tas_fully_connected_s8_dsp(const tas_fully_connected_params *p, const int8_t *input,
                                           const int32_t *packed_weights, const int32_t *folded_bias,
                                           const int32_t *multiplier, const int32_t *shift, int32_t quant_step,
                                           int8_t *output)
{
    const tas_mat_mult m = {
        .depth = p->input_depth, .output_depth = p->output_depth, .packed_weights = packed_weights,
        .folded_bias = folded_bias, .multiplier = multiplier, .shift = shift, .quant_step = quant_step,
        .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
    };
    for (int32_t b = 0; b < p->batches; ++b) {
        tas_mat_mult_one_row(&m, input + b * p->input_depth, output + b * p->output_depth);
    }
}
