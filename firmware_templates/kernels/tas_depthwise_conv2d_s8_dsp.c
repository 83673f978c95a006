/* int8 depthwise convolution with depth multiplier 1 and dilation 1, for cores with the DSP
 * extension: any filter size (3×3, k×1, 1×k…), stride and padding; bit-exact with TFLite's
 * reference DepthwiseConv (per-channel requantization).
 * input  [1, input_height, input_width, C]  int8, NHWC (C = input_depth = output_depth)
 * packed_filter  int32 words (tinyasc/compile/weight_packing.py: pack_depthwise_dsp_weights):
 *   per block of 4 channels c..c+3, per tap t (row-major): (w[c,t] | w[c+2,t] << 16),
 *   (w[c+1,t] | w[c+3,t] << 16); then per tail channel (C % 4 of them), per tap: w[c,t]
 * bias [C] int32; multiplier/shift [C] per-channel requantization (multipliers >= 0)
 * output [1, output_height, output_width, C]  int8
 *
 * Channels sit in SIMD lanes: one word load reads 4 channels of an input pixel (contiguous in
 * NHWC); SXTAB16 widens channels (0, 2) and, rotated, (1, 3) to int16 and adds the input offset
 * in the same instruction, so padding needs no folded-bias correction (out-of-image taps are simply
 * skipped); SMLABB/SMLATT multiply-accumulate each lane into its own channel's sum. */
#include "tas_kernels.h"
#include "tas_depthwise_common.h"
#include "tas_dsp.h"

#define TAS_DEPTHWISE_DSP_BLOCK 4

/* acc.c += Σ (x_c + input_offset)·w_c over rows × cols taps, for one block of 4 channels.
 * |x + offset| ≤ 255 and |w| ≤ 128 fit the int16 lanes; the int32 sums cannot overflow for
 * windows under 65k taps. */
static inline tas_depthwise_acc4 tas_depthwise_window_4ch_dsp(const int8_t *in, const int32_t *w, int32_t rows,
                                                              int32_t cols, int32_t input_row_step, int32_t channels,
                                                              int32_t filter_width, int32_t offset_pair,
                                                              tas_depthwise_acc4 acc)
{
    for (int32_t row = 0; row < rows; ++row) {
        for (int32_t col = 0; col < cols; ++col) {
            const int32_t x = tas_read_word(in + col * channels);
            const int32_t even = tas_sxtab16(offset_pair, x);          /* x0 + offset, x2 + offset */
            const int32_t odd = tas_sxtab16(offset_pair, tas_ror8(x)); /* x1 + offset, x3 + offset */
            acc.c0 = tas_smlabb(even, w[2 * col], acc.c0);
            acc.c2 = tas_smlatt(even, w[2 * col], acc.c2);
            acc.c1 = tas_smlabb(odd, w[2 * col + 1], acc.c1);
            acc.c3 = tas_smlatt(odd, w[2 * col + 1], acc.c3);
        }
        in += input_row_step;
        w += 2 * filter_width;
    }
    return acc;
}

/* acc + Σ (x + input_offset)·w over rows × cols taps, for one tail channel (one weight per word). */
static inline int32_t tas_depthwise_window_1ch_dsp(const int8_t *in, const int32_t *w, int32_t rows, int32_t cols,
                                                   int32_t input_row_step, int32_t channels, int32_t filter_width,
                                                   int32_t input_offset, int32_t acc)
{
    for (int32_t row = 0; row < rows; ++row) {
        for (int32_t col = 0; col < cols; ++col) {
            acc += ((int32_t)in[col * channels] + input_offset) * w[col];
        }
        in += input_row_step;
        w += filter_width;
    }
    return acc;
}

TAS_KERNEL void tas_depthwise_conv2d_s8_dsp(const tas_conv2d_params *p, const int8_t *input,
                                            const int32_t *packed_filter, const int32_t *bias,
                                            const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
    const int32_t channels = p->output_depth;
    const int32_t taps = p->filter_height * p->filter_width;
    const int32_t input_row_step = p->input_width * channels;
    const int32_t offset_pair = (int32_t)(((uint32_t)p->input_offset & 0xffffu) * 0x10001u);
    /* Bounds computed up front (GCC's -Waggressive-loop-optimizations, as in tas_conv2d_rows_s8_dsp). */
    const int32_t blocked_end = channels - channels % TAS_DEPTHWISE_DSP_BLOCK;
    const int32_t *tail_filter = packed_filter + 2 * taps * (blocked_end / TAS_DEPTHWISE_DSP_BLOCK);
    int8_t *out = output;
    for (int32_t out_y = 0; out_y < p->output_height; ++out_y) {
        for (int32_t out_x = 0; out_x < p->output_width; ++out_x) {
            const tas_depthwise_window window = tas_depthwise_clip(p, out_y, out_x);
            const int8_t *in = input + window.input_pixel * channels;
            const int32_t first_tap = window.first_row * p->filter_width + window.first_col;
            /* A whole window (every interior pixel) runs with the filter's size as trip counts:
             * constants once the kernel is inlined at its call, so the tap loops unroll. */
            const int whole = window.rows == p->filter_height && window.cols == p->filter_width;
            const int32_t *w = packed_filter + 2 * first_tap;
            for (int32_t c = 0; c < blocked_end; c += TAS_DEPTHWISE_DSP_BLOCK) {
                const tas_depthwise_acc4 bias4 = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
                const tas_depthwise_acc4 acc = whole
                    ? tas_depthwise_window_4ch_dsp(in + c, w, p->filter_height, p->filter_width, input_row_step,
                                                   channels, p->filter_width, offset_pair, bias4)
                    : tas_depthwise_window_4ch_dsp(in + c, w, window.rows, window.cols, input_row_step, channels,
                                                   p->filter_width, offset_pair, bias4);
                tas_depthwise_store4(p, acc, multiplier + c, shift + c, out + c);
                w += 2 * taps;
            }
            for (int32_t c = blocked_end; c < channels; ++c) {
                const int32_t *w1 = tail_filter + (c - blocked_end) * taps + first_tap;
                const int32_t acc = tas_depthwise_window_1ch_dsp(in + c, w1, window.rows, window.cols, input_row_step,
                                                                 channels, p->filter_width, p->input_offset, bias[c]);
                out[c] = tas_depthwise_output(p, acc, multiplier[c], shift[c]);
            }
            out += channels;
        }
    }
}
