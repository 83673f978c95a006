/* The float32 edges of a model converted with float input/output types: QUANTIZE of the float
 * input to int8 and DEQUANTIZE of the int8 result to float (tinyasc/compile/ops/quantize.py). The
 * arithmetic is TFLM's reference AffineQuantize and Dequantize, one IEEE float32 division or
 * multiplication per element, so the results are bit-exact on any IEEE core. Both read element i
 * before writing element i. */
#ifndef TAS_FLOAT_BOUNDARY_H
#define TAS_FLOAT_BOUNDARY_H

#include <stdint.h>

typedef struct {
    int32_t size;
    int32_t zero_point;
} tas_float_boundary_params;

#endif /* TAS_FLOAT_BOUNDARY_H */
