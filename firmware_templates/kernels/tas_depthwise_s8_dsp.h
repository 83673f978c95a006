/* int8 depthwise convolution with depth multiplier 1 and dilation 1, for cores with the DSP
 * extension: any filter size (3×3, k×1, 1×k…), stride and padding; bit-exact with TFLite's
 * reference DepthwiseConv (per-channel requantization).
 * input  [1, input_height, input_width, C]  int8, NHWC (C = input_depth = output_depth)
 * packed_filter  int32 words (tinyasc/compile/weight_packing.py: pack_depthwise_dsp_weights):
 *   the filter is cut into runs of taps: each filter row (filter_width >= 2), or the one column
 *   (filter_width 1). Per block of 4 channels c..c+3, per run, per pair of taps (t, u) along it:
 *   four words (w[c+k,t] | w[c+k,u] << 16) for k = 0..3; a run of odd length ends in a single tap
 *   t: (w[c,t] | w[c+2,t] << 16), (w[c+1,t] | w[c+3,t] << 16).
 *   Then per tail channel (C % 4 of them), per tap: w[c,t]
 * bias [C] int32; requantization [C][6] int32 (tas_depthwise_common.h), per channel
 * output [1, output_height, output_width, C]  int8
 *
 * Channels sit in SIMD lanes: one word load reads 4 channels of an input pixel (contiguous in
 * NHWC). Two taps' words A, B are interleaved by halfwords (PKHBT/PKHTB: bytes a0 a1 b0 b1 and
 * a2 a3 b2 b3), so that SXTAB16 widens one channel of both taps into the two lanes and adds the
 * input offset in the same instruction; one SMLAD then does both taps' MACs of that channel.
 * Out-of-image taps are skipped (padding contributes nothing): a tap whose pair partner is outside
 * takes one lane of the pair's weights with SMLAxy. The output stage requantizes 4 channels,
 * saturates them to int8 (SSAT), clamps the packed word with SSUB8/SEL and stores it at once. */
#ifndef TAS_DEPTHWISE_S8_DSP_H
#define TAS_DEPTHWISE_S8_DSP_H
#include "tas_depthwise_common.h"
#include "tas_dsp.h"

#define TAS_DEPTHWISE_DSP_BLOCK 4

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline int32_t tas_dw_smlabt(int32_t x, int32_t y, int32_t acc) { return __smlabt(x, y, acc); }
static inline int32_t tas_dw_smlatb(int32_t x, int32_t y, int32_t acc) { return __smlatb(x, y, acc); }
#else
static inline int32_t tas_dw_smlabt(int32_t x, int32_t y, int32_t acc)
{
    return tas_smlabb(x, (int32_t)((uint32_t)y >> 16), acc);
}
static inline int32_t tas_dw_smlatb(int32_t x, int32_t y, int32_t acc)
{
    return tas_smlabb((int32_t)((uint32_t)x >> 16), y, acc);
}
#endif

/* Bytes a0 a1 b0 b1 (PKHBT) and a2 a3 b2 b3 (PKHTB) of words a, b. GCC 12 does not find these
 * instructions in the shifts and masks, so the DSP build names them. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline int32_t tas_dw_low_halves(int32_t a, int32_t b)
{
    int32_t result;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(result) : "r"(a), "r"(b));
    return result;
}
static inline int32_t tas_dw_high_halves(int32_t a, int32_t b)
{
    int32_t result;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(result) : "r"(b), "r"(a));
    return result;
}
#else
static inline int32_t tas_dw_low_halves(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & 0xffffu) | ((uint32_t)b << 16));
}
static inline int32_t tas_dw_high_halves(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)b & 0xffff0000u) | ((uint32_t)a >> 16));
}
#endif

/* Taps t (input word at a) and u (at b) of 4 channels, weights w[0..3]: acc.c += (x_t + o)·w_t
 * + (x_u + o)·w_u, one SMLAD per channel. |x + o| <= 255 and |w| <= 128 fit the int16 lanes.
 * On the DSP core it is written out (14 instructions after the two input loads): GCC 12 spills the
 * four sums and reloads weights when it schedules the intrinsics itself. */
