/* int8 constant padding, TFLite reference semantics (reference_ops::Pad).
 * input : int8 [input_dim0, input_dim1, input_dim2, input_dim3], row-major
 * output: int8 [output_dim0, …, output_dim3]; output index i reads input i − pad_before on
 *         every axis when that lies inside the input, else it is pad_value. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"

static inline int tas_pad_inside(int32_t index, int32_t before, int32_t size)
{
    return index >= before && index < before + size;
}

TAS_KERNEL void tas_pad_s8(const tas_pad_params *p, const int8_t *input, int8_t *output)
{
    int8_t *out = output;
    for (int32_t o0 = 0; o0 < p->output_dim0; ++o0) {
        for (int32_t o1 = 0; o1 < p->output_dim1; ++o1) {
            for (int32_t o2 = 0; o2 < p->output_dim2; ++o2) {
                for (int32_t o3 = 0; o3 < p->output_dim3; ++o3) {
                    const int inside = tas_pad_inside(o0, p->pad_before0, p->input_dim0)
                        && tas_pad_inside(o1, p->pad_before1, p->input_dim1)
                        && tas_pad_inside(o2, p->pad_before2, p->input_dim2)
                        && tas_pad_inside(o3, p->pad_before3, p->input_dim3);
                    if (inside) {
                        const int32_t i0 = o0 - p->pad_before0, i1 = o1 - p->pad_before1;
                        const int32_t i2 = o2 - p->pad_before2, i3 = o3 - p->pad_before3;
                        *out++ = input[((i0 * p->input_dim1 + i1) * p->input_dim2 + i2) * p->input_dim3 + i3];
                    } else {
                        *out++ = (int8_t)p->pad_value;
                    }
                }
            }
        }
    }
}
