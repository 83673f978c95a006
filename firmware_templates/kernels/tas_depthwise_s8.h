/* int8 depthwise convolution with depth multiplier 1 and dilation 1, portable C (Cortex-M0/M3, or
 * any core): any filter size, stride and padding; bit-exact with TFLite's reference DepthwiseConv.
 * input  [1, input_height, input_width, C]  int8, NHWC (C = input_depth = output_depth)
 * filter [filter_height, filter_width, C]   int8, TFLite's own depthwise layout (channels contiguous)
 * bias [2][C] int32: the bias, then bias + input_offset·Σw (exact for whole windows, where every
 *   tap is inside the image); requantization [C][6] int32 (tas_depthwise_common.h), per channel
 * output [1, output_height, output_width, C]  int8
 *
 * The reference grouped conv runs one channel at a time over its window; here each window tap
 * serves a block of 4 channels kept in registers, whose inputs and weights sit side by side in
 * NHWC, and out-of-image taps are skipped by clipping the window once per pixel. Whole windows
 * take the folded bias and skip the per-MAC offset add. */
#ifndef TAS_DEPTHWISE_S8_H
#define TAS_DEPTHWISE_S8_H
#include "tas_depthwise_common.h"
#include "tas_depthwise_v6m.h"

#define TAS_DEPTHWISE_BLOCK 4

/* acc.c += Σ (x_c + input_offset)·w_c over rows × cols taps, for channels c..c+3 (in, w point at c). */
TAS_DEPTHWISE_INLINE tas_depthwise_acc4 tas_depthwise_window_4ch(const int8_t *in, const int8_t *w, int32_t rows,
                                                          int32_t cols, int32_t input_row_step, int32_t channels,
                                                          int32_t filter_row_step, int32_t input_offset,
                                                          tas_depthwise_acc4 acc)
{
    for (int32_t row = 0; row < rows; ++row) {
        for (int32_t col = 0; col < cols; ++col) {
            const int8_t *x = in + col * channels, *wt = w + col * channels;
            acc.c0 += ((int32_t)x[0] + input_offset) * wt[0];
            acc.c1 += ((int32_t)x[1] + input_offset) * wt[1];
            acc.c2 += ((int32_t)x[2] + input_offset) * wt[2];
            acc.c3 += ((int32_t)x[3] + input_offset) * wt[3];
        }
        in += input_row_step;
        w += filter_row_step;
    }
    return acc;
}

/* One tap of 4 channels whose window is whole (input offset folded into the bias): x, w at channel c. */
TAS_DEPTHWISE_INLINE tas_depthwise_acc4 tas_depthwise_tap_4ch(const int8_t *x, const int8_t *w, tas_depthwise_acc4 acc)
{
    acc.c0 += x[0] * w[0];
    acc.c1 += x[1] * w[1];
    acc.c2 += x[2] * w[2];
    acc.c3 += x[3] * w[3];
    return acc;
}

/* A whole 3×3 window of 4 channels, written out: nine taps, no loop (filter rows 3·channels apart). */
TAS_DEPTHWISE_INLINE tas_depthwise_acc4 tas_depthwise_window_3x3_4ch(const int8_t *in, const int8_t *w,
                                                                    int32_t input_row_step, int32_t channels,
                                                                    tas_depthwise_acc4 acc)
{
#ifdef TAS_DEPTHWISE_V6M_ASM
    tas_depthwise_v6m_io io = {{acc.c0, acc.c1, acc.c2, acc.c3}, channels, input_row_step};
    tas_depthwise_3x3_4ch_v6m(in, w, &io);
    acc = (tas_depthwise_acc4){io.sums[0], io.sums[1], io.sums[2], io.sums[3]};
    return acc;
#endif
    for (int32_t row = 0; row < 3; ++row) {
        acc = tas_depthwise_tap_4ch(in, w, acc);
        acc = tas_depthwise_tap_4ch(in + channels, w + channels, acc);
        acc = tas_depthwise_tap_4ch(in + 2 * channels, w + 2 * channels, acc);
        in += input_row_step;
        w += 3 * channels;
    }
    return acc;
}

TAS_DEPTHWISE_INLINE int32_t tas_depthwise_window_1ch(const int8_t *in, const int8_t *w, int32_t rows, int32_t cols,
                                               int32_t input_row_step, int32_t channels, int32_t filter_row_step,
                                               int32_t input_offset, int32_t acc)
{
    for (int32_t row = 0; row < rows; ++row) {
        for (int32_t col = 0; col < cols; ++col) {
            acc += ((int32_t)in[col * channels] + input_offset) * w[col * channels];
        }
        in += input_row_step;
        w += filter_row_step;
    }
    return acc;
}

