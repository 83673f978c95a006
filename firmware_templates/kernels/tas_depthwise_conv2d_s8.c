/* tas_depthwise_conv2d_s8: the whole depthwise layer (layouts and method: tas_depthwise_s8.h). */
#include "tas_kernels.h"
#include "tas_depthwise_s8.h"

TAS_KERNEL_INLINE void tas_depthwise_conv2d_s8(const tas_conv2d_params *p, const int8_t *input, const int8_t *filter,
        const int32_t *bias, const int32_t *requantization, int8_t *output)
{
    tas_depthwise_rows_s8(p, input, filter, bias, requantization, output, 0, p->output_height);
}