static inline tas_depthwise_acc4 tas_dw_pair(const int8_t *a, const int8_t *b, const int32_t *w, int32_t offset_pair,
                                             tas_depthwise_acc4 acc)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t x = tas_read_word(a), y = tas_read_word(b), t, u;
    __asm__("pkhbt %[t], %[x], %[y], lsl #16\n\t"
            "pkhtb %[y], %[y], %[x], asr #16\n\t"
            "ldr %[u], [%[w]]\n\t"
            "sxtab16 %[x], %[o], %[t]\n\t"
            "smlad %[c0], %[x], %[u], %[c0]\n\t"
            "ldr %[u], [%[w], #4]\n\t"
            "sxtab16 %[x], %[o], %[t], ror #8\n\t"
            "smlad %[c1], %[x], %[u], %[c1]\n\t"
            "ldr %[u], [%[w], #8]\n\t"
            "sxtab16 %[x], %[o], %[y]\n\t"
            "smlad %[c2], %[x], %[u], %[c2]\n\t"
            "ldr %[u], [%[w], #12]\n\t"
            "sxtab16 %[x], %[o], %[y], ror #8\n\t"
            "smlad %[c3], %[x], %[u], %[c3]"
            : [x] "+&r"(x), [y] "+&r"(y), [t] "=&r"(t), [u] "=&r"(u),
              [c0] "+r"(acc.c0), [c1] "+r"(acc.c1), [c2] "+r"(acc.c2), [c3] "+r"(acc.c3)
            : [w] "r"(w), [o] "r"(offset_pair), "m"(*(const int32_t(*)[4])w));
#else
    const int32_t x = tas_read_word(a), y = tas_read_word(b);
    const int32_t low = tas_dw_low_halves(x, y), high = tas_dw_high_halves(x, y);
    acc.c0 = tas_smlad(tas_sxtab16(offset_pair, low), w[0], acc.c0);
    acc.c1 = tas_smlad(tas_sxtab16_ror8(offset_pair, low), w[1], acc.c1);
    acc.c2 = tas_smlad(tas_sxtab16(offset_pair, high), w[2], acc.c2);
    acc.c3 = tas_smlad(tas_sxtab16_ror8(offset_pair, high), w[3], acc.c3);
#endif
    return acc;
}

/* Tap t of a pair alone (its partner u is outside the image): the low lanes of the pair's weights. */
static inline tas_depthwise_acc4 tas_dw_pair_first(const int8_t *a, const int32_t *w, int32_t offset_pair,
                                                   tas_depthwise_acc4 acc)
{
    const int32_t x = tas_read_word(a);
    const int32_t even = tas_sxtab16(offset_pair, x), odd = tas_sxtab16_ror8(offset_pair, x);
    acc.c0 = tas_smlabb(even, w[0], acc.c0);
    acc.c1 = tas_smlabb(odd, w[1], acc.c1);
    acc.c2 = tas_dw_smlatb(even, w[2], acc.c2);
    acc.c3 = tas_dw_smlatb(odd, w[3], acc.c3);
    return acc;
}

/* Tap u of a pair alone (t is outside the image): the high lanes of the pair's weights. */
static inline tas_depthwise_acc4 tas_dw_pair_second(const int8_t *b, const int32_t *w, int32_t offset_pair,
                                                    tas_depthwise_acc4 acc)
{
    const int32_t x = tas_read_word(b);
    const int32_t even = tas_sxtab16(offset_pair, x), odd = tas_sxtab16_ror8(offset_pair, x);
    acc.c0 = tas_dw_smlabt(even, w[0], acc.c0);
    acc.c1 = tas_dw_smlabt(odd, w[1], acc.c1);
    acc.c2 = tas_smlatt(even, w[2], acc.c2);
    acc.c3 = tas_smlatt(odd, w[3], acc.c3);
    return acc;
}

/* The single tap ending a run of odd length: weights (w0 | w2 << 16), (w1 | w3 << 16). */
static inline tas_depthwise_acc4 tas_dw_single(const int8_t *a, const int32_t *w, int32_t offset_pair,
                                               tas_depthwise_acc4 acc)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t x = tas_read_word(a), t, u;
    __asm__("ldr %[u], [%[w]]\n\t"
            "sxtab16 %[t], %[o], %[x]\n\t"
            "sxtab16 %[x], %[o], %[x], ror #8\n\t"
            "smlabb %[c0], %[t], %[u], %[c0]\n\t"
            "smlatt %[c2], %[t], %[u], %[c2]\n\t"
            "ldr %[u], [%[w], #4]\n\t"
            "smlabb %[c1], %[x], %[u], %[c1]\n\t"
            "smlatt %[c3], %[x], %[u], %[c3]"
            : [x] "+&r"(x), [t] "=&r"(t), [u] "=&r"(u),
              [c0] "+r"(acc.c0), [c1] "+r"(acc.c1), [c2] "+r"(acc.c2), [c3] "+r"(acc.c3)
            : [w] "r"(w), [o] "r"(offset_pair), "m"(*(const int32_t(*)[2])w));
