/* int8 convolution with sparse weights (tas_sparse_common.h) for the cases tas_conv2d_rows_s8
 * runs: every output row reads one contiguous input window (1-D convolutions in 2-D form, 1x1
 * convolutions). Bit-exact with tas_conv2d_s8. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_sparse_common.h"

TAS_KERNEL_INLINE void tas_conv2d_sparse_s8(const tas_conv2d_params *p, const int8_t *input, const uint16_t *counts,
                                            const int8_t *entries, const int32_t *folded_bias,
                                            const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
    const tas_sparse_rows rows = {
        .rows = p->output_height, .row_step = p->stride_height * p->input_width * p->input_depth,
        .output_depth = p->output_depth,
        .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
        .counts = counts, .entries = entries,
        .folded_bias = folded_bias, .multiplier = multiplier, .shift = shift,
    };
    tas_sparse_rows_s8(&rows, input, output);
}
