/* int8 depthwise convolution with depth multiplier 1 and dilation 1, for cores with the DSP
 * extension: any filter size (3×3, k×1, 1×k…), stride and padding; bit-exact with TFLite's
 * reference DepthwiseConv (per-channel requantization).
 * input  [1, input_height, input_width, C]  int8, NHWC (C = input_depth = output_depth)
 * packed_filter  int32 words (tinyasc/compile/weight_packing.py: pack_depthwise_dsp_weights), every
 *   weight doubled: per block of 4 channels c..c+3, per tap t (row-major): (2w[c,t] | 2w[c+2,t] << 16),
 *   (2w[c+1,t] | 2w[c+3,t] << 16); then per tail channel (C % 4 of them), per tap: 2w[c,t]
 * bias [C] int32, doubled; so every sum comes out doubled (the export checks that it fits int32)
 * requantization [C][3] int32 (weight_packing.py: pack_depthwise_dsp_requantization): per channel
 *   (multiplier m, right shift r, add = 2^(r-1)·(2·output_offset + 1)) where the SMMLAR form below is
 *   exact, else (multiplier, -1, TFLite's shift); then one word, 1 if every channel has the first form
 * output [1, output_height, output_width, C]  int8
 *
 * Channels sit in SIMD lanes: one word load reads 4 channels of an input pixel (contiguous in
 * NHWC); SXTAB16 widens channels (0, 2) and, rotated, (1, 3) to int16 and adds the input offset
 * in the same instruction, so padding needs no folded-bias correction (out-of-image taps are simply
 * skipped); SMLABB/SMLATT multiply-accumulate each lane into its own channel's sum. */
#ifndef TAS_DEPTHWISE_S8_DSP_H
#define TAS_DEPTHWISE_S8_DSP_H
#include "tas_depthwise_common.h"
#include "tas_dsp.h"

#define TAS_DEPTHWISE_DSP_BLOCK 4
/* Words per channel of this kernel's requantization table: m, r, add (or m, -1, shift). */
#define TAS_DEPTHWISE_DSP_REQUANT_WORDS 3

/* Forced inline, as every depthwise helper (TAS_DEPTHWISE_INLINE, tas_depthwise_common.h). */
#define TAS_DW_DSP_INLINE static inline __attribute__((always_inline))

/* acc.c += (x_c + input_offset)·w_c for one tap of 4 channels. |x + offset| ≤ 255 and |w| ≤ 128
 * fit the int16 lanes; the int32 sums cannot overflow for windows under 65k taps. */
TAS_DW_DSP_INLINE tas_depthwise_acc4 tas_depthwise_tap_dsp(const int8_t *in, const int32_t *w, int32_t offset_pair,
                                                       tas_depthwise_acc4 acc)
{
    const int32_t x = tas_read_word(in);
    const int32_t even = tas_sxtab16(offset_pair, x);     /* x0 + offset, x2 + offset */
    const int32_t odd = tas_sxtab16_ror8(offset_pair, x); /* x1 + offset, x3 + offset */
    acc.c0 = tas_smlabb(even, w[0], acc.c0);
    acc.c2 = tas_smlatt(even, w[0], acc.c2);
    acc.c1 = tas_smlabb(odd, w[1], acc.c1);
    acc.c3 = tas_smlatt(odd, w[1], acc.c3);
    return acc;
}

/* One block of 4 channels over rows × cols taps (filter rows filter_width taps apart). For a
 * 3-wide filter each row's 1..3 taps are written out (clipped windows at the image's edges). */
TAS_DW_DSP_INLINE tas_depthwise_acc4 tas_depthwise_window_4ch_dsp(const int8_t *in, const int32_t *w, int32_t rows,
                                                                int32_t cols, int32_t input_row_step, int32_t channels,
                                                                int32_t filter_width, int32_t offset_pair,
                                                                tas_depthwise_acc4 acc)
{
    for (int32_t row = 0; row < rows; ++row) {
        if (filter_width == 3 && cols >= 1) {
            acc = tas_depthwise_tap_dsp(in, w, offset_pair, acc);
            if (cols >= 2) {
                acc = tas_depthwise_tap_dsp(in + channels, w + 2, offset_pair, acc);
            }
            if (cols >= 3) {
                acc = tas_depthwise_tap_dsp(in + 2 * channels, w + 4, offset_pair, acc);
            }
        } else {
            for (int32_t col = 0; col < cols; ++col) {
                acc = tas_depthwise_tap_dsp(in + col * channels, w + 2 * col, offset_pair, acc);
            }
        }
        in += input_row_step;
        w += 2 * filter_width;
    }
    return acc;
}