#else
    const int32_t x = tas_read_word(a);
    const int32_t even = tas_sxtab16(offset_pair, x), odd = tas_sxtab16_ror8(offset_pair, x);
    acc.c0 = tas_smlabb(even, w[0], acc.c0);
    acc.c2 = tas_smlatt(even, w[0], acc.c2);
    acc.c1 = tas_smlabb(odd, w[1], acc.c1);
    acc.c3 = tas_smlatt(odd, w[1], acc.c3);
#endif
    return acc;
}

/* Words of one run of `length` taps in a block's packed filter. */
static inline int32_t tas_dw_run_words(int32_t length)
{
    return 4 * (length / 2) + 2 * (length % 2);
}

/* Taps first .. first + count - 1 of a run of `length` taps (w: the run's words; in: tap first's
 * input, the next tap `step` bytes on). */
static inline __attribute__((always_inline)) tas_depthwise_acc4 tas_dw_run(const int8_t *in, int32_t step, int32_t first, int32_t count,
                                            int32_t length, const int32_t *w, int32_t offset_pair,
                                            tas_depthwise_acc4 acc)
{
    const int32_t end = first + count;
    int32_t tap = first;
    w += 4 * (first / 2);
    if ((tap & 1) && tap < end) {
        acc = tas_dw_pair_second(in, w, offset_pair, acc);
        in += step;
        w += 4;
        ++tap;
    }
    for (; tap + 1 < end; tap += 2, in += 2 * step, w += 4) {
        acc = tas_dw_pair(in, in + step, w, offset_pair, acc);
    }
    if (tap < end) {
        if (tap == length - 1 && (length & 1)) {
            acc = tas_dw_single(in, w, offset_pair, acc);
        } else {
            acc = tas_dw_pair_first(in, w, offset_pair, acc);
        }
    }
    return acc;
}

