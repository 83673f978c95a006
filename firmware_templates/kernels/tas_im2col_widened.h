/* im2col straight into the mat-mult's widened scratch (tas_mat_mult_dsp.h: per quad of the window the
 * words a.even, a.odd, b.even, b.odd), for convolutions with one group and a filter depth that is a
 * multiple of 4: every tap is then whole words, so each input word is loaded, widened (two SXTB16)
 * and stored once, with no int8 column in between and no second widening pass (tas_im2col.h +
 * tas_mat_widen_rows). Taps outside the image are the input zero point, widened, as in tas_im2col.h. */
#ifndef TAS_IM2COL_WIDENED_H
#define TAS_IM2COL_WIDENED_H

#include <stdint.h>
#include "tas_conv2d_common.h"
#include "tas_dsp.h"
#include "tas_mat_mult_dsp.h"

static inline int32_t tas_im2col_widened_applies(const tas_conv2d_params *p)
{
    return p->groups == 1 && p->filter_depth % 4 == 0;
}

/* `words` input words from src, widened, into this pixel's 2 words of each quad (dst steps by 4). */
static inline int32_t *tas_im2col_widen_run(int32_t *dst, const int8_t *src, int32_t words)
{
    for (; words > 0; --words, src += 4, dst += 4) {
        const tas_widened x = tas_widen(tas_read_word(src));
        dst[0] = x.even;
        dst[1] = x.odd;
    }
    return dst;
}

static inline int32_t *tas_im2col_widen_fill(int32_t *dst, tas_widened pad, int32_t words)
{
    for (; words > 0; --words, dst += 4) {
        dst[0] = pad.even;
        dst[1] = pad.odd;
    }
    return dst;
}

/* Output pixel (out_y, out_x)'s window, widened, at dst = widened scratch + 2·lane (lane 0: row a,
 * 1: row b). Only when tas_im2col_widened_applies(p). */
static inline void tas_im2col_pixel_widened(const tas_conv2d_params *p, const int8_t *input, int32_t out_y, int32_t out_x,
                                            int32_t *dst)
{
    const tas_widened pad = tas_widen(tas_splat_s8x4(-p->input_offset));
    const int32_t tap_words = p->filter_depth / 4, width = p->filter_width;
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
    const int32_t last_x = in_x_origin + (width - 1) * p->dilation_width;
    const int32_t row_inside = p->dilation_width == 1 && in_x_origin >= 0 && last_x < p->input_width;
    for (int32_t filter_y = 0; filter_y < p->filter_height; ++filter_y) {
        const int32_t in_y = in_y_origin + filter_y * p->dilation_height;
        if (in_y < 0 || in_y >= p->input_height) {
            dst = tas_im2col_widen_fill(dst, pad, width * tap_words);
            continue;
        }
        const int8_t *row = input + in_y * p->input_width * p->input_depth;
        if (row_inside) { /* the whole filter row in the image: one run of width·depth bytes */
            dst = tas_im2col_widen_run(dst, row + in_x_origin * p->input_depth, width * tap_words);
            continue;
        }
        for (int32_t filter_x = 0; filter_x < width; ++filter_x) {
            const int32_t in_x = in_x_origin + filter_x * p->dilation_width;
            dst = (in_x < 0 || in_x >= p->input_width) ? tas_im2col_widen_fill(dst, pad, tap_words)
                                                       : tas_im2col_widen_run(dst, row + in_x * p->input_depth, tap_words);
        }
    }
}

#endif /* TAS_IM2COL_WIDENED_H */
