/* The matrix product of the portable convolution kernels (tas_conv2d_rows_s8.c, tas_conv2d_im2col_s8.c),
 * for cores without the DSP extension (Cortex-M0/M3): two input vectors (two output pixels) times
 * the packed int8 weights, 4 channels x 2 pixels per pass. Each loaded weight byte feeds two MLAs and
 * each input byte four, so a MAC costs about one MLA and 0.75 loads (the M3's MLA is single-issue,
 * 32x32; there is no SIMD to do better). The input zero point is folded into the bias at export time
 * (folded_bias = bias + input_offset·Σ w), so padding and the offset cost nothing here.
 * Weights: tinyasc/compile/weight_packing.py pack_mat_mult_weights(weights, 4): per block of 4
 * channels, per group of 4 inputs the 4 channels' 4 bytes in turn, then each channel's depth % 4 tail
 * bytes; the channels left over follow one at a time, each padded to a word. */
#ifndef TAS_MAT_MULT_S8_H
#define TAS_MAT_MULT_S8_H

#include <stdint.h>
#include "tas_requantize.h"

#define TAS_MAT_MULT_S8_BLOCK 4
#define TAS_MAT_MULT_S8_INLINE static inline __attribute__((always_inline))

/* The output stage's constants, copied into locals by the caller: int8 stores may alias anything,
 * so values read through a pointer would be reloaded after each store. */
typedef struct {
    const int32_t *folded_bias, *multiplier, *shift;
    int32_t quant_step; /* 1: per-channel requantization, 0: one pair for every channel */
    int32_t output_offset, act_min, act_max;
} tas_mat_mult_s8_stage;

/* Eight sums: 4 channels for pixel a, the same 4 for pixel b. */
typedef struct {
    int32_t a0, a1, a2, a3, b0, b1, b2, b3;
} tas_mat_mult_s8_acc;

/* Input byte i of both pixels times the 4 channels' weights w[i], w[stride + i], ... */
TAS_MAT_MULT_S8_INLINE tas_mat_mult_s8_acc tas_mat_mult_s8_tap(tas_mat_mult_s8_acc s, int32_t xa, int32_t xb,
                                                               const int8_t *w, int32_t stride)
{
    int32_t wt = w[0];
    s.a0 += xa * wt;
    s.b0 += xb * wt;
    wt = w[stride];
    s.a1 += xa * wt;
    s.b1 += xb * wt;
    wt = w[2 * stride];
    s.a2 += xa * wt;
    s.b2 += xb * wt;
    wt = w[3 * stride];
    s.a3 += xa * wt;
    s.b3 += xb * wt;
    return s;
}

/* Requantize, add the output offset, clamp: tas_requantize_positive's result through the
 * per-channel terms worked out once for both pixels (tas_requant_channel). */
TAS_MAT_MULT_S8_INLINE int8_t tas_mat_mult_s8_out(const tas_mat_mult_s8_stage *o, const tas_requant_channel *r, int32_t acc)
{
    return (int8_t)tas_clamp(tas_requant_channel_apply(acc, r) + o->output_offset, o->act_min, o->act_max);
}

TAS_MAT_MULT_S8_INLINE void tas_mat_mult_s8_store(const tas_mat_mult_s8_stage *o, int32_t c, int32_t acc_a,
                                                  int32_t acc_b, int8_t *out_a, int8_t *out_b)
{
    const int32_t q = c * o->quant_step;
    const tas_requant_channel r = tas_requant_channel_of(o->multiplier[q], o->shift[q]);
    out_b[c] = tas_mat_mult_s8_out(o, &r, acc_b);
    out_a[c] = tas_mat_mult_s8_out(o, &r, acc_a);
}

/* The folded bias with its provenance hidden from GCC: after constant propagation GCC 12 can see a
 * 1-channel layer's 1-word bias array inside the 4-channel block that layer never enters, and
 * -Warray-bounds (an error under -Werror) fires. The empty asm emits no instruction. */