/* A whole 3×3 window, written out: per row one pair and one single tap. */
static inline tas_depthwise_acc4 tas_dw_window_3x3(const int8_t *in, const int32_t *w, int32_t input_row_step,
                                                   int32_t channels, int32_t offset_pair, tas_depthwise_acc4 acc)
{
    const int8_t *middle = in + channels, *right = middle + channels;
    acc = tas_dw_pair(in, middle, w, offset_pair, acc);
    acc = tas_dw_single(right, w + 4, offset_pair, acc);
    acc = tas_dw_pair(in + input_row_step, middle + input_row_step, w + 6, offset_pair, acc);
    acc = tas_dw_single(right + input_row_step, w + 10, offset_pair, acc);
    acc = tas_dw_pair(in + 2 * input_row_step, middle + 2 * input_row_step, w + 12, offset_pair, acc);
    return tas_dw_single(right + 2 * input_row_step, w + 16, offset_pair, acc);
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

/* The layer's constants, held in locals rather than read through `p` (see tas_depthwise_output_stage). */
typedef struct {
    int32_t channels, blocked_end, taps, block_words, input_row_step, input_offset, offset_pair;
    int32_t filter_height, filter_width, act_min4, act_max4;
    int32_t fast_output; /* every channel's right shift in 1..22 (tas_depthwise_common.h) */
    tas_depthwise_output_stage stage;
    const int32_t *packed_filter, *tail_filter, *bias, *requantization;
} tas_depthwise_layer_dsp;

/* Requantize (right shift 1..22, tas_depthwise_output) and saturate to int8, without the clamp.
 * The nudge for sums < 0 is the one for sums >= 0 less 2^31: one more multiply-add of the sign bit. */
static inline int32_t tas_dw_requantize_fast(int32_t acc, const int32_t *requant)
{
    const tas_depthwise_output_stage saturate = {0, -128, 127};
    return tas_depthwise_output_fast(saturate, acc, requant);
}

/* 4 channels' requantized outputs (right shifts 1..22 only), saturated to int8, packed into one
 * word. On the DSP core it is written out: per channel two LDRDs, the two SMLALs of
 * tas_dw_requantize_fast, the shift, SSAT and BFI (GCC 12 spends about twice that). */
static inline int32_t tas_dw_requantize4(tas_depthwise_acc4 acc, const int32_t *requant)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t low, high, multiplier, shift;
#define TAS_DW_REQUANT_ASM(c, at)                                    \
    "ldrd %[m], %[sh], [%[r], #" #at "]\n\t"                        \
    "ldrd %[lo], %[hi], [%[r], #" #at " + 8]\n\t"                   \
    "smlal %[lo], %[hi], %[" #c "], %[m]\n\t"                       \
    "lsr %[m], %[" #c "], #31\n\t"                                  \
    "smlal %[lo], %[hi], %[m], %[min]\n\t"                          \
    "asr %[hi], %[hi], %[sh]\n\t"
    __asm__(TAS_DW_REQUANT_ASM(c0, 0)
            "ssat %[c0], #8, %[hi]\n\t"
            TAS_DW_REQUANT_ASM(c1, 24)
            "ssat %[hi], #8, %[hi]\n\t"
            "bfi %[c0], %[hi], #8, #8\n\t"
            TAS_DW_REQUANT_ASM(c2, 48)
            "ssat %[hi], #8, %[hi]\n\t"
            "bfi %[c0], %[hi], #16, #8\n\t"
            TAS_DW_REQUANT_ASM(c3, 72)
            "ssat %[hi], #8, %[hi]\n\t"
            "bfi %[c0], %[hi], #24, #8"
            : [lo] "=&r"(low), [hi] "=&r"(high), [m] "=&r"(multiplier), [sh] "=&r"(shift), [c0] "+&r"(acc.c0)
            : [c1] "r"(acc.c1), [c2] "r"(acc.c2), [c3] "r"(acc.c3), [r] "r"(requant), [min] "r"(INT32_MIN),
              "m"(*(const int32_t(*)[4 * TAS_DEPTHWISE_REQUANT_WORDS])requant));
#undef TAS_DW_REQUANT_ASM
    return acc.c0;
#else
    const int32_t *r1 = requant + TAS_DEPTHWISE_REQUANT_WORDS, *r2 = r1 + TAS_DEPTHWISE_REQUANT_WORDS;
    const int32_t *r3 = r2 + TAS_DEPTHWISE_REQUANT_WORDS;
    return (int32_t)((uint32_t)(uint8_t)tas_dw_requantize_fast(acc.c0, requant)
                     | (uint32_t)(uint8_t)tas_dw_requantize_fast(acc.c1, r1) << 8
                     | (uint32_t)(uint8_t)tas_dw_requantize_fast(acc.c2, r2) << 16
                     | (uint32_t)tas_dw_requantize_fast(acc.c3, r3) << 24);
#endif
}

/* 4 channels' outputs as one word: requantized, packed, clamped per byte (SSUB8/SEL), stored. */
static inline __attribute__((always_inline)) void tas_dw_store4(const tas_depthwise_layer_dsp *layer,
                                                                tas_depthwise_acc4 acc, const int32_t *requant,
                                                                int8_t *out)
{
    if (__builtin_expect(!layer->fast_output, 0)) { /* some channel's shift is outside 1..22 */
        tas_depthwise_store4(layer->stage, acc, requant, out);
        return;
    }
    const int32_t word = tas_dw_requantize4(acc, requant);
    tas_write_word(out, tas_min_s8x4(tas_max_s8x4(word, layer->act_min4), layer->act_max4));
}

/* Which window code a pixel runs: a whole 3×3 window (every interior pixel of a 3×3 depthwise),
 * or any window, clipped or not. */
enum { TAS_DEPTHWISE_WHOLE_3X3, TAS_DEPTHWISE_ANY };

/* Every channel of one output pixel: rows × cols in-image taps from filter tap (first_row,
 * first_col). Always inlined, once per literal `shape`, so each copy holds one window code. */
