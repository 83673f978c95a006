/* int8 mean over the middle axis of input viewed as [outer, reduced, inner], TFLite's
 * QuantizedMeanOrSum: subtract the input zero point from the sum, requantize with a multiplier
 * that already includes 1/reduced, add the output zero point, clamp; even when input and output
 * share quantization (the TFLM we check against has no truncating shortcut for that case: issue 18).
 * SUM is the same with a multiplier of s_in/s_out only. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_requantize.h"

TAS_KERNEL void tas_mean_s8(const tas_mean_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t o = 0; o < p->outer; ++o) {
        for (int32_t i = 0; i < p->inner; ++i) {
            const int8_t *in = input + o * p->reduced * p->inner + i;
            int32_t sum = 0;
            for (int32_t r = 0; r < p->reduced; ++r) {
                sum += in[r * p->inner];
            }
            const int32_t value =
                tas_requantize(sum - p->input_zero_point * p->reduced, p->multiplier, p->shift) + p->output_zero_point;
            output[o * p->inner + i] = (int8_t)tas_clamp(value, -128, 127);
        }
    }
}
