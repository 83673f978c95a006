/* int8 fully connected for cores without the DSP extension (Cortex-M0/M3): the folded bias and
 * the packed int8 blocks of the 1x1 DSP kernels (tas_mat_mult_dsp.h), in plain C. Four output channels per
 * pass, so each input byte is loaded once for 4 MACs, and the input zero point is folded into the
 * bias at export time (folded_bias = bias + input_offset·Σ weights), so a MAC is one load and one MLA.
 * input [batches, input_depth] int8; packed_weights: the [output_depth, input_depth] int8 weights in
 * blocks of 4 channels (pack_mat_mult_weights(weights, 4), see tas_mat_mult_dsp.h); multiplier and
 * shift [output_depth] (>= 0 multipliers), or one pair when quant_step is 0; output [batches, output_depth].
 * Bit-exact with tas_fully_connected_s8. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_requantize.h"

static inline int8_t tas_fully_connected_blocked_output(const tas_fully_connected_params *p, int32_t acc,
                                                        int32_t multiplier, int32_t shift)
{
    acc = tas_requantize_positive(acc, multiplier, shift) + p->output_offset;
    return (int8_t)tas_clamp(acc, p->act_min, p->act_max);
}

/* Channels c..c+3 of one row: per quad the 4 channels' 4 bytes in turn, then their tail bytes. */
static inline void tas_fully_connected_blocked_4ch(const tas_fully_connected_params *p, const int8_t *in,
                                                   const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                                                   const int32_t *shift, int32_t quant_step, int32_t c, int8_t *out)
{
    const int32_t quads = p->input_depth / 4, tail = p->input_depth % 4;
    int32_t acc0 = bias[c], acc1 = bias[c + 1], acc2 = bias[c + 2], acc3 = bias[c + 3];
    for (const int8_t *end = in + 4 * quads; in < end; in += 4, w += 16) {
        /* One input byte at a time into all four sums, written out: a chain of MLAs (summing each
         * channel's four products first costs a MUL and an ADD more per product pair on the M3). */
        int32_t x = in[0];
        acc0 += x * w[0];
        acc1 += x * w[4];
        acc2 += x * w[8];
        acc3 += x * w[12];
        x = in[1];
        acc0 += x * w[1];
        acc1 += x * w[5];
        acc2 += x * w[9];
        acc3 += x * w[13];
        x = in[2];
        acc0 += x * w[2];
        acc1 += x * w[6];
        acc2 += x * w[10];
        acc3 += x * w[14];
        x = in[3];
        acc0 += x * w[3];
        acc1 += x * w[7];
        acc2 += x * w[11];
        acc3 += x * w[15];
    }
    for (int32_t t = 0; t < tail; ++t) {
        const int32_t x = in[t];
        acc0 += w[t] * x;
        acc1 += w[tail + t] * x;
        acc2 += w[2 * tail + t] * x;
        acc3 += w[3 * tail + t] * x;
    }
    const int32_t q = c * quant_step;
    out[c] = tas_fully_connected_blocked_output(p, acc0, multiplier[q], shift[q]);
    out[c + 1] = tas_fully_connected_blocked_output(p, acc1, multiplier[q + quant_step], shift[q + quant_step]);
    out[c + 2] = tas_fully_connected_blocked_output(p, acc2, multiplier[q + 2 * quant_step], shift[q + 2 * quant_step]);
    out[c + 3] = tas_fully_connected_blocked_output(p, acc3, multiplier[q + 3 * quant_step], shift[q + 3 * quant_step]);
}

TAS_KERNEL void tas_fully_connected_blocked_s8(const tas_fully_connected_params *p, const int8_t *input,
                                               const int32_t *packed_weights, const int32_t *folded_bias,
                                               const int32_t *multiplier, const int32_t *shift, int32_t quant_step,
                                               int8_t *output)
{
    const int32_t depth = p->input_depth;
    const int32_t block_bytes = 4 * depth, single_bytes = (depth + 3) & ~3; /* a channel alone is padded to a word */
    const int32_t blocked_end = p->output_depth - p->output_depth % 4;    /* bounds up front: see tas_conv2d_rows_s8_dsp.c */
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * depth;
        int8_t *out = output + b * p->output_depth;
        const int8_t *w = (const int8_t *)packed_weights;
        for (int32_t c = 0; c < blocked_end; c += 4) {
            tas_fully_connected_blocked_4ch(p, in, w, folded_bias, multiplier, shift, quant_step, c, out);
            w += block_bytes;
        }
        for (int32_t c = blocked_end; c < p->output_depth; ++c) {
            int32_t acc = folded_bias[c];
            for (int32_t k = 0; k < depth; ++k) {
                acc += w[k] * in[k];
            }
            out[c] = tas_fully_connected_blocked_output(p, acc, multiplier[c * quant_step], shift[c * quant_step]);
            w += single_bytes;
        }
    }
}
