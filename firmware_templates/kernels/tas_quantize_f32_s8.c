/* QUANTIZE of the float32 graph input (tas_float_boundary.h). */
#include "tas_kernels.h"
#include "tas_float_boundary.h"

/* std::round of a float32 in [-512, 512]: half away from zero. The fraction x - trunc(x) is exact
 * there, so the comparison with 0.5 decides the tie exactly, without libm. */
static int32_t tas_round_half_away_f32(float value)
{
    const int32_t truncated = (int32_t)value;
    const float fraction = value - (float)truncated;
    if (fraction >= 0.5f) {
        return truncated + 1;
    }
    if (fraction <= -0.5f) {
        return truncated - 1;
    }
    return truncated;
}

/* q = clamp(round(x / scale) + zero_point, -128, 127). The quotient is clamped to +-512 before the
 * integer conversion (any value beyond saturates to -128 or 127 anyway); NaN maps to -128. */
TAS_KERNEL void tas_quantize_f32_s8(const tas_float_boundary_params *p, float scale, const float *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        float quotient = input[i] / scale;
        if (!(quotient > -512.0f)) {
            quotient = -512.0f;
        }
        if (quotient > 512.0f) {
            quotient = 512.0f;
        }
        int32_t value = tas_round_half_away_f32(quotient) + p->zero_point;
        value = value < -128 ? -128 : (value > 127 ? 127 : value);
        output[i] = (int8_t)value;
    }
}