static inline const int32_t *tas_mat_mult_s8_bias_base(const int32_t *folded_bias)
{
    __asm__("" : "+r"(folded_bias));
    return folded_bias;
}

/* tas_mat_mult_s8_two_pixels for one pixel (a lone last row or pixel): 4 channels x 1 pixel per pass. */
static inline const int8_t *tas_mat_mult_s8_one_pixel(const tas_mat_mult_s8_stage *stage, const int8_t *a, int32_t depth,
                                                      int32_t channels, const int8_t *w, int8_t *out)
{
    const tas_mat_mult_s8_stage local = *stage, *o = &local;
    const int32_t quad_bytes = depth & ~3, tail = depth & 3;
    const int32_t blocked_end = channels & ~(TAS_MAT_MULT_S8_BLOCK - 1);
    const int32_t *folded_bias = tas_mat_mult_s8_bias_base(o->folded_bias);
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_S8_BLOCK) {
        const int32_t *bias = folded_bias + c;
        int32_t acc0 = bias[0], acc1 = bias[1], acc2 = bias[2], acc3 = bias[3];
        const int8_t *pa = a;
        for (const int8_t *end = a + quad_bytes; pa < end; pa += 4, w += 16) {
            const int32_t x0 = pa[0], x1 = pa[1], x2 = pa[2], x3 = pa[3];
            acc0 += x0 * w[0] + x1 * w[1] + x2 * w[2] + x3 * w[3];
            acc1 += x0 * w[4] + x1 * w[5] + x2 * w[6] + x3 * w[7];
            acc2 += x0 * w[8] + x1 * w[9] + x2 * w[10] + x3 * w[11];
            acc3 += x0 * w[12] + x1 * w[13] + x2 * w[14] + x3 * w[15];
        }
        for (int32_t t = 0; t < tail; ++t) {
            const int32_t x = pa[t];
            acc0 += x * w[t];
            acc1 += x * w[tail + t];
            acc2 += x * w[2 * tail + t];
            acc3 += x * w[3 * tail + t];
        }
        w += 4 * tail;
        tas_mat_mult_s8_store(o, c, acc0, acc0, out, out);
        tas_mat_mult_s8_store(o, c + 1, acc1, acc1, out, out);
        tas_mat_mult_s8_store(o, c + 2, acc2, acc2, out, out);
        tas_mat_mult_s8_store(o, c + 3, acc3, acc3, out, out);
    }
    for (int32_t c = blocked_end; c < channels; ++c) {
        int32_t acc = o->folded_bias[c];
        for (int32_t k = 0; k < depth; ++k) {
            acc += a[k] * w[k];
        }
        w += (depth + 3) & ~3;
        tas_mat_mult_s8_store(o, c, acc, acc, out, out);
    }
    return w;
}

#if (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_6M__)) && !defined(TAS_MAT_MULT_S8_PLAIN_C)
/* io of the assembly quad loops below: the 8 sums (a0..a3, b0..b3) in and out, then the end of a. */
typedef struct {
    int32_t sums[8];
    const int8_t *a_end;
} tas_mat_mult_s8_quads_io;

#define TAS_MAT_MULT_S8_IN_REGISTER __attribute__((unused)) /* read by the assembly, in r0-r3 */
#endif

#if defined(__ARM_ARCH_7M__) && !defined(TAS_MAT_MULT_S8_PLAIN_C)
#define TAS_MAT_MULT_S8_M3_ASM 1
/* The 2-pixel quad loop of tas_mat_mult_s8_two_pixels on the Cortex-M3 (ARMv7-M), as a whole function
 * in assembly: 8 sums, 3 pointers and 3 values need 14 registers, one more than GCC finds without
 * spilling (it reloads sums from the stack: ~75 instructions per 32 MACs, here 59). Exactly the plain-C
 * loop below (the host and other cores run that one); the byte order inside a quad differs, which
 * integer sums do not see. io: the 8 sums (a0..a3, b0..b3) in and out, then the end of a.
 * Returns w past the quads. AAPCS: r4-r11 saved, r0-r3, r12, lr free. */
