/* The parameter structs of the kernels that have no family header (*_common.h), filled at export
 * time (tinyasc/compile/ops/) and stored in flash; each kernel's source documents its fields. */
#ifndef TAS_KERNEL_PARAMS_H
#define TAS_KERNEL_PARAMS_H

#include <stdint.h>

/* tas_add_s8.c */
typedef struct {
    int32_t dim0, dim1, dim2, dim3;
    int32_t input1_step0, input1_step1, input1_step2, input1_step3;
    int32_t input2_step0, input2_step1, input2_step2, input2_step3;
    int32_t subtract;
    int32_t input1_offset, input2_offset, output_offset, left_shift;
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift, act_min, act_max;
} tas_add_params;

/* tas_concatenation_s8.c */
typedef struct {
    int32_t outer, num_inputs;
} tas_concatenation_params;

/* tas_fully_connected_s8.c */
typedef struct {
    int32_t batches, input_depth, output_depth;
    int32_t input_offset, output_offset, act_min, act_max;
} tas_fully_connected_params;

/* tas_fully_connected_sparse_s8.c */
typedef struct {
    int32_t batches, input_depth, output_depth;
    int32_t input_offset, output_offset, act_min, act_max;
} tas_fully_connected_sparse_params;

/* tas_lut_s8.c */
typedef struct {
    int32_t size;
} tas_lut_params;

/* tas_mean_s8.c */
typedef struct {
    int32_t outer, reduced, inner;
    int32_t input_zero_point, output_zero_point, multiplier, shift;
} tas_mean_params;

/* tas_mul_s8.c */
typedef struct {
    int32_t dim0, dim1, dim2, dim3;
    int32_t input1_step0, input1_step1, input1_step2, input1_step3;
    int32_t input2_step0, input2_step1, input2_step2, input2_step3;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift, act_min, act_max;
} tas_mul_params;

/* tas_pad_s8.c */
typedef struct {
    int32_t output_dim0, output_dim1, output_dim2, output_dim3;
    int32_t input_dim0, input_dim1, input_dim2, input_dim3;
    int32_t pad_before0, pad_before1, pad_before2, pad_before3;
    int32_t pad_value;
} tas_pad_params;

/* tas_softmax_s8.c */
typedef struct {
    int32_t outer, depth;
} tas_softmax_params;

/* tas_strided_copy_s8.c */
typedef struct {
    int32_t dim0, dim1, dim2, dim3;
    int32_t step0, step1, step2, step3;
    int32_t base;
} tas_strided_copy_params;

#endif /* TAS_KERNEL_PARAMS_H */