/* A whole 3×3 window, written out: nine taps, no loop. */
TAS_DW_DSP_INLINE tas_depthwise_acc4 tas_depthwise_window_3x3_dsp(const int8_t *in, const int32_t *w,
                                                              int32_t input_row_step, int32_t channels,
                                                              int32_t offset_pair, tas_depthwise_acc4 acc)
{
    const int8_t *middle = in + input_row_step, *bottom = middle + input_row_step;
    acc = tas_depthwise_tap_dsp(in, w, offset_pair, acc);
    acc = tas_depthwise_tap_dsp(in + channels, w + 2, offset_pair, acc);
    acc = tas_depthwise_tap_dsp(in + 2 * channels, w + 4, offset_pair, acc);
    acc = tas_depthwise_tap_dsp(middle, w + 6, offset_pair, acc);
    acc = tas_depthwise_tap_dsp(middle + channels, w + 8, offset_pair, acc);
    acc = tas_depthwise_tap_dsp(middle + 2 * channels, w + 10, offset_pair, acc);
    acc = tas_depthwise_tap_dsp(bottom, w + 12, offset_pair, acc);
    acc = tas_depthwise_tap_dsp(bottom + channels, w + 14, offset_pair, acc);
    return tas_depthwise_tap_dsp(bottom + 2 * channels, w + 16, offset_pair, acc);
}

/* A k×1 window (one column): one loop over its taps. */
TAS_DW_DSP_INLINE tas_depthwise_acc4 tas_depthwise_window_kx1_dsp(const int8_t *in, const int32_t *w, int32_t rows,
                                                              int32_t input_row_step, int32_t offset_pair,
                                                              tas_depthwise_acc4 acc)
{
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16 /* written out for a whole column (rows a constant at the inlined call) */
#endif
    for (; rows > 0; --rows, in += input_row_step, w += 2) {
        acc = tas_depthwise_tap_dsp(in, w, offset_pair, acc);
    }
    return acc;
}