/* The layer's constants, held in locals rather than read through `p` (see tas_depthwise_output_stage). */
typedef struct {
    int32_t channels, blocked_end, input_row_step, filter_row_step;
    int32_t fast_output; /* every channel's right shift in 1..22 (tas_depthwise_all_fast) */
    tas_depthwise_output_stage stage;
    const int32_t *requantization;
} tas_depthwise_layer;

/* Every channel of one output pixel over rows × cols in-image taps (in, w: the first tap), each
 * input byte plus input_offset. Always inlined: once with the folded bias and offset 0 (whole
 * windows: the add disappears), once with the plain bias and the offset. */
TAS_DEPTHWISE_INLINE void tas_depthwise_pixel(const tas_depthwise_layer layer, const int8_t *in,
                                                                      const int8_t *w, int32_t rows, int32_t cols,
                                                                      const int32_t *bias, int32_t input_offset,
                                                                      int whole_3x3, int8_t *out)
{
    for (int32_t c = 0; c < layer.blocked_end; c += TAS_DEPTHWISE_BLOCK) {
        const tas_depthwise_acc4 bias4 = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
        const tas_depthwise_acc4 acc =
            whole_3x3 ? tas_depthwise_window_3x3_4ch(in + c, w + c, layer.input_row_step, layer.channels, bias4)
                      : tas_depthwise_window_4ch(in + c, w + c, rows, cols, layer.input_row_step, layer.channels,
                                                 layer.filter_row_step, input_offset, bias4);
        const int32_t *requant = layer.requantization + TAS_DEPTHWISE_REQUANT_WORDS * c;
        if (layer.fast_output) {
            out[c] = tas_depthwise_output_fast(layer.stage, acc.c0, requant);
            out[c + 1] = tas_depthwise_output_fast(layer.stage, acc.c1, requant + TAS_DEPTHWISE_REQUANT_WORDS);
            out[c + 2] = tas_depthwise_output_fast(layer.stage, acc.c2, requant + 2 * TAS_DEPTHWISE_REQUANT_WORDS);
            out[c + 3] = tas_depthwise_output_fast(layer.stage, acc.c3, requant + 3 * TAS_DEPTHWISE_REQUANT_WORDS);
        } else {
            tas_depthwise_store4(layer.stage, acc, requant, out + c);
        }
    }
    for (int32_t c = layer.blocked_end; c < layer.channels; ++c) {
        const int32_t acc = tas_depthwise_window_1ch(in + c, w + c, rows, cols, layer.input_row_step, layer.channels,
                                                     layer.filter_row_step, input_offset, bias[c]);
        out[c] = tas_depthwise_output(layer.stage, acc, layer.requantization + TAS_DEPTHWISE_REQUANT_WORDS * c);
    }
}

/* Output rows first_row .. end_row - 1 into output (which holds row first_row's first byte):
 * the whole kernel is rows 0 .. output_height - 1; a row stream (tinyasc/compile/rowstream.py)
 * runs one row at a time into a ring or beside the pointwise conv that reads it. */
TAS_DEPTHWISE_INLINE void tas_depthwise_rows_s8(const tas_conv2d_params *p, const int8_t *input, const int8_t *filter,
                                        const int32_t *bias, const int32_t *requantization, int8_t *output,
                                             int32_t first_row, int32_t end_row)
{
    const int32_t channels = p->output_depth, input_offset = p->input_offset;
    const int32_t filter_height = p->filter_height, filter_width = p->filter_width;
    const int32_t output_width = p->output_width;
    const tas_depthwise_layer layer = {
        channels, channels - channels % TAS_DEPTHWISE_BLOCK, p->input_width * channels, filter_width * channels,
        tas_depthwise_all_fast(requantization, channels), tas_depthwise_output_stage_of(p), requantization,
    };
    const int32_t *folded_bias = bias + channels;
    int8_t *out = output;
    for (int32_t out_y = first_row; out_y < end_row; ++out_y) {
        for (int32_t out_x = 0; out_x < output_width; ++out_x) {
            const tas_depthwise_window window = tas_depthwise_clip(p, out_y, out_x);
            const int8_t *in = input + window.input_pixel * channels;
            const int8_t *w = filter + (window.first_row * filter_width + window.first_col) * channels;
            if (window.rows == filter_height && window.cols == filter_width) {
                if (filter_height == 3 && filter_width == 3) {
                    tas_depthwise_pixel(layer, in, w, 3, 3, folded_bias, 0, 1, out);
                } else {
                    tas_depthwise_pixel(layer, in, w, window.rows, window.cols, folded_bias, 0, 0, out);
                }
            } else {
                tas_depthwise_pixel(layer, in, w, window.rows, window.cols, bias, input_offset, 0, out);
            }
            out += channels;
        }
    }
}

#endif /* TAS_DEPTHWISE_S8_H */