__attribute__((naked, noinline)) static const int8_t *
tas_mat_mult_s8_quads_m3(TAS_MAT_MULT_S8_IN_REGISTER const int8_t *a, TAS_MAT_MULT_S8_IN_REGISTER const int8_t *b,
                         TAS_MAT_MULT_S8_IN_REGISTER const int8_t *w, TAS_MAT_MULT_S8_IN_REGISTER tas_mat_mult_s8_quads_io *io)
{
    __asm__ volatile(
        "push {r4-r11, lr}\n"
        "ldr r12, [r3, #32]\n"
        "push {r3, r12}\n" /* [sp]: io, [sp, #4]: the end of a */
        "ldmia r3, {r4-r11}\n"
        "cmp r0, r12\n"
        "bhs 2f\n"
        "1:\n"
        "ldrsb r12, [r0, #1]\n"
        "ldrsb lr, [r1, #1]\n"
        "ldrsb r3, [r2, #1]\n"
        "mla r4, r3, r12, r4\n"
        "mla r8, r3, lr, r8\n"
        "ldrsb r3, [r2, #5]\n"
        "mla r5, r3, r12, r5\n"
        "mla r9, r3, lr, r9\n"
        "ldrsb r3, [r2, #9]\n"
        "mla r6, r3, r12, r6\n"
        "mla r10, r3, lr, r10\n"
        "ldrsb r3, [r2, #13]\n"
        "mla r7, r3, r12, r7\n"
        "mla r11, r3, lr, r11\n"
        "ldrsb r12, [r0, #2]\n"
        "ldrsb lr, [r1, #2]\n"
        "ldrsb r3, [r2, #2]\n"
        "mla r4, r3, r12, r4\n"
        "mla r8, r3, lr, r8\n"
        "ldrsb r3, [r2, #6]\n"
        "mla r5, r3, r12, r5\n"
        "mla r9, r3, lr, r9\n"
        "ldrsb r3, [r2, #10]\n"
        "mla r6, r3, r12, r6\n"
        "mla r10, r3, lr, r10\n"
        "ldrsb r3, [r2, #14]\n"
        "mla r7, r3, r12, r7\n"
        "mla r11, r3, lr, r11\n"
        "ldrsb r12, [r0, #3]\n"
        "ldrsb lr, [r1, #3]\n"
        "ldrsb r3, [r2, #3]\n"
        "mla r4, r3, r12, r4\n"
        "mla r8, r3, lr, r8\n"
        "ldrsb r3, [r2, #7]\n"
        "mla r5, r3, r12, r5\n"
        "mla r9, r3, lr, r9\n"
        "ldrsb r3, [r2, #11]\n"
        "mla r6, r3, r12, r6\n"
        "mla r10, r3, lr, r10\n"
        "ldrsb r3, [r2, #15]\n"
        "mla r7, r3, r12, r7\n"
        "mla r11, r3, lr, r11\n"
        "ldrsb r12, [r0], #4\n"
        "ldrsb lr, [r1], #4\n"
        "ldrsb r3, [r2], #16\n"
        "mla r4, r3, r12, r4\n"
        "mla r8, r3, lr, r8\n"
        "ldrsb r3, [r2, #-12]\n"
        "mla r5, r3, r12, r5\n"
        "mla r9, r3, lr, r9\n"
        "ldrsb r3, [r2, #-8]\n"
        "mla r6, r3, r12, r6\n"
        "mla r10, r3, lr, r10\n"
        "ldrsb r3, [r2, #-4]\n"
        "mla r7, r3, r12, r7\n"
        "mla r11, r3, lr, r11\n"
        "ldr r3, [sp, #4]\n"
        "cmp r0, r3\n"
        "blo 1b\n"
        "2:\n"
        "ldr r3, [sp]\n"
        "stmia r3, {r4-r11}\n"
        "mov r0, r2\n"
        "add sp, sp, #8\n"
        "pop {r4-r11, pc}\n");
}
#endif

