/* tas_conv2d_rows_s8 for cores with the DSP extension: same cases (each output row reads one
 * contiguous input window), same bit-exact results, two MACs per SMLAD.
 *
 * Weights are packed at export time (tinyasc/compile/ops/conv.py: pack_rows_dsp_weights) as int32
 * words of two int16 weights, already sign-extended, in the order the inner loop reads them, so
 * the loop never unpacks a weight. For a block of B output channels (B = 4, then B = 1 for the
 * channel tail):
 *   for each group of 4 taps k..k+3:  for each channel:  (w[k] | w[k+2] << 16), (w[k+1] | w[k+3] << 16)
 *   then for each tail tap t (window % 4 of them):  for each channel:  w[t]
 * The input word x = (x0, x1, x2, x3) becomes SXTB16(x) = (x0, x2) and SXTB16(ror8 x) = (x1, x3),
 * which meet their weights in one SMLAD each; one input load serves four channels.
 * The input zero point is folded into the bias at export time, as in tas_conv2d_rows_s8. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_dsp.h"
#include "tas_requantize.h"

#define TAS_DSP_CHANNEL_BLOCK 4

/* Four channels' sums over one window, kept in registers. */
typedef struct {
    int32_t c0, c1, c2, c3;
} tas_acc4;

/* acc.c += Σ_k in[k]·w_c[k] over one window, for the 4 channels of one packed block. */
static inline tas_acc4 tas_dot_window_4ch(const int8_t *in, const int32_t *w, int32_t quads, int32_t tail, tas_acc4 acc)
{
    for (const int8_t *end = in + 4 * quads; in < end; in += 4) {
        const int32_t x = tas_read_word(in);
        const int32_t even = tas_sxtb16(x);          /* x0, x2 */
        const int32_t odd = tas_sxtb16(tas_ror8(x)); /* x1, x3 */
        acc.c0 = tas_smlad(odd, w[1], tas_smlad(even, w[0], acc.c0));
        acc.c1 = tas_smlad(odd, w[3], tas_smlad(even, w[2], acc.c1));
        acc.c2 = tas_smlad(odd, w[5], tas_smlad(even, w[4], acc.c2));
        acc.c3 = tas_smlad(odd, w[7], tas_smlad(even, w[6], acc.c3));
        w += 8;
    }
    for (int32_t tap = 0; tap < tail; ++tap) {
        const int32_t x = in[tap];
        acc.c0 += x * w[0];
        acc.c1 += x * w[1];
        acc.c2 += x * w[2];
        acc.c3 += x * w[3];
        w += 4;
    }
    return acc;
}

/* acc + Σ_k in[k]·w[k] over one window, for one channel packed alone. */
static inline int32_t tas_dot_window_1ch(const int8_t *in, const int32_t *w, int32_t quads, int32_t tail, int32_t acc)
{
    for (int32_t quad = 0; quad < quads; ++quad) {
        const int32_t x = tas_read_word(in + 4 * quad);
        acc = tas_smlad(tas_sxtb16(x), w[2 * quad], acc);
        acc = tas_smlad(tas_sxtb16(tas_ror8(x)), w[2 * quad + 1], acc);
    }
    for (int32_t tap = 0; tap < tail; ++tap) {
        acc += in[4 * quads + tap] * w[2 * quads + tap];
    }
    return acc;
}

static inline int8_t tas_conv_output(const tas_conv2d_params *p, int32_t acc, int32_t multiplier, int32_t shift)
{
    acc = tas_requantize_positive(acc, multiplier, shift) + p->output_offset;
    return (int8_t)tas_clamp(acc, p->act_min, p->act_max);
}

TAS_KERNEL void tas_conv2d_rows_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                       const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                       int8_t *output)
{
    const int32_t window = p->filter_height * p->filter_width * p->filter_depth;
    const int32_t quads = window / 4, tail = window % 4;
    const int32_t row_step = p->stride_height * p->input_width * p->input_depth;
    for (int32_t out_y = 0; out_y < p->output_height; ++out_y) {
        const int8_t *in = input + out_y * row_step;
        int8_t *out = output + out_y * p->output_depth;
        const int32_t *w = packed_filter;
        /* Bounds computed up front: GCC's loop analysis misfires on `for (; c + 4 <= n; c += 4)`
         * followed by `for (; c < n; ++c)` once n is a known constant (-Waggressive-loop-optimizations). */
        const int32_t blocked_end = p->output_depth - p->output_depth % TAS_DSP_CHANNEL_BLOCK;
        for (int32_t c = 0; c < blocked_end; c += TAS_DSP_CHANNEL_BLOCK) {
            const tas_acc4 bias = {folded_bias[c], folded_bias[c + 1], folded_bias[c + 2], folded_bias[c + 3]};
            const tas_acc4 acc = tas_dot_window_4ch(in, w, quads, tail, bias);
            out[c] = tas_conv_output(p, acc.c0, multiplier[c], shift[c]);
            out[c + 1] = tas_conv_output(p, acc.c1, multiplier[c + 1], shift[c + 1]);
            out[c + 2] = tas_conv_output(p, acc.c2, multiplier[c + 2], shift[c + 2]);
            out[c + 3] = tas_conv_output(p, acc.c3, multiplier[c + 3], shift[c + 3]);
            w += TAS_DSP_CHANNEL_BLOCK * (2 * quads + tail);
        }
        for (int32_t c = blocked_end; c < p->output_depth; ++c) {
            out[c] = tas_conv_output(p, tas_dot_window_1ch(in, w, quads, tail, folded_bias[c]), multiplier[c], shift[c]);
            w += 2 * quads + tail;
        }
    }
}
