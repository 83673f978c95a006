/* Any element-wise int8 -> int8 op as a 256-entry table computed at export time: RELU, RELU6,
 * LEAKY_RELU, QUANTIZE (int8 -> int8), LOGISTIC, TANH, HARD_SWISH. The table holds TFLM's
 * reference output for every input value (tinyasc/compile/ops/activation.py); entry i is the
 * output for input i - 128. Reads each input before writing its output, so it may run in place. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"

TAS_KERNEL void tas_lut_s8(const tas_lut_params *p, const int8_t *table, const int8_t *input, int8_t *output)
{
    const int8_t *entry_of_zero = table + 128;
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = entry_of_zero[input[i]];
    }
}
