/* DEQUANTIZE to the float32 graph output (tas_float_boundary.h). */
#include "tas_kernels.h"
#include "tas_float_boundary.h"

/* x = scale * (q - zero_point), the product in float32 as TFLM computes it. */
TAS_KERNEL void tas_dequantize_s8_f32(const tas_float_boundary_params *p, float scale, const int8_t *input, float *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = scale * (float)((int32_t)input[i] - p->zero_point);
    }
}
