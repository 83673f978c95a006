/* tas_depthwise_conv2d_s8_dsp: the whole depthwise layer (layouts and method: tas_depthwise_s8_dsp.h). */
#include "tas_kernels.h"
#include "tas_depthwise_s8_dsp.h"

TAS_KERNEL_INLINE void tas_depthwise_conv2d_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
        const int32_t *bias, const int32_t *requantization, int8_t *output)
{
    tas_depthwise_rows_s8_dsp(p, input, packed_filter, bias, requantization, output, 0, p->output_height);
}
