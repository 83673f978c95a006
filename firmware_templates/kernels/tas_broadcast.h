/* The 4-D broadcast walk of the fast elementwise kernels (tas_add_fast_s8, tas_mul_fast_s8): the
 * parameter struct's extents and per-input element steps (0 where an operand repeats), with every
 * run of axes that both inputs read contiguously merged into one, so a residual ADD is one loop
 * over the whole tensor and an SE gate's MUL one loop per pixel over the channels. */
#ifndef TAS_BROADCAST_H
#define TAS_BROADCAST_H

#include <stdint.h>

typedef struct {
    int32_t dims[4], steps1[4], steps2[4]; /* axis 3 innermost; merged axes leave extent 1 in front */
} tas_broadcast;

/* Axes of extent 1 dropped, then each axis merged into the one inside it when both inputs step over
 * the inner axis into it (also when both repeat along both); the result right-aligned, extent-1
 * axes in front. */
static inline tas_broadcast tas_broadcast_merged(const int32_t dims[4], const int32_t steps1[4], const int32_t steps2[4])
{
    tas_broadcast b = {{1, 1, 1, 1}, {0, 0, 0, 0}, {0, 0, 0, 0}};
    int32_t inner = 4; /* the innermost axis filled so far; 4: none yet */
    for (int32_t axis = 3; axis >= 0; --axis) {
        if (dims[axis] == 1) {
            continue;
        }
        if (inner < 4 && steps1[axis] == b.steps1[inner] * b.dims[inner] && steps2[axis] == b.steps2[inner] * b.dims[inner]) {
            b.dims[inner] *= dims[axis];
            continue;
        }
        --inner;
        b.dims[inner] = dims[axis];
        b.steps1[inner] = steps1[axis];
        b.steps2[inner] = steps2[axis];
    }
    return b;
}

#endif /* TAS_BROADCAST_H */