#if defined(__ARM_ARCH_6M__) && !defined(TAS_MAT_MULT_S8_PLAIN_C)
#define TAS_MAT_MULT_S8_V6M_ASM 1
/* The same quad loop on the Cortex-M0/M0+ (ARMv6-M, Thumb-1): no MLA, MULS overwrites one of its
 * operands, LDRSB has no immediate offset, and only r0-r7 feed the multiplies and loads. GCC spills
 * most of the 8 sums and rereads the inputs (~8 instructions per MAC); here each weight is LDRB +
 * SXTB, copied once, and multiplied by both pixels' inputs (7 instructions per 2 MACs; the fourth
 * channel multiplies into the inputs, which it uses last, so it needs no copy): 139 instructions per
 * 32 MACs. Registers: r0 a, r1 b, r2 w, r3/r4 the inputs of a and b, r5 the weight, r6 its copy;
 * sums a0-a2 in r8-r10, b0-b2 in r11, r12, lr, a3 in r7 and b3 on the stack with the end of a.
 * Same io and result as tas_mat_mult_s8_quads_m3. AAPCS: r4-r11 saved. */
__attribute__((naked, noinline)) static const int8_t *
tas_mat_mult_s8_quads_v6m(TAS_MAT_MULT_S8_IN_REGISTER const int8_t *a, TAS_MAT_MULT_S8_IN_REGISTER const int8_t *b,
                          TAS_MAT_MULT_S8_IN_REGISTER const int8_t *w, TAS_MAT_MULT_S8_IN_REGISTER tas_mat_mult_s8_quads_io *io)
{
    __asm__ volatile(
        ".syntax unified\n" /* GCC hands Thumb-1 inline assembly over in divided syntax */
        "push {r4, r5, r6, r7, lr}\n"
        "mov r4, r8\n"
        "mov r5, r9\n"
        "mov r6, r10\n"
        "mov r7, r11\n"
        "push {r4, r5, r6, r7}\n"
        "sub sp, #12\n" /* [sp]: sum b3, [sp, #4]: the end of a, [sp, #8]: io */
        "str r3, [sp, #8]\n"
        "ldr r4, [r3, #32]\n"
        "str r4, [sp, #4]\n"
        "ldr r4, [r3, #28]\n"
        "str r4, [sp]\n"
        "ldr r7, [r3, #12]\n"
        "ldr r4, [r3]\n"
        "mov r8, r4\n"
        "ldr r4, [r3, #4]\n"
        "mov r9, r4\n"
        "ldr r4, [r3, #8]\n"
        "mov r10, r4\n"
        "ldr r4, [r3, #16]\n"
        "mov r11, r4\n"
        "ldr r4, [r3, #20]\n"
        "mov r12, r4\n"
        "ldr r4, [r3, #24]\n"
        "mov lr, r4\n"
        "b 3f\n"
        "1:\n"
        "ldrb r3, [r0, #0]\n"
        "sxtb r3, r3\n"
        "ldrb r4, [r1, #0]\n"
        "sxtb r4, r4\n"
        "ldrb r5, [r2, #0]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r8, r6\n"
        "muls r5, r4, r5\n"
        "add r11, r5\n"
        "ldrb r5, [r2, #4]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r9, r6\n"
        "muls r5, r4, r5\n"
        "add r12, r5\n"
        "ldrb r5, [r2, #8]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r10, r6\n"
        "muls r5, r4, r5\n"
        "add lr, r5\n"
        "ldrb r5, [r2, #12]\n"
        "sxtb r5, r5\n"
        "muls r3, r5, r3\n"
        "adds r7, r3\n"
        "muls r5, r4, r5\n"
        "ldr r6, [sp]\n"
        "adds r6, r5\n"
        "str r6, [sp]\n"
        "ldrb r3, [r0, #1]\n"
        "sxtb r3, r3\n"
        "ldrb r4, [r1, #1]\n"
        "sxtb r4, r4\n"
        "ldrb r5, [r2, #1]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r8, r6\n"
        "muls r5, r4, r5\n"
        "add r11, r5\n"
        "ldrb r5, [r2, #5]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r9, r6\n"
        "muls r5, r4, r5\n"
        "add r12, r5\n"
        "ldrb r5, [r2, #9]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r10, r6\n"
        "muls r5, r4, r5\n"
        "add lr, r5\n"
        "ldrb r5, [r2, #13]\n"
        "sxtb r5, r5\n"
        "muls r3, r5, r3\n"
        "adds r7, r3\n"
        "muls r5, r4, r5\n"
        "ldr r6, [sp]\n"
        "adds r6, r5\n"
        "str r6, [sp]\n"
        "ldrb r3, [r0, #2]\n"
        "sxtb r3, r3\n"
        "ldrb r4, [r1, #2]\n"
        "sxtb r4, r4\n"
        "ldrb r5, [r2, #2]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r8, r6\n"
        "muls r5, r4, r5\n"
        "add r11, r5\n"
        "ldrb r5, [r2, #6]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r9, r6\n"
        "muls r5, r4, r5\n"
        "add r12, r5\n"
        "ldrb r5, [r2, #10]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r10, r6\n"
        "muls r5, r4, r5\n"
        "add lr, r5\n"
        "ldrb r5, [r2, #14]\n"
        "sxtb r5, r5\n"
        "muls r3, r5, r3\n"
        "adds r7, r3\n"
        "muls r5, r4, r5\n"
        "ldr r6, [sp]\n"
        "adds r6, r5\n"
        "str r6, [sp]\n"
        "ldrb r3, [r0, #3]\n"
        "sxtb r3, r3\n"
        "ldrb r4, [r1, #3]\n"
        "sxtb r4, r4\n"
        "ldrb r5, [r2, #3]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r8, r6\n"
        "muls r5, r4, r5\n"
        "add r11, r5\n"
        "ldrb r5, [r2, #7]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r9, r6\n"
        "muls r5, r4, r5\n"
        "add r12, r5\n"
        "ldrb r5, [r2, #11]\n"
        "sxtb r5, r5\n"
        "movs r6, r5\n"
        "muls r6, r3, r6\n"
        "add r10, r6\n"
        "muls r5, r4, r5\n"
        "add lr, r5\n"
        "ldrb r5, [r2, #15]\n"
        "sxtb r5, r5\n"
        "muls r3, r5, r3\n"
        "adds r7, r3\n"
        "muls r5, r4, r5\n"
        "ldr r6, [sp]\n"
        "adds r6, r5\n"
        "str r6, [sp]\n"
        "adds r0, #4\n"
        "adds r1, #4\n"
        "adds r2, #16\n"
        "3:\n"
        "ldr r6, [sp, #4]\n"
        "cmp r0, r6\n"
        "bhs 2f\n"
        "b 1b\n" /* the body is beyond a conditional branch's reach */
        "2:\n"
        "ldr r3, [sp, #8]\n"
        "mov r4, r8\n"
        "str r4, [r3]\n"
        "mov r4, r9\n"
        "str r4, [r3, #4]\n"
        "mov r4, r10\n"
        "str r4, [r3, #8]\n"
        "str r7, [r3, #12]\n"
        "mov r4, r11\n"
        "str r4, [r3, #16]\n"
        "mov r4, r12\n"
        "str r4, [r3, #20]\n"
        "mov r4, lr\n"
        "str r4, [r3, #24]\n"
        "ldr r4, [sp]\n"
        "str r4, [r3, #28]\n"
        "mov r0, r2\n"
        "add sp, #12\n"
        "pop {r4, r5, r6, r7}\n"
        "mov r8, r4\n"
        "mov r9, r5\n"
        "mov r10, r6\n"
        "mov r11, r7\n"
        "pop {r4, r5, r6, r7, pc}\n");
}
#endif