/* acc + Σ (x + input_offset)·w over rows × cols taps, for one tail channel (one weight per word). */
TAS_DW_DSP_INLINE int32_t tas_depthwise_window_1ch_dsp(const int8_t *in, const int32_t *w, int32_t rows, int32_t cols,
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

/* requantize(sum) + output_offset saturated to int8, for the doubled sum acc2 = 2·sum of a channel
 * with the first table form: (SMMLAR(acc2, m, add) - [sum < 0]) >> r (the fully connected kernel's
 * fast form, tas_mat_fast_requantize, whose 2·acc is here the doubled sum itself). */
static inline int32_t tas_depthwise_requantize_doubled(int32_t acc2, const int32_t *requant)
{
    const int32_t value = (tas_smmlar(acc2, requant[0], requant[2]) + (acc2 >> 31)) >> requant[1];
    return value < -128 ? -128 : (value > 127 ? 127 : value);
}

/* One channel's output byte from its doubled sum: the SMMLAR form where the table has it (nearly
 * every channel), else tas_depthwise_output's general stage on the sum itself. */
TAS_DW_DSP_INLINE int8_t tas_depthwise_output_dsp(tas_depthwise_output_stage stage, int32_t acc2, const int32_t *requant)
{
    if (__builtin_expect(requant[1] >= 0, 1)) {
        const int32_t value = tas_depthwise_requantize_doubled(acc2, requant);
        return (int8_t)(value < stage.act_min ? stage.act_min : (value > stage.act_max ? stage.act_max : value));
    }
    return tas_depthwise_output(stage, acc2 >> 1, requant); /* its second word -1: the general stage */
}

TAS_DW_DSP_INLINE void tas_depthwise_store4_dsp(tas_depthwise_output_stage stage, tas_depthwise_acc4 acc,
                                               const int32_t *requant, int8_t *out)
{
    out[0] = tas_depthwise_output_dsp(stage, acc.c0, requant);
    out[1] = tas_depthwise_output_dsp(stage, acc.c1, requant + TAS_DEPTHWISE_DSP_REQUANT_WORDS);
    out[2] = tas_depthwise_output_dsp(stage, acc.c2, requant + 2 * TAS_DEPTHWISE_DSP_REQUANT_WORDS);
    out[3] = tas_depthwise_output_dsp(stage, acc.c3, requant + 3 * TAS_DEPTHWISE_DSP_REQUANT_WORDS);
}

/* 4 channels' outputs, every channel in the SMMLAR form: tas_depthwise_requantize_doubled, packed
 * into one word, byte k for channel k. Written out on the DSP core: per channel LDRD, LDR, SMMLAR,
 * ADD, ASR, SSAT and BFI. */
TAS_DW_DSP_INLINE int32_t tas_depthwise_requantize4_dsp(tas_depthwise_acc4 acc, const int32_t *requant)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t value, multiplier, shift, add;
#define TAS_DW_REQUANT_ASM(c, at)                                  \
    "ldrd %[m], %[sh], [%[r], #" #at "]\n\t"                      \
    "ldr %[add], [%[r], #" #at " + 8]\n\t"                        \
    "smmlar %[v], %[" #c "], %[m], %[add]\n\t"                    \
    "add %[v], %[v], %[" #c "], asr #31\n\t"                      \
    "asr %[v], %[v], %[sh]\n\t"
    __asm__(TAS_DW_REQUANT_ASM(c0, 0)
            "ssat %[c0], #8, %[v]\n\t"
            TAS_DW_REQUANT_ASM(c1, 12)
            "ssat %[v], #8, %[v]\n\t"
            "bfi %[c0], %[v], #8, #8\n\t"
            TAS_DW_REQUANT_ASM(c2, 24)
            "ssat %[v], #8, %[v]\n\t"
            "bfi %[c0], %[v], #16, #8\n\t"
            TAS_DW_REQUANT_ASM(c3, 36)
            "ssat %[v], #8, %[v]\n\t"
            "bfi %[c0], %[v], #24, #8"
            : [v] "=&r"(value), [m] "=&r"(multiplier), [sh] "=&r"(shift), [add] "=&r"(add), [c0] "+&r"(acc.c0)
            : [c1] "r"(acc.c1), [c2] "r"(acc.c2), [c3] "r"(acc.c3), [r] "r"(requant),
              "m"(*(const int32_t(*)[4 * TAS_DEPTHWISE_DSP_REQUANT_WORDS])requant));
#undef TAS_DW_REQUANT_ASM
    return acc.c0;
#else
    const int32_t *r1 = requant + TAS_DEPTHWISE_DSP_REQUANT_WORDS, *r2 = r1 + TAS_DEPTHWISE_DSP_REQUANT_WORDS;
    const int32_t *r3 = r2 + TAS_DEPTHWISE_DSP_REQUANT_WORDS;
    return (int32_t)((uint32_t)(uint8_t)tas_depthwise_requantize_doubled(acc.c0, requant)
                     | (uint32_t)(uint8_t)tas_depthwise_requantize_doubled(acc.c1, r1) << 8
                     | (uint32_t)(uint8_t)tas_depthwise_requantize_doubled(acc.c2, r2) << 16
                     | (uint32_t)(uint8_t)tas_depthwise_requantize_doubled(acc.c3, r3) << 24);
#endif
}

/* 4 channels' outputs stored as one word; the activation clamp per byte (SSUB8/SEL) only where the
 * layer's range is narrower than int8 (a compile-time test once the kernel is inlined at its call). */
TAS_DW_DSP_INLINE void tas_depthwise_store4_fast_dsp(tas_depthwise_output_stage stage, tas_depthwise_acc4 acc,
                                                    const int32_t *requant, int8_t *out)
{
    int32_t word = tas_depthwise_requantize4_dsp(acc, requant);
    if (stage.act_min > -128) {
        word = tas_max_s8x4(word, tas_splat_s8x4(stage.act_min));
    }
    if (stage.act_max < 127) {
        word = tas_min_s8x4(word, tas_splat_s8x4(stage.act_max));
    }
    tas_write_word(out, word);
}

/* The layer's constants, held in locals rather than read through `p` (see tas_depthwise_output_stage). */
typedef struct {
    int32_t channels, blocked_end, taps, input_row_step, input_offset, offset_pair;
    int32_t fast_output; /* every channel in the SMMLAR form: the word after the table */
    tas_depthwise_output_stage stage;
    const int32_t *packed_filter, *tail_filter, *bias, *requantization;
} tas_depthwise_layer_dsp;

