/* int8 concatenation, TFLM semantics: bytes are copied, never rescaled.
 * parts[i]     : int8, viewed as [outer, copy_sizes[i]]
 * output       : int8 [outer, Σ copy_sizes], each outer row the parts' rows side by side */
#include "tas_kernels.h"
#include "tas_kernel_params.h"

TAS_KERNEL void tas_concatenation_s8(const tas_concatenation_params *p, const int8_t *const *parts,
                                     const int32_t *copy_sizes, int8_t *output)
{
    int8_t *out = output;
    for (int32_t outer = 0; outer < p->outer; ++outer) {
        for (int32_t part = 0; part < p->num_inputs; ++part) {
            const int8_t *in = parts[part] + outer * copy_sizes[part];
            for (int32_t k = 0; k < copy_sizes[part]; ++k) {
                *out++ = in[k];
            }
        }
    }
}
