/* What the depthwise kernels (tas_depthwise_conv2d_s8*.c) share: the part of a filter window that
 * lies inside the input. Padding contributes nothing in TFLite's reference (an out-of-image tap is
 * skipped, as if it held the zero point), so each output pixel sums its in-image taps only. */
#ifndef TAS_DEPTHWISE_COMMON_H
#define TAS_DEPTHWISE_COMMON_H

#include <stdint.h>
#include "tas_conv2d_common.h"
#include "tas_requantize.h"

/* The depthwise kernels' helpers are forced inline: a model pastes its kernels into its one
 * translation unit and inlines each depthwise kernel at its call (TAS_KERNEL_INLINE), so that the
 * layer's parameters, static consts there, fold into constants; left to itself at -O2, GCC
 * outlines the window and output code of a kernel called 4+ times and passes sums through memory.
 * The helpers below stay plain `static inline`: forced into the DSP kernel's pixel loop too, the
 * clipping and slow output code cost it registers (KWS DS-CNN depthwise 3.44 -> 3.63 insns/MAC). */
#define TAS_DEPTHWISE_INLINE static inline __attribute__((always_inline))

/* Four channels' sums, kept in registers. */
typedef struct {
    int32_t c0, c1, c2, c3;
} tas_depthwise_acc4;

/* The in-image taps of one output pixel's window: rows × cols taps from filter tap
 * (first_row, first_col), whose input pixel is input_pixel (an index in pixels, not bytes). */
typedef struct {
    int32_t first_row, first_col, rows, cols;
    int32_t input_pixel;
} tas_depthwise_window;

static inline int32_t tas_depthwise_taps_inside(int32_t origin, int32_t filter_size, int32_t input_size,
                                                int32_t *first)
{
    *first = origin < 0 ? -origin : 0;
    const int32_t end = input_size - origin < filter_size ? input_size - origin : filter_size;
    return end > *first ? end - *first : 0;
}

/* Dilation 1: the window of output pixel (out_y, out_x) is filter_height × filter_width input
 * pixels from (out_y·stride − pad, out_x·stride − pad). */
static inline tas_depthwise_window tas_depthwise_clip(const tas_conv2d_params *p, int32_t out_y, int32_t out_x)
{
    const int32_t in_y = out_y * p->stride_height - p->pad_height;
    const int32_t in_x = out_x * p->stride_width - p->pad_width;
    tas_depthwise_window window;
    window.rows = tas_depthwise_taps_inside(in_y, p->filter_height, p->input_height, &window.first_row);
    window.cols = tas_depthwise_taps_inside(in_x, p->filter_width, p->input_width, &window.first_col);
    window.input_pixel = (in_y + window.first_row) * p->input_width + in_x + window.first_col;
    return window;
}

/* The output stage's constants, copied out of the parameters once per call: the kernels store
 * int8 bytes, which may alias anything, so values read through `p` would be reloaded after every
 * store. */
typedef struct {
    int32_t output_offset, act_min, act_max;
} tas_depthwise_output_stage;

static inline tas_depthwise_output_stage tas_depthwise_output_stage_of(const tas_conv2d_params *p)
{
    const tas_depthwise_output_stage stage = {p->output_offset, p->act_min, p->act_max};
    return stage;
}

/* Words per channel of the requantization table (tinyasc/compile/weight_packing.py:
 * pack_depthwise_requantization), prepared at export so that the output stage, which runs after
 * every few MACs here, is short. For a right shift 1 <= r <= 22 (nearly every channel):
 *   multiplier, r - 1, then two 64-bit nudges (low word, high word) for sums >= 0 and < 0:
 *   2^30 + 2^(30+r) + output_offset·2^(31+r), and that less 2^31
 * and for any other shift:  multiplier, -1, shift, 0, 0, 0. */
#define TAS_DEPTHWISE_REQUANT_WORDS 6

/* One output byte: requantize, add the output offset, clamp. With 1 <= r <= 22 this is
 * tas_requantize_positive_one_floor (tas_requantize.h) with its nudge, for the sum's sign, read
 * from the table, and the output offset inside the floor as a multiple of its divisor: one SMLAL
 * and a shift. r <= 22 keeps the 64-bit sum below 2^63. */