/* Which window code a pixel runs: a whole 3×3 window (every interior pixel of a 3×3 depthwise),
 * a column (k×1 filters), or any clipped window. */
enum { TAS_DEPTHWISE_WHOLE_3X3, TAS_DEPTHWISE_COLUMN, TAS_DEPTHWISE_ANY };

/* Every channel of one output pixel: rows × cols in-image taps from filter tap first_tap, the
 * filter's rows filter_width taps apart. Always inlined, once per literal `shape`, so each copy
 * holds one window loop. */
TAS_DW_DSP_INLINE void tas_depthwise_pixel_dsp(const tas_depthwise_layer_dsp layer,
                                                                          const int8_t *in, int32_t first_tap,
                                                                          int shape, int32_t rows, int32_t cols,
                                                                          int32_t filter_width, int8_t *out)
{
    const int32_t *w = layer.packed_filter + 2 * first_tap;
    for (int32_t c = 0; c < layer.blocked_end; c += TAS_DEPTHWISE_DSP_BLOCK) {
        const tas_depthwise_acc4 bias4 = {layer.bias[c], layer.bias[c + 1], layer.bias[c + 2], layer.bias[c + 3]};
        tas_depthwise_acc4 acc;
        if (shape == TAS_DEPTHWISE_WHOLE_3X3) {
            acc = tas_depthwise_window_3x3_dsp(in + c, w, layer.input_row_step, layer.channels, layer.offset_pair, bias4);
        } else if (shape == TAS_DEPTHWISE_COLUMN) {
            acc = tas_depthwise_window_kx1_dsp(in + c, w, rows, layer.input_row_step, layer.offset_pair, bias4);
        } else {
            acc = tas_depthwise_window_4ch_dsp(in + c, w, rows, cols, layer.input_row_step, layer.channels,
                                               filter_width, layer.offset_pair, bias4);
        }
        const int32_t *requant = layer.requantization + TAS_DEPTHWISE_DSP_REQUANT_WORDS * c;
        if (__builtin_expect(layer.fast_output, 1)) {
            tas_depthwise_store4_fast_dsp(layer.stage, acc, requant, out + c);
        } else {
            tas_depthwise_store4_dsp(layer.stage, acc, requant, out + c);
        }
        w += 2 * layer.taps;
    }
    for (int32_t c = layer.blocked_end; c < layer.channels; ++c) {
        const int32_t *w1 = layer.tail_filter + (c - layer.blocked_end) * layer.taps + first_tap;
        const int32_t acc = tas_depthwise_window_1ch_dsp(in + c, w1, rows, cols, layer.input_row_step, layer.channels,
                                                         filter_width, layer.input_offset, layer.bias[c]);
        out[c] = tas_depthwise_output_dsp(layer.stage, acc, layer.requantization + TAS_DEPTHWISE_DSP_REQUANT_WORDS * c);
    }
}

/* A run of neighbouring output pixels whose 3×3 windows are whole, every channel in blocks of 4
 * (C % 4 == 0), every channel in the SMMLAR form: written as one assembly function (tas_depthwise_run_3x3_asm)
 * on Thumb-2 DSP cores, where GCC runs out of registers in the C loop (it reloads each input word
 * and weight pair twice: 134 instructions a 3×3 block of 4 channels, against 114 here). The fields are
 * read by offset in the assembly: keep their order. */
typedef struct {
    const int8_t *in;       /*  0: the first pixel's window, its top-left tap, channel 0 */
    int8_t *out;            /*  4: the first pixel's output */
    const int32_t *filter;  /*  8: the packed filter (blocks of 2·9 words) */
    const int32_t *bias;    /* 12 */
    const int32_t *requant; /* 16: TAS_DEPTHWISE_DSP_REQUANT_WORDS a channel */
    int32_t blocks;         /* 20: C / 4 >= 1 */
    int32_t channels;       /* 24: C, the input's pixel step in bytes */
    int32_t row_step;       /* 28: input_width · C */
    int32_t offset_pair;    /* 32: input_offset in both halfwords */
    int32_t pixels;         /* 36: >= 1 */
    int32_t pixel_skip;     /* 40: (stride_width - 1) · C */
    int32_t act_min4;       /* 44: act_min in every byte */
    int32_t act_max4;       /* 48: act_max in every byte */
} tas_depthwise_run_3x3;

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
#define TAS_DEPTHWISE_RUN_ASM 1
/* One tap of 4 channels: the input word (LOAD), its lanes widened with the input offset (r12), the
 * tap's two weight words (post-incremented r9), four SMLAxy into r0..r3. */
