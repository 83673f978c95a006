/* int8 affine gather: TRANSPOSE and STRIDED_SLICE (TFLite reference semantics).
 * output: int8 [dim0, dim1, dim2, dim3], row-major
 * input : int8; output (i0, i1, i2, i3) = input[base + i0·step0 + i1·step1 + i2·step2 + i3·step3]
 *         (every offset is inside the input: the Python side derived base and steps from it) */
#include "tas_kernels.h"
#include "tas_kernel_params.h"

TAS_KERNEL void tas_strided_copy_s8(const tas_strided_copy_params *p, const int8_t *input, int8_t *output)
{
    int8_t *out = output;
    for (int32_t i0 = 0; i0 < p->dim0; ++i0) {
        for (int32_t i1 = 0; i1 < p->dim1; ++i1) {
            for (int32_t i2 = 0; i2 < p->dim2; ++i2) {
                const int8_t *row = input + p->base + i0 * p->step0 + i1 * p->step1 + i2 * p->step2;
                for (int32_t i3 = 0; i3 < p->dim3; ++i3) {
                    *out++ = row[i3 * p->step3];
                }
            }
        }
    }
}