static inline int8_t tas_depthwise_output(tas_depthwise_output_stage stage, int32_t acc, const int32_t *requant)
{
    const int32_t multiplier = requant[0], right_shift_minus_one = requant[1];
    int32_t value;
    if (right_shift_minus_one >= 0) {
        const int32_t *nudge = requant + 2 + 2 * (int32_t)((uint32_t)acc >> 31);
#ifdef TAS_REQUANT_USES_HALVES /* ARMv6-M: no long multiply */
        const int64_t product = tas_mul_64_halves(acc, multiplier);
#else
        const int64_t product = (int64_t)acc * multiplier;
#endif
        const int64_t sum = product + (int64_t)(((uint64_t)(uint32_t)nudge[1] << 32) | (uint32_t)nudge[0]);
        value = (int32_t)(sum >> 32) >> right_shift_minus_one;
    } else {
        value = tas_requantize_positive_one_floor(acc, multiplier, requant[2]) + stage.output_offset;
    }
    return (int8_t)tas_clamp(value, stage.act_min, stage.act_max);
}

/* Cores with Thumb-2 and the long multiplies (ARMv7-M and later mainline: Cortex-M3/M4/M7/M33). */
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) \
    || defined(__ARM_ARCH_8_1M_MAIN__)
#define TAS_DEPTHWISE_THUMB2 1
#else
#define TAS_DEPTHWISE_THUMB2 0
#endif

/* tas_depthwise_output for a channel whose right shift is 1..22, known beforehand: the nudge for
 * sums < 0 is the one for sums >= 0 less 2^31, one more multiply-add of the sign bit (written out
 * on Thumb-2 cores, where GCC 12 makes six instructions of that multiply), then SSAT and the clamp. */
static inline int8_t tas_depthwise_output_fast(tas_depthwise_output_stage stage, int32_t acc,
                                                      const int32_t *requant)
{
#if TAS_DEPTHWISE_THUMB2
    int32_t low, high, sign;
    __asm__("ldrd %[low], %[high], [%[r], #8]\n\t"
            "smlal %[low], %[high], %[acc], %[m]\n\t"
            "lsr %[sign], %[acc], #31\n\t"
            "smlal %[low], %[high], %[sign], %[min]\n\t"
            "asr %[high], %[high], %[shift]\n\t"
            "ssat %[high], #8, %[high]"
            : [low] "=&r"(low), [high] "=&r"(high), [sign] "=&r"(sign)
            : [r] "r"(requant), [acc] "r"(acc), [m] "r"(requant[0]), [shift] "r"(requant[1]), [min] "r"(INT32_MIN),
              "m"(*(const int32_t(*)[4])requant)); /* reads words 0..3 only */
    const int32_t value = high;
#elif defined(TAS_REQUANT_USES_HALVES)
    /* ARMv6-M: the product from 16-bit halves, the sign's nudge a 64-bit add, not two __aeabi_lmul. */
    const int64_t nudge = (int64_t)(((uint64_t)(uint32_t)requant[3] << 32) | (uint32_t)requant[2]);
    const int64_t sum = tas_mul_64_halves(acc, requant[0]) + nudge - (acc < 0 ? (int64_t)1 << 31 : 0);
    const int32_t value = tas_clamp((int32_t)(sum >> 32) >> requant[1], -128, 127);
#else
    const int64_t nudge = (int64_t)(((uint64_t)(uint32_t)requant[3] << 32) | (uint32_t)requant[2]);
    const int64_t sum = (int64_t)acc * requant[0] + nudge + (int64_t)(int32_t)((uint32_t)acc >> 31) * INT32_MIN;
    const int32_t value = tas_clamp((int32_t)(sum >> 32) >> requant[1], -128, 127);
#endif
    return (int8_t)(value < stage.act_min ? stage.act_min : (value > stage.act_max ? stage.act_max : value));
}

/* Whether every channel's right shift is 1..22 (the table's second word >= 0 for each). */
static inline int tas_depthwise_all_fast(const int32_t *requant, int32_t channels)
{
    int32_t shifts = 0;
    for (int32_t c = 0; c < channels; ++c) {
        shifts |= requant[TAS_DEPTHWISE_REQUANT_WORDS * c + 1];
    }
    return shifts >= 0;
}

static inline void tas_depthwise_store4(tas_depthwise_output_stage stage, tas_depthwise_acc4 acc,
                                        const int32_t *requant, int8_t *out)
{
    out[0] = tas_depthwise_output(stage, acc.c0, requant);
    out[1] = tas_depthwise_output(stage, acc.c1, requant + TAS_DEPTHWISE_REQUANT_WORDS);
    out[2] = tas_depthwise_output(stage, acc.c2, requant + 2 * TAS_DEPTHWISE_REQUANT_WORDS);
    out[3] = tas_depthwise_output(stage, acc.c3, requant + 3 * TAS_DEPTHWISE_REQUANT_WORDS);
}

#endif /* TAS_DEPTHWISE_COMMON_H */