#define TAS_DW_RUN_TAP(load)                 \
    load "\n\t"                              \
    "sxtab16 r4, r12, r5\n\t"                \
    "sxtab16 r5, r12, r5, ror #8\n\t"        \
    "ldrd r6, r7, [r9], #8\n\t"              \
    "smlabb r0, r4, r6, r0\n\t"              \
    "smlatt r2, r4, r6, r2\n\t"              \
    "smlabb r1, r5, r7, r1\n\t"              \
    "smlatt r3, r5, r7, r3\n\t"
/* Channel `acc`'s output byte (tas_depthwise_requantize_doubled) into `dest`: its 3 table words
 * from the post-incremented lr. */
#define TAS_DW_RUN_REQUANT(acc, dest)        \
    "ldmia lr!, {r4, r5, r6}\n\t"           \
    "smmlar r7, " acc ", r4, r6\n\t"        \
    "add r7, r7, " acc ", asr #31\n\t"      \
    "asr r7, r7, r5\n\t"                    \
    "ssat " dest ", #8, r7\n\t"

/* The taps of one filter row: `cols` of them from the row's input `base`; the weight pointer then
 * skips the row's other 3 - cols taps. */
#define TAS_DW_RUN_ROW3(base)                            \
    TAS_DW_RUN_TAP("ldr r5, [" base "]")                 \
    TAS_DW_RUN_TAP("ldr r5, [" base ", r10]")            \
    TAS_DW_RUN_TAP("ldr r5, [" base ", r10, lsl #1]")
#define TAS_DW_RUN_ROW2(base)                            \
    TAS_DW_RUN_TAP("ldr r5, [" base "]")                 \
    TAS_DW_RUN_TAP("ldr r5, [" base ", r10]")            \
    "add r9, r9, #8\n\t"

/* A function over `run->pixels` pixels whose in-image windows have the same shape, its taps TAPS
 * (filter at the window's first tap; TAPS leave the weight pointer 72 bytes on, at the next block).
 * Registers: r0..r3 the 4 sums, r8 the block's input (its first row), lr a row's input, r9 the
 * filter, r10 = C, r11 = the row step, r12 the offset pair. The struct is copied to the stack
 * (sp + 0..52), with the bias and table cursors at sp + 52 and 56 and the filter's end at sp + 60. */
