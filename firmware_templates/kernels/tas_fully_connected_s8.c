/* int8 fully connected, TFLite reference semantics (per-channel or broadcast per-tensor
 * requantization; int8 weights are symmetric so no filter offset).
 * input [batches, input_depth] int8; weights [output_depth, input_depth] int8;
 * bias [output_depth] int32 or NULL; output [batches, output_depth] int8. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_requantize.h"

TAS_KERNEL void tas_fully_connected_s8(const tas_fully_connected_params *p, const int8_t *input,
                                       const int8_t *weights, const int32_t *bias,
                                       const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->input_depth;
        for (int32_t out_c = 0; out_c < p->output_depth; ++out_c) {
            const int8_t *w = weights + out_c * p->input_depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < p->input_depth; ++d) {
                acc += (int32_t)w[d] * ((int32_t)in[d] + p->input_offset);
            }
            if (bias) {
                acc += bias[out_c];
            }
            acc = tas_requantize(acc, multiplier[out_c], shift[out_c]) + p->output_offset;
            output[b * p->output_depth + out_c] = (int8_t)tas_clamp(acc, p->act_min, p->act_max);
        }
    }
}
