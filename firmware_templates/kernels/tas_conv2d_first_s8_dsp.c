/* int8 2-D convolution for first layers (one group, 1-4 input channels: RGB images, spectrograms)
 * on cores with the DSP extension. Their windows are short (3x3x3 = 27 bytes) and their channels
 * few, so the general im2col kernel spends most of its time widening weights and setting up each
 * channel's requantization. Here both are done at export time: the weights are stored widened to
 * int16 pairs (a first layer has a few hundred of them) and each channel's requantization terms
 * are a row of a table in flash. Per pixel pair: both receptive fields gathered (tas_im2col_pixel),
 * widened and interleaved once, then per channel pair 4 LDRD + 8 SMLAD per 16 MACs and the shared
 * 2x2 output stage. Any kernel size, stride, dilation and padding; bit-exact with tas_conv2d_s8.
 * widened_filter (tinyasc/compile/ops/conv_first.py: pack_first_weights), int32 words: per pair of
 * output channels (an odd count padded with a zero channel), per quad of the window (zero-padded
 * to a word) c0.even, c1.even, c0.odd, c1.odd, where even = (w0, w2) and odd = (w1, w3) as int16
 * halves (SXTB16's lanes). channels: per output channel (plus the padding one) 6 words: folded
 * bias (bias + input_offset·Σw), then tas_requant_channel's multiplier, left, right, round and
 * negative_mask. scratch: two int8 columns then the widened pair, 6·tas_im2col_window bytes. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_im2col.h"
#include "tas_mat_mult_dsp.h"

#define TAS_FIRST_CHANNEL_WORDS 6

/* Columns a and b widened, per quad the words a.even, b.even, a.odd, b.odd: one LDRD gives both
 * pixels' lanes for a weight pair. */
static inline void tas_first_interleave(const int8_t *a, const int8_t *b, int32_t quads, int32_t *dst)
{
    for (; quads > 0; --quads, a += 4, b += 4, dst += 4) {
        const tas_widened x = tas_widen(tas_read_word(a)), y = tas_widen(tas_read_word(b));
        dst[0] = x.even;
        dst[1] = y.even;
        dst[2] = x.odd;
        dst[3] = y.odd;
    }
}

/* acc + half a quad: pixels a, b (one LDRD) times channels 0, 1 (one LDRD). */
static inline tas_mat_acc2x2 tas_first_half_quad(const int32_t **x, const int32_t **w, tas_mat_acc2x2 acc)
{
    const tas_widened pixels = tas_load_pair(x), weights = tas_load_pair(w);
    acc.a0 = tas_smlad(pixels.even, weights.even, acc.a0);
    acc.a1 = tas_smlad(pixels.even, weights.odd, acc.a1);
    acc.b0 = tas_smlad(pixels.odd, weights.even, acc.b0);
    acc.b1 = tas_smlad(pixels.odd, weights.odd, acc.b1);
    return acc;
}

static inline tas_mat_acc2x2 tas_first_dot(const int32_t *x, const int32_t *w, int32_t quads, tas_mat_acc2x2 acc)
{
    for (; quads >= 2; quads -= 2) { /* the loop's counter and branch once per 32 MACs */
        acc = tas_first_half_quad(&x, &w, acc);
        acc = tas_first_half_quad(&x, &w, acc);
        acc = tas_first_half_quad(&x, &w, acc);
        acc = tas_first_half_quad(&x, &w, acc);
    }
    if (quads > 0) {
        acc = tas_first_half_quad(&x, &w, acc);
        acc = tas_first_half_quad(&x, &w, acc);
    }
    return acc;
}

static inline tas_requant_channel tas_first_requant(const int32_t *row)
{
    const tas_requant_channel r = {row[1], row[2], row[3], row[4], row[5]};
    return r;
}

/* Every output channel of the widened pixel pair. */
static inline void tas_first_outputs(const tas_conv2d_params *p, const int32_t *widened, const int32_t *weights,
                                     const int32_t *channels, int32_t quads, int8_t *out_a, int8_t *out_b)
{
    const tas_mat_mult stage = {.output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max};
    const tas_mat_range4 range = tas_mat_range4_of(&stage);
    const int32_t depth = p->output_depth, paired_end = depth & ~1;
    for (int32_t c = 0; c < depth; c += 2, weights += 4 * quads, channels += 2 * TAS_FIRST_CHANNEL_WORDS) {
        const int32_t *next = channels + TAS_FIRST_CHANNEL_WORDS;
        const tas_mat_acc2x2 start = {channels[0], next[0], channels[0], next[0]};
        const tas_mat_acc2x2 acc = tas_first_dot(widened, weights, quads, start);
        const tas_requant_channel r0 = tas_first_requant(channels);
        const int32_t a0 = tas_requant_channel_apply(acc.a0, &r0), b0 = tas_requant_channel_apply(acc.b0, &r0);
        if (c == paired_end) { /* the odd last channel: its zero partner is not stored */
            out_b[c] = tas_mat_store(&stage, b0);
            out_a[c] = tas_mat_store(&stage, a0);
            return;
        }
        const tas_requant_channel r1 = tas_first_requant(next);
        const int32_t a1 = tas_requant_channel_apply(acc.a1, &r1), b1 = tas_requant_channel_apply(acc.b1, &r1);
        tas_mat_store_2x2(&stage, range, a0, a1, b0, b1, out_a + c, out_b + c);
    }
}

TAS_KERNEL void tas_conv2d_first_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *widened_filter,
                                        const int32_t *channels, int32_t *scratch, int8_t *output)
{
    const int32_t window = tas_im2col_window(p), quads = window / 4;
    int8_t *column_a = (int8_t *)scratch, *column_b = column_a + window;
    int32_t *widened = scratch + window / 2; /* after both columns: 4·window bytes */
    const int32_t pixels = p->output_height * p->output_width;
    int32_t y = 0, x = 0; /* output pixel `pixel`, row-major */
    for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
        const int32_t second = pixel + 1 < pixels; /* an odd last pixel runs as a pair with itself */
        tas_im2col_pixel(p, input, y, x, column_a);
        if (++x == p->output_width) {
            x = 0;
            ++y;
        }
        if (second) {
            tas_im2col_pixel(p, input, y, x, column_b);
            if (++x == p->output_width) {
                x = 0;
                ++y;
            }
        }
        tas_first_interleave(column_a, second ? column_b : column_a, quads, widened);
        int8_t *out_a = output + pixel * p->output_depth, *out_b = out_a + second * p->output_depth;
        tas_first_outputs(p, widened, widened_filter, channels, quads, out_a, out_b);
    }
}