#define TAS_DW_RUN_FUNCTION(name, TAPS)                                                                   \
    static __attribute__((naked, noinline, unused)) void name(                                            \
        const tas_depthwise_run_3x3 *run __attribute__((unused)))                                        \
    {                                                                                                     \
        __asm__ volatile(                                                                                 \
            "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                             \
            "sub sp, sp, #68\n\t"                                                                         \
            "ldmia r0!, {r1, r2, r3, r4, r5, r6, r7}\n\t"                                                 \
            "stmia sp, {r1, r2, r3, r4, r5, r6, r7}\n\t"                                                  \
            "ldmia r0, {r1, r2, r3, r4, r5, r6}\n\t"                                                      \
            "add r7, sp, #28\n\t"                                                                         \
            "stmia r7, {r1, r2, r3, r4, r5, r6}\n\t"                                                      \
            "ldr r10, [sp, #24]\n\t"                                                                      \
            "ldr r11, [sp, #28]\n\t"                                                                      \
            "ldr r12, [sp, #32]\n\t"                                                                      \
            "ldr r4, [sp, #8]\n\t" /* the filter's end: 72 bytes a block */                              \
            "ldr r5, [sp, #20]\n\t"                                                                       \
            "mov r6, #72\n\t"                                                                             \
            "mla r4, r5, r6, r4\n\t"                                                                      \
            "str r4, [sp, #60]\n\t"                                                                       \
            "ldr r8, [sp, #0]\n"                                                                          \
            "1:\n\t" /* each pixel */                                                                     \
            "ldr r9, [sp, #8]\n\t"                                                                        \
            "ldrd r4, r5, [sp, #12]\n\t"                                                                  \
            "strd r4, r5, [sp, #52]\n"                                                                    \
            "2:\n\t" /* each block of 4 channels */                                                       \
            "ldr r4, [sp, #52]\n\t"                                                                       \
            "ldmia r4!, {r0, r1, r2, r3}\n\t"                                                             \
            "str r4, [sp, #52]\n\t"                                                                       \
            TAPS                                                                                          \
            "ldr lr, [sp, #56]\n\t"                                                                       \
            TAS_DW_RUN_REQUANT("r0", "r0")                                                                \
            TAS_DW_RUN_REQUANT("r1", "r7")                                                                \
            "bfi r0, r7, #8, #8\n\t"                                                                      \
            TAS_DW_RUN_REQUANT("r2", "r7")                                                                \
            "bfi r0, r7, #16, #8\n\t"                                                                     \
            TAS_DW_RUN_REQUANT("r3", "r7")                                                                \
            "bfi r0, r7, #24, #8\n\t"                                                                     \
            "str lr, [sp, #56]\n\t"                                                                       \
            "ldrd r4, r5, [sp, #44]\n\t" /* the activation range per byte: max with act_min, min with act_max */ \
            "ssub8 r6, r0, r4\n\t"                                                                        \
            "sel r0, r0, r4\n\t"                                                                          \
            "ssub8 r6, r0, r5\n\t"                                                                        \
            "sel r0, r5, r0\n\t"                                                                          \
            "ldr r4, [sp, #4]\n\t"                                                                        \
            "str r0, [r4], #4\n\t"                                                                        \
            "str r4, [sp, #4]\n\t"                                                                        \
            "add r8, r8, #4\n\t"                                                                          \
            "ldr r4, [sp, #60]\n\t"                                                                       \
            "cmp r9, r4\n\t"                                                                              \
            "bne 2b\n\t"                                                                                  \
            "ldr r4, [sp, #40]\n\t" /* the next pixel: r8 is C bytes on */                               \
            "add r8, r8, r4\n\t"                                                                          \
            "ldr r4, [sp, #36]\n\t"                                                                       \
            "subs r4, r4, #1\n\t"                                                                         \
            "str r4, [sp, #36]\n\t"                                                                       \
            "bne 1b\n\t"                                                                                  \
            "add sp, sp, #68\n\t"                                                                         \
            "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                                           \
    }

/* Whole windows (interior pixels), then the clipped shapes of a 3×3 window padded by 1 (edges and
 * corners: 3×2, 2×3, 2×2 in-image taps); other shapes take the C code. */
TAS_DW_RUN_FUNCTION(tas_depthwise_run_3x3_asm,
                    TAS_DW_RUN_ROW3("r8") "add lr, r8, r11\n\t" TAS_DW_RUN_ROW3("lr") "add lr, lr, r11\n\t"
                    TAS_DW_RUN_ROW3("lr"))
TAS_DW_RUN_FUNCTION(tas_depthwise_run_3x2_asm,
                    TAS_DW_RUN_ROW2("r8") "add lr, r8, r11\n\t" TAS_DW_RUN_ROW2("lr") "add lr, lr, r11\n\t"
                    TAS_DW_RUN_ROW2("lr"))
TAS_DW_RUN_FUNCTION(tas_depthwise_run_2x3_asm,
                    TAS_DW_RUN_ROW3("r8") "add lr, r8, r11\n\t" TAS_DW_RUN_ROW3("lr") "add r9, r9, #24\n\t")
TAS_DW_RUN_FUNCTION(tas_depthwise_run_2x2_asm,
                    TAS_DW_RUN_ROW2("r8") "add lr, r8, r11\n\t" TAS_DW_RUN_ROW2("lr") "add r9, r9, #24\n\t")
#undef TAS_DW_RUN_FUNCTION
#undef TAS_DW_RUN_ROW3
#undef TAS_DW_RUN_ROW2
#undef TAS_DW_RUN_TAP
#undef TAS_DW_RUN_REQUANT
#else
#define TAS_DEPTHWISE_RUN_ASM 0
#endif

/* Output rows first_row .. end_row - 1 into output (which holds row first_row's first byte):
 * the whole kernel is rows 0 .. output_height - 1; a row stream (tinyasc/compile/rowstream.py)
 * runs one row at a time into a ring or beside the pointwise conv that reads it. */
TAS_DW_DSP_INLINE void tas_depthwise_rows_s8_dsp(const tas_conv2d_params *p, const int8_t *input,
                                            const int32_t *packed_filter, const int32_t *bias,
                                            const int32_t *requantization, int8_t *output,
                                             int32_t first_row, int32_t end_row)
{
    const int32_t channels = p->output_depth, taps = p->filter_height * p->filter_width;
    /* Bounds computed up front (GCC's -Waggressive-loop-optimizations, as in tas_conv2d_rows_s8_dsp). */
    const int32_t blocked_end = channels - channels % TAS_DEPTHWISE_DSP_BLOCK;
    const tas_depthwise_layer_dsp layer = {
        channels, blocked_end, taps, p->input_width * channels, p->input_offset,
        (int32_t)(((uint32_t)p->input_offset & 0xffffu) * 0x10001u),
        requantization[TAS_DEPTHWISE_DSP_REQUANT_WORDS * channels], tas_depthwise_output_stage_of(p),
        packed_filter, packed_filter + 2 * taps * (blocked_end / TAS_DEPTHWISE_DSP_BLOCK), bias, requantization,
    };
    const int32_t filter_height = p->filter_height, filter_width = p->filter_width;
    const int32_t output_width = p->output_width;
    int8_t *out = output;
#if TAS_DEPTHWISE_RUN_ASM
    const int run_asm = filter_height == 3 && filter_width == 3 && blocked_end == channels && layer.fast_output;
    tas_depthwise_run_3x3 run = {
        input, output, packed_filter, bias, requantization, channels / TAS_DEPTHWISE_DSP_BLOCK, channels,
        layer.input_row_step, layer.offset_pair, 1, (p->stride_width - 1) * channels,
        tas_splat_s8x4(layer.stage.act_min), tas_splat_s8x4(layer.stage.act_max),
    };
#endif
    for (int32_t out_y = first_row; out_y < end_row; ++out_y) {
        for (int32_t out_x = 0; out_x < output_width; ++out_x) {
            const tas_depthwise_window window = tas_depthwise_clip(p, out_y, out_x);
            const int8_t *in = input + window.input_pixel * channels;
            const int32_t first_tap = window.first_row * filter_width + window.first_col;
#if TAS_DEPTHWISE_RUN_ASM
            if (run_asm && window.rows >= 2 && window.cols >= 2) {
                run.in = in;
                run.out = out;
                run.filter = packed_filter + 2 * first_tap;
                run.pixels = 1;
                if (window.rows == 3 && window.cols == 3) { /* every whole window from here to the row's last */
                    int32_t last = (p->input_width - 3 + p->pad_width) / p->stride_width;
                    last = last < output_width - 1 ? last : output_width - 1;
                    run.pixels = last - out_x + 1;
                    tas_depthwise_run_3x3_asm(&run);
                    out_x = last;
                } else if (window.rows == 3) {
                    tas_depthwise_run_3x2_asm(&run);
                } else if (window.cols == 3) {
                    tas_depthwise_run_2x3_asm(&run);
                } else {
                    tas_depthwise_run_2x2_asm(&run);
                }
                out += run.pixels * channels;
                continue;
            }
#endif
            if (filter_height == 3 && filter_width == 3 && window.rows == 3 && window.cols == 3) {
                tas_depthwise_pixel_dsp(layer, in, first_tap, TAS_DEPTHWISE_WHOLE_3X3, 3, 3, 3, out);
            } else if (filter_width == 1 && window.rows == filter_height) { /* a whole column: a constant count */
                tas_depthwise_pixel_dsp(layer, in, 0, TAS_DEPTHWISE_COLUMN, filter_height, 1, 1, out);
            } else if (filter_width == 1) {
                tas_depthwise_pixel_dsp(layer, in, first_tap, TAS_DEPTHWISE_COLUMN, window.rows, 1, 1, out);
            } else {
                tas_depthwise_pixel_dsp(layer, in, first_tap, TAS_DEPTHWISE_ANY, window.rows, window.cols, filter_width,
                                        out);
            }
            out += channels;
        }
    }
}

#endif /* TAS_DEPTHWISE_S8_DSP_H */
