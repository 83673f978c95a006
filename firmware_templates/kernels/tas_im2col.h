/* im2col for the general convolution kernels (tas_conv2d_im2col_s8*.c): one output pixel's receptive
 * field gathered into a column of int8 bytes, so any kernel size, stride, dilation, padding and
 * grouping becomes a matrix product over contiguous columns (tas_mat_mult_dsp.h's layout).
 * Column layout: per group, the taps in (filter_y, filter_x) order, each the group's filter_depth
 * channels, as in the OHWI weights; each group's run padded with zeros to a whole word
 * (tas_im2col_window), where the packed weights are zero too, so the matrix kernels never run a
 * tail loop. Taps outside the image read as the input zero point (-input_offset): with the zero
 * point folded into the bias, they add (zero_point - zero_point)·w = 0, as TFLite's skipped taps do. */
#ifndef TAS_IM2COL_H
#define TAS_IM2COL_H

#include <stdint.h>
#include "tas_conv2d_common.h"
#include "tas_dsp.h"

/* Bytes of one group's column: the window, padded to a word. */
static inline int32_t tas_im2col_window(const tas_conv2d_params *p)
{
    return (p->filter_height * p->filter_width * p->filter_depth + 3) & ~3;
}

/* n bytes from src to dst, a word at a time while it can (unaligned words are legal on the M3/M4). */
static inline void tas_im2col_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, src += 4, dst += 4) {
        tas_write_word(dst, tas_read_word(src));
    }
    for (int32_t i = 0; i < n; ++i) {
        dst[i] = src[i];
    }
}

/* GCC would turn this loop into a call of newlib's byte-at-a-time memset. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static inline void tas_im2col_fill(int8_t *dst, int8_t value, int32_t n)
{
    const int32_t word = tas_splat_s8x4(value);
    for (; n >= 4; n -= 4, dst += 4) {
        tas_write_word(dst, word);
    }
    for (int32_t i = 0; i < n; ++i) {
        dst[i] = value;
    }
}

/* One filter row (taps filter_x = 0..filter_width-1 at input row `row`, group channels from
 * `first_channel`) into col; returns the byte after it. */
static inline int8_t *tas_im2col_filter_row(const tas_conv2d_params *p, const int8_t *row, int32_t in_x_origin,
                                            int32_t first_channel, int8_t pad, int8_t *col)
{
    const int32_t depth = p->filter_depth, width = p->filter_width;
    const int32_t last_x = in_x_origin + (width - 1) * p->dilation_width;
    if (p->groups == 1 && p->dilation_width == 1 && in_x_origin >= 0 && last_x < p->input_width) {
        /* The whole filter row in the image, channels contiguous: one run of width·depth bytes. */
        tas_im2col_copy(col, row + in_x_origin * depth, width * depth);
        return col + width * depth;
    }
    for (int32_t filter_x = 0; filter_x < width; ++filter_x, col += depth) {
        const int32_t in_x = in_x_origin + filter_x * p->dilation_width;
        if (in_x < 0 || in_x >= p->input_width) {
            tas_im2col_fill(col, pad, depth);
        } else {
            tas_im2col_copy(col, row + in_x * p->input_depth + first_channel, depth);
        }
    }
    return col;
}

/* The column of output pixel (out_y, out_x): groups · tas_im2col_window(p) bytes. */
static inline void tas_im2col_pixel(const tas_conv2d_params *p, const int8_t *input, int32_t out_y, int32_t out_x,
                                    int8_t *column)
{
    const int8_t pad = (int8_t)(-p->input_offset);
    const int32_t row_bytes = p->filter_width * p->filter_depth;
    const int32_t window = p->filter_height * row_bytes, padded = tas_im2col_window(p);
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
    if (p->groups == 1 && p->dilation_height == 1 && p->dilation_width == 1 && p->filter_width == p->input_width
        && in_x_origin == 0) {
        /* Filter rows as wide as the input and starting at its first column (1-D convs over time:
         * WSNet, the anchor's padded layers): the window is one run of input rows, cut by the padding
         * rows above and below only. Another output column (SAME padding on the right) reads past the
         * row's end, so it takes the general path below. */
        int32_t above = in_y_origin < 0 ? -in_y_origin : 0;
        above = above < p->filter_height ? above : p->filter_height;
        const int32_t past_end = in_y_origin + p->filter_height - p->input_height;
        const int32_t below = past_end <= 0 ? 0 : (past_end < p->filter_height - above ? past_end : p->filter_height - above);
        const int32_t inside = p->filter_height - above - below;
        tas_im2col_fill(column, pad, above * row_bytes);
        tas_im2col_copy(column + above * row_bytes, input + (in_y_origin + above) * row_bytes, inside * row_bytes);
        tas_im2col_fill(column + (above + inside) * row_bytes, pad, below * row_bytes);
        tas_im2col_fill(column + window, 0, padded - window);
        return;
    }
    const int32_t last_y = in_y_origin + (p->filter_height - 1) * p->dilation_height;
    const int32_t last_x = in_x_origin + (p->filter_width - 1) * p->dilation_width;
    if (p->groups == 1 && p->dilation_width == 1 && in_y_origin >= 0 && last_y < p->input_height && in_x_origin >= 0
        && last_x < p->input_width) {
        /* The whole window in the image (most pixels of a first layer): one run per filter row. */
        const int32_t input_row = p->input_width * p->input_depth, row_step = p->dilation_height * input_row;
        const int8_t *src = input + in_y_origin * input_row + in_x_origin * p->input_depth;
        int8_t *col = column;
        for (int32_t filter_y = 0; filter_y < p->filter_height; ++filter_y, src += row_step, col += row_bytes) {
            tas_im2col_copy(col, src, row_bytes);
        }
        tas_im2col_fill(col, 0, padded - window);
        return;
    }
    for (int32_t group = 0; group < p->groups; ++group) {
        int8_t *col = column + group * padded;
        for (int32_t filter_y = 0; filter_y < p->filter_height; ++filter_y) {
            const int32_t in_y = in_y_origin + filter_y * p->dilation_height;
            if (in_y < 0 || in_y >= p->input_height) {
                tas_im2col_fill(col, pad, row_bytes);
                col += row_bytes;
            } else {
                const int8_t *row = input + in_y * p->input_width * p->input_depth;
                col = tas_im2col_filter_row(p, row, in_x_origin, group * p->filter_depth, pad, col);
            }
        }
        tas_im2col_fill(col, 0, padded - window);
    }
}

#endif /* TAS_IM2COL_H */