/* Channels 0 .. channels-1 of pixels a and b (depth bytes each) from weights w (the layout above); returns the byte after the weights. */
static inline const int8_t *tas_mat_mult_s8_two_pixels(const tas_mat_mult_s8_stage *stage, const int8_t *a,
                                                       const int8_t *b, int32_t depth, int32_t channels,
                                                       const int8_t *w, int8_t *out_a, int8_t *out_b)
{
    const tas_mat_mult_s8_stage local = *stage, *o = &local;
    const int32_t quad_bytes = depth & ~3, tail = depth & 3;
    const int32_t blocked_end = channels & ~(TAS_MAT_MULT_S8_BLOCK - 1); /* bounds up front: see tas_conv2d_rows_s8_dsp.c */
    const int32_t *folded_bias = tas_mat_mult_s8_bias_base(o->folded_bias);
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_S8_BLOCK) {
        const int32_t *bias = folded_bias + c;
        tas_mat_mult_s8_acc s = {bias[0], bias[1], bias[2], bias[3], bias[0], bias[1], bias[2], bias[3]};
        const int8_t *pa = a + quad_bytes, *pb = b + quad_bytes;
#if defined(TAS_MAT_MULT_S8_M3_ASM) || defined(TAS_MAT_MULT_S8_V6M_ASM)
        tas_mat_mult_s8_quads_io io = {{s.a0, s.a1, s.a2, s.a3, s.b0, s.b1, s.b2, s.b3}, pa};
#ifdef TAS_MAT_MULT_S8_M3_ASM
        w = tas_mat_mult_s8_quads_m3(a, b, w, &io);
#else
        w = tas_mat_mult_s8_quads_v6m(a, b, w, &io);
#endif
        s = (tas_mat_mult_s8_acc){io.sums[0], io.sums[1], io.sums[2], io.sums[3],
                                  io.sums[4], io.sums[5], io.sums[6], io.sums[7]};
#else
        for (const int8_t *qa = a, *qb = b; qa < pa; qa += 4, qb += 4, w += 16) {
            s = tas_mat_mult_s8_tap(s, qa[0], qb[0], w, 4);
            s = tas_mat_mult_s8_tap(s, qa[1], qb[1], w + 1, 4);
            s = tas_mat_mult_s8_tap(s, qa[2], qb[2], w + 2, 4);
            s = tas_mat_mult_s8_tap(s, qa[3], qb[3], w + 3, 4);
        }
#endif
        for (int32_t t = 0; t < tail; ++t) {
            s = tas_mat_mult_s8_tap(s, pa[t], pb[t], w + t, tail);
        }
        w += 4 * tail;
        tas_mat_mult_s8_store(o, c, s.a0, s.b0, out_a, out_b);
        tas_mat_mult_s8_store(o, c + 1, s.a1, s.b1, out_a, out_b);
        tas_mat_mult_s8_store(o, c + 2, s.a2, s.b2, out_a, out_b);
        tas_mat_mult_s8_store(o, c + 3, s.a3, s.b3, out_a, out_b);
    }
    for (int32_t c = blocked_end; c < channels; ++c) {
        int32_t acc_a = o->folded_bias[c], acc_b = acc_a;
        for (int32_t k = 0; k < depth; ++k) {
            const int32_t wt = w[k];
            acc_a += a[k] * wt;
            acc_b += b[k] * wt;
        }
        w += (depth + 3) & ~3;
        tas_mat_mult_s8_store(o, c, acc_a, acc_b, out_a, out_b);
    }
    return w;
}

#endif /* TAS_MAT_MULT_S8_H */
