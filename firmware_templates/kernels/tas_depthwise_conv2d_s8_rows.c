/* tas_depthwise_conv2d_s8_rows: output rows first_row .. end_row - 1 of the layer tas_depthwise_conv2d_s8
 * computes, written from `output` on (layouts and method: tas_depthwise_s8.h). A row stream
 * (tinyasc/compile/rowstream.py) calls it one row at a time, so that the layer runs in place or
 * fused with the pointwise conv that reads it. */
#include "tas_kernels.h"
#include "tas_depthwise_s8.h"

TAS_KERNEL_INLINE void tas_depthwise_conv2d_s8_rows(const tas_conv2d_params *p, const int8_t *input, const int8_t *filter,
        const int32_t *bias, const int32_t *requantization, int8_t *output, int32_t first_row, int32_t end_row)
{
    tas_depthwise_rows_s8(p, input, filter, bias, requantization, output, first_row, end_row);
}