static inline __attribute__((always_inline)) void tas_depthwise_pixel_dsp(const tas_depthwise_layer_dsp *layer,
                                                                          const int8_t *in, int shape,
                                                                          tas_depthwise_window window, int8_t *out)
{
    const int32_t *w = layer->packed_filter, *requant = layer->requantization, *bias = layer->bias;
    const int32_t filter_width = layer->filter_width, row_step = layer->input_row_step;
    const int32_t run_words = tas_dw_run_words(filter_width);
    if (filter_width > 1) {
        w += window.first_row * run_words;
    }
    for (int32_t c = 0; c < layer->blocked_end; c += TAS_DEPTHWISE_DSP_BLOCK) {
        tas_depthwise_acc4 acc = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
        if (shape == TAS_DEPTHWISE_WHOLE_3X3) {
            acc = tas_dw_window_3x3(in + c, w, row_step, layer->channels, layer->offset_pair, acc);
        } else if (filter_width == 1) {
            acc = tas_dw_run(in + c, row_step, window.first_row, window.rows, layer->filter_height, w,
                             layer->offset_pair, acc);
        } else {
            const int8_t *row_in = in + c;
            const int32_t *row_w = w;
            for (int32_t row = 0; row < window.rows; ++row, row_in += row_step, row_w += run_words) {
                acc = tas_dw_run(row_in, layer->channels, window.first_col, window.cols, filter_width, row_w,
                                 layer->offset_pair, acc);
            }
        }
        tas_dw_store4(layer, acc, requant + TAS_DEPTHWISE_REQUANT_WORDS * c, out + c);
        w += layer->block_words;
    }
    const int32_t first_tap = window.first_row * filter_width + window.first_col;
    for (int32_t c = layer->blocked_end; c < layer->channels; ++c) {
        const int32_t *w1 = layer->tail_filter + (c - layer->blocked_end) * layer->taps + first_tap;
        const int32_t acc = tas_depthwise_window_1ch_dsp(in + c, w1, window.rows, window.cols, row_step,
                                                         layer->channels, filter_width, layer->input_offset, bias[c]);
        out[c] = tas_depthwise_output(layer->stage, acc, requant + TAS_DEPTHWISE_REQUANT_WORDS * c);
    }
}

/* Output rows first_row .. end_row - 1 into output (which holds row first_row's first byte):
 * the whole kernel is rows 0 .. output_height - 1; a row stream (tinyasc/compile/rowstream.py)
 * runs one row at a time into a ring or beside the pointwise conv that reads it. */
static inline void tas_depthwise_rows_s8_dsp(const tas_conv2d_params *p, const int8_t *input,
                                            const int32_t *packed_filter, const int32_t *bias,
                                            const int32_t *requantization, int8_t *output,
                                             int32_t first_row, int32_t end_row)
{
    const int32_t channels = p->output_depth, taps = p->filter_height * p->filter_width;
    const int32_t filter_height = p->filter_height, filter_width = p->filter_width;
    /* Bounds computed up front (GCC's -Waggressive-loop-optimizations, as in tas_conv2d_rows_s8_dsp). */
    const int32_t blocked_end = channels - channels % TAS_DEPTHWISE_DSP_BLOCK;
    const int32_t block_words = filter_width > 1 ? filter_height * tas_dw_run_words(filter_width)
                                                 : tas_dw_run_words(filter_height);
    const tas_depthwise_layer_dsp layer = {
        channels, blocked_end, taps, block_words, p->input_width * channels, p->input_offset,
        (int32_t)(((uint32_t)p->input_offset & 0xffffu) * 0x10001u), filter_height, filter_width,
        tas_splat_s8x4(p->act_min), tas_splat_s8x4(p->act_max), tas_depthwise_all_fast(requantization, blocked_end), tas_depthwise_output_stage_of(p),
        packed_filter, packed_filter + block_words * (blocked_end / TAS_DEPTHWISE_DSP_BLOCK), bias, requantization,
    };
    const int32_t output_width = p->output_width;
    int8_t *out = output;
    for (int32_t out_y = first_row; out_y < end_row; ++out_y) {
        for (int32_t out_x = 0; out_x < output_width; ++out_x) {
            const tas_depthwise_window window = tas_depthwise_clip(p, out_y, out_x);
            const int8_t *in = input + window.input_pixel * channels;
            if (filter_height == 3 && filter_width == 3 && window.rows == 3 && window.cols == 3) {
                tas_depthwise_pixel_dsp(&layer, in, TAS_DEPTHWISE_WHOLE_3X3, window, out);
            } else {
                tas_depthwise_pixel_dsp(&layer, in, TAS_DEPTHWISE_ANY, window, out);
            }
            out += channels;
        }
    }
}

#endif /* TAS_DEPTHWISE_S8_DSP_H */
