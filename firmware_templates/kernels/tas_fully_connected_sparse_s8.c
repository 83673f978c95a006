/* int8 fully connected with sparse weights (tas_sparse_common.h): each batch row is one window.
 * Bit-exact with tas_fully_connected_s8. Its own parameter struct (tas_kernel_params.h), with
 * the same fields as tas_fully_connected_params. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_sparse_common.h"

TAS_KERNEL_INLINE void tas_fully_connected_sparse_s8(const tas_fully_connected_sparse_params *p, const int8_t *input,
                                                     const uint16_t *counts, const int8_t *entries,
                                                     const int32_t *folded_bias, const int32_t *multiplier,
                                                     const int32_t *shift, int8_t *output)
{
    const tas_sparse_rows rows = {
        .rows = p->batches, .row_step = p->input_depth, .output_depth = p->output_depth,
        .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
        .counts = counts, .entries = entries,
        .folded_bias = folded_bias, .multiplier = multiplier, .shift = shift,
    };
    tas_sparse_rows_s8(&rows, input, output);
}
