/* The pixel loop of the 1x1 DSP conv (tas_conv2d_1x1_s8_dsp.c has the layouts), shared with its
 * row-stream step kernel: three pixels at a time when tas_mat_triples_apply holds (3k + 1 pixels end
 * in two pairs rather than one pixel alone), then pairs, then an odd pixel alone. */
#ifndef TAS_CONV2D_1X1_DSP_H
#define TAS_CONV2D_1X1_DSP_H

#include "tas_conv2d_common.h"
#include "tas_mat_mult_dsp.h"
#include "tas_mat_mult_triples_dsp.h"

/* The input vector of output pixel `pixel` (row-major over output_height x output_width). */
static inline const int8_t *tas_conv2d_1x1_pixel_input(const tas_conv2d_params *p, const int8_t *input, int32_t pixel)
{
    const int32_t out_y = pixel / p->output_width, out_x = pixel % p->output_width;
    return input + (out_y * p->stride_height * p->input_width + out_x * p->stride_width) * p->input_depth;
}

/* Every output pixel of p (row-major over output_height x output_width); scratch 6·(depth / 4) words. */
static inline void tas_conv2d_1x1_dsp_pixels(const tas_conv2d_params *p, const tas_mat_mult *shape, const int8_t *input,
                                             int32_t *scratch, int8_t *output)
{
    const tas_mat_mult local = *shape, *m = &local;
    const int32_t pixels = p->output_height * p->output_width;
    int32_t pixel = 0;
    if (tas_mat_triples_apply(m)) { /* three pixels at a time; 3k + 1 pixels end in two pairs, not one alone */
        const int32_t triples_end = pixels % 3 == 1 && pixels > 1 ? pixels - 4 : pixels - pixels % 3;
        for (; pixel < triples_end; pixel += 3) {
            tas_mat_mult_three_rows(m, tas_conv2d_1x1_pixel_input(p, input, pixel),
                                    tas_conv2d_1x1_pixel_input(p, input, pixel + 1),
                                    tas_conv2d_1x1_pixel_input(p, input, pixel + 2), scratch,
                                    output + pixel * p->output_depth, p->output_depth);
        }
    }
    const int32_t paired_end = pixels - (pixels - pixel) % 2;
    for (; pixel < paired_end; pixel += 2) {
        int8_t *out = output + pixel * p->output_depth;
        tas_mat_mult_two_rows(m, tas_conv2d_1x1_pixel_input(p, input, pixel),
                              tas_conv2d_1x1_pixel_input(p, input, pixel + 1), scratch, out, out + p->output_depth);
    }
    if (paired_end < pixels) { /* the odd pixel alone */
        tas_mat_mult_one_row_pairs(m, tas_conv2d_1x1_pixel_input(p, input, paired_end), scratch,
                                   output + paired_end * p->output_depth);
    }
}

#endif /* TAS_CONV2D_1X1_DSP_H */
