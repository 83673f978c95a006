/* WS_CONV by the integral image (WSNet, DESIGN §4) on cores with the DSP extension: the arithmetic
 * of tas_ws_conv_integral_s8 (read its comment first), with the products P[u, v] = ⟨F'[u, :], Φ[v, :]⟩
 * two channels per SMLAD.
 * - Φ over 4,096 words widened, M* a multiple of 4 and at least 8: Φ is read as int8 words and widened by
 *   SXTB16 (no copy); with M* a multiple of 8 the flash holds it in slabs of 8 channels (tas_ws_slabs).
 * - Otherwise Φ is widened once per call into int16 pairs in scratch (flash keeps int8 Φ): pairs[v·P + k] =
 *   (Φ[v, 2k], Φ[v, 2k + 1]), P = (M* + 1) / 2, the missing channel of an odd M* is 0; in slabs of 8 channels
 *   when every row pairs, of 16 channels for one-row passes (tas_ws_single16).
 * - Two input rows a pass (tas_ws_pair_rows, asm) where the first row is read by no output or ring entry
 *   (a strided layer's even rows): each word of Φ feeds both rows' SMLADs, only the second row is stored.
 * - Outputs: the per-tensor requantization with the output offset folded into its rounding term
 *   (tas_ws_output_row_fast), about 10.5 instructions an output.
 * - F' of each input row is packed the same way. |F'[j]| <= C·255 fits int16 for C <= 128 (the
 *   kernel record's condition).
 * - SMLAD adds the previous diagonal I[u − 1, v − 1] as its accumulator: one SMLAD per column when
 *   M* <= 2 (the common WSNet case C4 on 8 channels), so a column costs about 4 instructions.
 * - A strided layer whose kernel size and sampling stride are multiples of the conv stride S runs on
 *   blocks of S time steps (tas_ws_conv_fold): F' of the S rows side by side (S·M* channels) and Φ read
 *   as [L* / S, S·M*] (the same bytes), kernel L / S, sampling stride s / S, conv stride 1. The sums
 *   are the same products regrouped, and every I row now serves an output: S times fewer rows, each
 *   S times wider but with S times fewer columns.
 * - The ring keeps only the rows an output subtracts (r + 1 a multiple of the stride).
 * I is kept in int32 and wraps modulo 2^32 like the portable kernel's uint32 (SMLAD wraps).
 * multiplier, shift: [filters], or one of each when quant_step is 0 (per-tensor requantization).
 * scratch: tas_ws_conv_dsp_scratch_words(p) int32 words. Parameters: tas_ws_conv_common.h. */
#include "tas_kernels.h"
#include "tas_dsp.h"
#include "tas_requantize.h"
#include "tas_ws_conv_common.h"

static inline int32_t tas_ws_pack16(int32_t low, int32_t high)
{
    return (int32_t)(((uint32_t)high << 16) | ((uint32_t)low & 0xffffu));
}

static void tas_ws_widen_condensed(const int8_t *condensed, int32_t length, int32_t channels, int32_t *pairs)
{
    const int32_t count = (channels + 1) / 2;
    for (int32_t v = 0; v < length; ++v) {
        const int8_t *row = condensed + v * channels;
        for (int32_t k = 0; k < count; ++k) {
            const int32_t j = 2 * k;
            pairs[v * count + k] = tas_ws_pack16(row[j], j + 1 < channels ? row[j + 1] : 0);
        }
    }
}

/* F'[j] of a block row of `fold` input rows (F' of each row side by side): j = i·M* + j' sums the C repeats
 * x[i, j' + c·M*] of row i. */
static inline int32_t tas_ws_presum_one(const int8_t *row, int32_t j, int32_t condensed_channels, int32_t input_channels)
{
    const int8_t *x = row + (j / condensed_channels) * input_channels + j % condensed_channels;
    int32_t sum = 0;
    for (int32_t m = 0; m < input_channels; m += condensed_channels) {
        sum += x[m];
    }
    return sum;
}

/* F' of one block row as int16 pairs, each element plus C·input_offset (offset_sum). Pair k holds
 * channels (2k, 2k + 1), or with `in_place` (Φ read as int8 words, tas_ws_in_place) channels (4g + i, 4g + i + 2)
 * for k = 2g + i: the lanes SXTB16 makes of a word of Φ and of it rotated by 8. */
static void tas_ws_presum_pairs(const tas_ws_conv_params *p, const int8_t *row, int32_t channels, int32_t offset_sum,
                                int32_t in_place, int32_t *pairs)
{
    const int32_t count = (channels + 1) / 2, condensed_channels = p->condensed_channels, input_channels = p->input_channels;
    if (in_place && condensed_channels % 4 == 0) { /* a word of x is 4 channels of one row: SXTAB16 sums its lanes */
        const int32_t offsets = tas_ws_pack16(offset_sum, offset_sum);
        for (int32_t j = 0; j < channels; j += 4) {
            const int8_t *x = row + (j / condensed_channels) * input_channels + j % condensed_channels;
            int32_t even = offsets, odd = offsets; /* int16 lanes, exact mod 2^16: |F'| < 2^15 */
            for (int32_t m = 0; m < input_channels; m += condensed_channels) {
                const int32_t word = tas_read_word(x + m);
                even = tas_sxtab16(even, word);
                odd = tas_sxtab16_ror8(odd, word);
            }
            *pairs++ = even;
            *pairs++ = odd;
        }
        return;
    }
    if (condensed_channels == input_channels) { /* C = 1: F'[j] is the byte j of the block row */
        for (int32_t k = 0; k < count; ++k) {
            const int32_t j = in_place ? 4 * (k / 2) + (k % 2) : 2 * k, j_high = in_place ? j + 2 : j + 1;
            pairs[k] = tas_ws_pack16(offset_sum + row[j], j_high < channels ? offset_sum + row[j_high] : 0);
        }
        return;
    }
    for (int32_t k = 0; k < count; ++k) {
        const int32_t j = in_place ? 4 * (k / 2) + (k % 2) : 2 * k, j_high = in_place ? j + 2 : j + 1;
        const int32_t low = offset_sum + tas_ws_presum_one(row, j, condensed_channels, input_channels);
        const int32_t high = j_high < channels ? offset_sum + tas_ws_presum_one(row, j_high, condensed_channels, input_channels) : 0;
        pairs[k] = tas_ws_pack16(low, high);
    }
}

/* SXTB16 of x rotated right by 8 (bytes 1 and 3), one instruction: GCC 12 emits a separate ROR here. */
static inline int32_t tas_ws_sxtb16_ror8(int32_t x)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t result;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(x));
    return result;
#else
    return tas_sxtb16(tas_ror8(x));
#endif
}

/* ⟨F', Φ[v]⟩ on one word of Φ (4 channels): SXTB16 makes the lanes tas_ws_presum_pairs packed F' in. */
static inline int32_t tas_ws_word_mac(int32_t word, int32_t f_even, int32_t f_odd, int32_t acc)
{
    return tas_smlad(tas_ws_sxtb16_ror8(word), f_odd, tas_smlad(tas_sxtb16(word), f_even, acc));
}

/* One pass of the in-place diagonal sum over a chunk of 4·groups channels of Φ (read as int8 words, rows
 * `row_bytes` apart), F' of the chunk (2·groups pairs) in registers. The I row is updated in place, from the
 * last column down: with `first`, rows[v + 1] = P(v) + rows[v] (I[u, v] = P[u, v] + I[u − 1, v − 1], the
 * old rows[v] not yet overwritten), else rows[v + 1] += P(v) (the next chunks' products). */
static inline void tas_ws_diagonal_chunk(const int32_t *__restrict f, const int8_t *__restrict phi, int32_t row_bytes,
                                         int32_t length, int32_t *__restrict rows, int32_t groups, int32_t first)
{
    int32_t f_pairs[8];
#pragma GCC unroll 8
    for (int32_t k = 0; k < 2 * groups; ++k) {
        f_pairs[k] = f[k];
    }
    int32_t *column = rows + length;                  /* rows[v + 1] */
    const int8_t *a = phi + (length - 1) * row_bytes; /* Φ[v] */
    const int8_t *const stop = phi - row_bytes;
    while (a != stop) {
        int32_t acc = first ? column[-1] : column[0];
#pragma GCC unroll 4
        for (int32_t g = 0; g < groups; ++g) {
            acc = tas_ws_word_mac(tas_read_word(a + 4 * g), f_pairs[2 * g], f_pairs[2 * g + 1], acc);
        }
        *column-- = acc;
        a -= row_bytes;
    }
}

/* Each chunk size and pass kind as its own loop (constant groups and first: F' stays in registers). */
__attribute__((noinline)) static void tas_ws_chunk16_first(const int32_t *f, const int8_t *phi, int32_t row_bytes, int32_t length, int32_t *rows)
{
    tas_ws_diagonal_chunk(f, phi, row_bytes, length, rows, 4, 1);
}
__attribute__((noinline)) static void tas_ws_chunk16_add(const int32_t *f, const int8_t *phi, int32_t row_bytes, int32_t length, int32_t *rows)
{
    tas_ws_diagonal_chunk(f, phi, row_bytes, length, rows, 4, 0);
}
__attribute__((noinline)) static void tas_ws_chunk8_first(const int32_t *f, const int8_t *phi, int32_t row_bytes, int32_t length, int32_t *rows)
{
    tas_ws_diagonal_chunk(f, phi, row_bytes, length, rows, 2, 1);
}
__attribute__((noinline)) static void tas_ws_chunk8_add(const int32_t *f, const int8_t *phi, int32_t row_bytes, int32_t length, int32_t *rows)
{
    tas_ws_diagonal_chunk(f, phi, row_bytes, length, rows, 2, 0);
}
__attribute__((noinline)) static void tas_ws_chunk4_add(const int32_t *f, const int8_t *phi, int32_t row_bytes, int32_t length, int32_t *rows)
{
    tas_ws_diagonal_chunk(f, phi, row_bytes, length, rows, 1, 0);
}

/* Φ read in place as int8 words (M* a multiple of 4, at least 8): the I row `rows` (rows[v + 1] = I[u − 1, v]
 * on entry, I[u, v] on return) in passes over chunks of 16 channels, then 8, then 4; the first pass adds the
 * diagonal. Each pass costs a load and a store per column, so wide chunks keep that small. */
static void tas_ws_diagonal_row_in_place(const int32_t *f, const int8_t *condensed, int32_t channels, int32_t length,
                                         int32_t *rows)
{
    int32_t done = 0;
    while (done < channels) {
        const int32_t left = channels - done, first = done == 0;
        const int32_t *f_chunk = f + done / 2;
        if (left >= 16) {
            (first ? tas_ws_chunk16_first : tas_ws_chunk16_add)(f_chunk, condensed + done, channels, length, rows);
            done += 16;
        } else if (left >= 8) {
            (first ? tas_ws_chunk8_first : tas_ws_chunk8_add)(f_chunk, condensed + done, channels, length, rows);
            done += 8;
        } else {
            tas_ws_chunk4_add(f_chunk, condensed + done, channels, length, rows); /* never first: channels >= 8 */
            done += 4;
        }
    }
}

/* ⟨F', Φ[v]⟩ + acc over `count` pairs of a widened row of Φ. */
static inline int32_t tas_ws_widened_column(const int32_t *a, const int32_t *f_pairs, int32_t count, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    if (count == 4) { /* two LDRDs: GCC 12 spills a word of Φ here when left to itself */
        int32_t w0, w1, w2, w3;
        __asm__("ldrd %0, %1, [%4]\n\tldrd %2, %3, [%4, #8]" : "=&r"(w0), "=&r"(w1), "=&r"(w2), "=&r"(w3) : "r"(a) : "memory");
        return tas_smlad(w3, f_pairs[3], tas_smlad(w2, f_pairs[2], tas_smlad(w1, f_pairs[1], tas_smlad(w0, f_pairs[0], acc))));
    }
#endif
#pragma GCC unroll 4
    for (int32_t k = 0; k < count; ++k) {
        acc = tas_smlad(a[k], f_pairs[k], acc);
    }
    return acc;
}

/* tas_ws_diagonal_chunk on Φ widened into int16 pairs (`stride` words a row): `count` pairs per column, the
 * same in-place update of the I row from the last column down (two columns per pass measured no fewer
 * instructions: GCC spills). */
static inline void tas_ws_widened_chunk(const int32_t *__restrict f, const int32_t *__restrict phi, int32_t stride,
                                        int32_t length, int32_t *__restrict rows, int32_t count, int32_t first)
{
    int32_t f_pairs[4];
#pragma GCC unroll 4
    for (int32_t k = 0; k < count; ++k) {
        f_pairs[k] = f[k];
    }
    int32_t *column = rows + length;                 /* rows[v + 1] */
    const int32_t *a = phi + (length - 1) * stride;  /* Φ[v] */
    const int32_t *const stop = phi - stride;
    while (a != stop) {
        *column = tas_ws_widened_column(a, f_pairs, count, first ? column[-1] : column[0]);
        --column;
        a -= stride;
    }
}

__attribute__((noinline)) static void tas_ws_widened4_first(const int32_t *f, const int32_t *phi, int32_t stride, int32_t length, int32_t *rows)
{
    tas_ws_widened_chunk(f, phi, stride, length, rows, 4, 1);
}
__attribute__((noinline)) static void tas_ws_widened4_add(const int32_t *f, const int32_t *phi, int32_t stride, int32_t length, int32_t *rows)
{
    tas_ws_widened_chunk(f, phi, stride, length, rows, 4, 0);
}
__attribute__((noinline)) static void tas_ws_widened2_add(const int32_t *f, const int32_t *phi, int32_t stride, int32_t length, int32_t *rows)
{
    tas_ws_widened_chunk(f, phi, stride, length, rows, 2, 0);
}
__attribute__((noinline)) static void tas_ws_widened1_add(const int32_t *f, const int32_t *phi, int32_t stride, int32_t length, int32_t *rows)
{
    tas_ws_widened_chunk(f, phi, stride, length, rows, 1, 0);
}

/* Φ widened, at least 4 pairs: the I row `rows` updated in place like
 * tas_ws_diagonal_row_in_place, in passes of 4 pairs, then 2, then 1; the first pass (4 pairs) adds the diagonal. */
static void tas_ws_diagonal_row_widened(const int32_t *f, const int32_t *phi, int32_t pairs, int32_t length, int32_t *rows)
{
    tas_ws_widened4_first(f, phi, pairs, length, rows);
    int32_t done = 4;
    while (done < pairs) {
        const int32_t left = pairs - done;
        if (left >= 4) {
            tas_ws_widened4_add(f + done, phi + done, pairs, length, rows);
            done += 4;
        } else if (left >= 2) {
            tas_ws_widened2_add(f + done, phi + done, pairs, length, rows);
            done += 2;
        } else {
            tas_ws_widened1_add(f + done, phi + done, pairs, length, rows);
            done += 1;
        }
    }
}

/* current[v + 1] = ⟨F', Φ[v]⟩ + previous[v] for every v, Φ widened. M* <= 2 and <= 4 keep F' in registers;
 * wider rows take two columns per pass so each F' pair is loaded once for two SMLADs. */
__attribute__((noinline)) static void tas_ws_diagonal_row_dsp(const int32_t *__restrict f, const int32_t *__restrict phi,
                                                              int32_t pairs, int32_t length,
                                                              const int32_t *__restrict previous,
                                                              int32_t *__restrict current)
{
    int32_t v = 0;
    if (pairs == 1) {
        const int32_t f0 = f[0];
        for (; v + 4 <= length; v += 4) {
            current[v + 1] = tas_smlad(phi[v], f0, previous[v]);
            current[v + 2] = tas_smlad(phi[v + 1], f0, previous[v + 1]);
            current[v + 3] = tas_smlad(phi[v + 2], f0, previous[v + 2]);
            current[v + 4] = tas_smlad(phi[v + 3], f0, previous[v + 3]);
        }
        for (; v < length; ++v) {
            current[v + 1] = tas_smlad(phi[v], f0, previous[v]);
        }
        return;
    }
    if (pairs == 2) {
        const int32_t f0 = f[0], f1 = f[1];
        for (; v + 2 <= length; v += 2) {
            const int32_t *a = phi + 2 * v;
            current[v + 1] = tas_smlad(a[1], f1, tas_smlad(a[0], f0, previous[v]));
            current[v + 2] = tas_smlad(a[3], f1, tas_smlad(a[2], f0, previous[v + 1]));
        }
        for (; v < length; ++v) {
            current[v + 1] = tas_smlad(phi[2 * v + 1], f1, tas_smlad(phi[2 * v], f0, previous[v]));
        }
        return;
    }
    for (; v + 2 <= length; v += 2) {
        const int32_t *a = phi + v * pairs, *b = a + pairs;
        int32_t acc0 = previous[v], acc1 = previous[v + 1];
        for (int32_t k = 0; k < pairs; ++k) {
            const int32_t fk = f[k];
            acc0 = tas_smlad(a[k], fk, acc0);
            acc1 = tas_smlad(b[k], fk, acc1);
        }
        current[v + 1] = acc0;
        current[v + 2] = acc1;
    }
    for (; v < length; ++v) {
        const int32_t *a = phi + v * pairs;
        int32_t acc = previous[v];
        for (int32_t k = 0; k < pairs; ++k) {
            acc = tas_smlad(a[k], f[k], acc);
        }
        current[v + 1] = acc;
    }
}

/* Two input rows u, u + 1 per pass (the rows before an output or ring row that no output reads: a strided
 * layer's even rows). Each word of Φ loaded (and widened) once feeds both rows' SMLADs, and only row u + 1 is
 * stored: I[u + 1, v] = P[u + 1, v] + I[u, v − 1], where I[u, v − 1] is the register the previous column made.
 * A pass covers 8 channels (one slab: F' of the rows as 4 pairs each, in tas_ws_presum_pairs' in-place lanes)
 * over every column, ascending, on one I row in place through one pointer `io` that reads a word ahead of
 * the one it writes:
 * - first pass: io = A − 1 (A the I row of u − 1, A[v + 1] = I[u − 1, v]), carry 0; column v reads A[v] and
 *   writes I[u + 1, v] where A[v − 1] was, so the row moves down by two words (B = A − 2; B[0] = 0 is set by
 *   the caller);
 * - later slabs: io = B + 1, carry B[1]; column v reads B[v + 2] (plus P[u, v] of the slab, the carry of the
 *   next column) and writes B[v + 1] + P[u + 1, v] + P[u, v − 1].
 * `phi` steps `row_bytes` a column: int8 Φ in slabs (tas_ws_slabs; tas_ws_pair_int8: 8 bytes a column, widened
 * by SXTB16) or Φ widened slab by slab into scratch (tas_ws_pair_widened: 4 pairs a column, 16 bytes). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
#define TAS_WS_ARG __attribute__((unused))
/* r0 phi, r1 io, r2/r3 the widened halves of a word of Φ, r4-r7 F' of row u, r8-r11 F' of row u + 1, r12 and
 * lr the carry and the value of the column (their roles swap every column: the loop body is four columns, entered
 * at column 4 − columns mod 4). The end of Φ replaces the `columns` argument on the stack: no register is left
 * for it. */
#define TAS_WS_PAIR_PROLOGUE                                                                              \
    "push {r4-r11, lr}\n\t"                                                                               \
    "mov ip, r3\n\t"                                                                                      \
    "ldr r3, [sp, #36]\n\t"                                                                               \
    "ldm r2, {r4-r7}\n\t"                                                                                 \
    "ldm r3, {r8-r11}\n\t"                                                                                \
    "ldr r2, [sp, #40]\n\t"                                                                               \
    "ldr r3, [sp, #44]\n\t"                                                                               \
    "mla lr, r3, r2, r0\n\t"                                                                              \
    "str lr, [sp, #44]\n\t"                                                                               \
    "ands r3, r3, #3\n\t"                                                                                 \
    "beq 1f\n\t"                                                                                          \
    "cmp r3, #2\n\t"                                                                                      \
    "beq 3f\n\t"                                                                                          \
    "mov lr, ip\n\t"                                                                                      \
    "bhi 2f\n\t"                                                                                          \
    "b 4f\n\t"
#define TAS_WS_PAIR_EPILOGUE                                                                              \
    "ldr r2, [sp, #44]\n\t"                                                                               \
    "cmp r0, r2\n\t"                                                                                      \
    "bne 1b\n\t"                                                                                          \
    "pop {r4-r11, pc}\n\t"
/* One column on int8 Φ: OUT holds the carry in, NEXT gets the next column's. */
#define TAS_WS_PAIR_INT8_COLUMN(OUT, NEXT)                                                                \
    "ldr " NEXT ", [r1, #4]\n\t"                                                                          \
    "ldr r3, [r0], #4\n\t"                                                                                \
    "sxtb16 r2, r3\n\t"                                                                                   \
    "sxtb16 r3, r3, ror #8\n\t"                                                                           \
    "smlad " OUT ", r2, r8, " OUT "\n\t"                                                                  \
    "smlad " OUT ", r3, r9, " OUT "\n\t"                                                                  \
    "smlad " NEXT ", r2, r4, " NEXT "\n\t"                                                                \
    "smlad " NEXT ", r3, r5, " NEXT "\n\t"                                                                \
    "ldr r3, [r0], #4\n\t"                                                                                \
    "sxtb16 r2, r3\n\t"                                                                                   \
    "sxtb16 r3, r3, ror #8\n\t"                                                                           \
    "smlad " OUT ", r2, r10, " OUT "\n\t"                                                                 \
    "smlad " OUT ", r3, r11, " OUT "\n\t"                                                                 \
    "smlad " NEXT ", r2, r6, " NEXT "\n\t"                                                                \
    "smlad " NEXT ", r3, r7, " NEXT "\n\t"                                                                \
    "str " OUT ", [r1], #4\n\t"
/* One column on widened Φ (4 pairs, 16 bytes). */
#define TAS_WS_PAIR_WIDENED_COLUMN(OUT, NEXT)                                                             \
    "ldr " NEXT ", [r1, #4]\n\t"                                                                          \
    "ldrd r2, r3, [r0], #8\n\t"                                                                           \
    "smlad " OUT ", r2, r8, " OUT "\n\t"                                                                  \
    "smlad " OUT ", r3, r9, " OUT "\n\t"                                                                  \
    "smlad " NEXT ", r2, r4, " NEXT "\n\t"                                                                \
    "smlad " NEXT ", r3, r5, " NEXT "\n\t"                                                                \
    "ldrd r2, r3, [r0], #8\n\t"                                                                           \
    "smlad " OUT ", r2, r10, " OUT "\n\t"                                                                 \
    "smlad " OUT ", r3, r11, " OUT "\n\t"                                                                 \
    "smlad " NEXT ", r2, r6, " NEXT "\n\t"                                                                \
    "smlad " NEXT ", r3, r7, " NEXT "\n\t"                                                                \
    "str " OUT ", [r1], #4\n\t"

__attribute__((naked, noinline)) static void tas_ws_pair_int8(TAS_WS_ARG const void *phi, TAS_WS_ARG int32_t *io,
                                                              TAS_WS_ARG const int32_t *f, TAS_WS_ARG int32_t carry,
                                                              TAS_WS_ARG const int32_t *g, TAS_WS_ARG int32_t row_bytes,
                                                              TAS_WS_ARG int32_t columns)
{
    __asm__ volatile(TAS_WS_PAIR_PROLOGUE "1:\n\t" TAS_WS_PAIR_INT8_COLUMN("ip", "lr") "2:\n\t"
                     TAS_WS_PAIR_INT8_COLUMN("lr", "ip") "3:\n\t" TAS_WS_PAIR_INT8_COLUMN("ip", "lr") "4:\n\t"
                     TAS_WS_PAIR_INT8_COLUMN("lr", "ip") TAS_WS_PAIR_EPILOGUE);
}

__attribute__((naked, noinline)) static void tas_ws_pair_widened(TAS_WS_ARG const void *phi, TAS_WS_ARG int32_t *io,
                                                                 TAS_WS_ARG const int32_t *f, TAS_WS_ARG int32_t carry,
                                                                 TAS_WS_ARG const int32_t *g, TAS_WS_ARG int32_t row_bytes,
                                                                 TAS_WS_ARG int32_t columns)
{
    __asm__ volatile(TAS_WS_PAIR_PROLOGUE "1:\n\t" TAS_WS_PAIR_WIDENED_COLUMN("ip", "lr") "2:\n\t"
                     TAS_WS_PAIR_WIDENED_COLUMN("lr", "ip") "3:\n\t" TAS_WS_PAIR_WIDENED_COLUMN("ip", "lr") "4:\n\t"
                     TAS_WS_PAIR_WIDENED_COLUMN("lr", "ip") TAS_WS_PAIR_EPILOGUE);
}
/* One row, 16 channels (8 pairs of widened Φ, 32 bytes a column) a pass, from `read` to `write` (both step a word a
 * column): r0 Φ, r1 read, lr write, r4-r11 F', ip the sum, r2/r3 a pair of words of Φ. Four columns an
 * iteration, entered at column 4 − columns mod 4. */
#define TAS_WS_SINGLE_COLUMN                                                                              \
    "ldr ip, [r1], #4\n\t"                                                                                \
    "ldrd r2, r3, [r0], #8\n\t"                                                                           \
    "smlad ip, r2, r4, ip\n\t"                                                                            \
    "smlad ip, r3, r5, ip\n\t"                                                                            \
    "ldrd r2, r3, [r0], #8\n\t"                                                                           \
    "smlad ip, r2, r6, ip\n\t"                                                                            \
    "smlad ip, r3, r7, ip\n\t"                                                                            \
    "ldrd r2, r3, [r0], #8\n\t"                                                                           \
    "smlad ip, r2, r8, ip\n\t"                                                                            \
    "smlad ip, r3, r9, ip\n\t"                                                                            \
    "ldrd r2, r3, [r0], #8\n\t"                                                                           \
    "smlad ip, r2, r10, ip\n\t"                                                                           \
    "smlad ip, r3, r11, ip\n\t"                                                                           \
    "str ip, [lr], #4\n\t"

__attribute__((naked, noinline)) static void tas_ws_single16(TAS_WS_ARG const int32_t *phi, TAS_WS_ARG const int32_t *read,
                                                             TAS_WS_ARG const int32_t *f, TAS_WS_ARG int32_t *write,
                                                             TAS_WS_ARG int32_t columns)
{
    __asm__ volatile("push {r4-r11, lr}\n\t"
                     "ldm r2, {r4-r11}\n\t"
                     "mov lr, r3\n\t"
                     "ldr r3, [sp, #36]\n\t"
                     "add r2, r0, r3, lsl #5\n\t"
                     "str r2, [sp, #36]\n\t"
                     "ands r3, r3, #3\n\t"
                     "beq 1f\n\t"
                     "cmp r3, #2\n\t"
                     "beq 3f\n\t"
                     "bhi 2f\n\t"
                     "b 4f\n\t"
                     "1:\n\t" TAS_WS_SINGLE_COLUMN "2:\n\t" TAS_WS_SINGLE_COLUMN "3:\n\t" TAS_WS_SINGLE_COLUMN
                     "4:\n\t" TAS_WS_SINGLE_COLUMN
                     "ldr r2, [sp, #36]\n\t"
                     "cmp r0, r2\n\t"
                     "bne 1b\n\t"
                     "pop {r4-r11, pc}\n\t");
}
#else
/* The plain-C twin of both (Φ read as int16 pairs when widened, else as int8 words). */
static void tas_ws_pair_c(const void *phi, int32_t *io, const int32_t *f, int32_t carry, const int32_t *g,
                          int32_t row_bytes, int32_t columns, int32_t widened)
{
    const uint8_t *column = (const uint8_t *)phi;
    for (int32_t v = 0; v < columns; ++v, column += row_bytes) {
        int32_t next = io[1], out = carry;
        for (int32_t k = 0; k < 4; ++k) {
            int32_t pair;
            if (widened) {
                pair = tas_read_word(column + 4 * k);
            } else {
                const int32_t word = tas_read_word(column + 4 * (k / 2));
                pair = k % 2 ? tas_sxtb16(tas_ror8(word)) : tas_sxtb16(word);
            }
            out = tas_smlad(pair, g[k], out);
            next = tas_smlad(pair, f[k], next);
        }
        *io++ = out;
        carry = next;
    }
}
static void tas_ws_pair_int8(const void *phi, int32_t *io, const int32_t *f, int32_t carry, const int32_t *g,
                             int32_t row_bytes, int32_t columns)
{
    tas_ws_pair_c(phi, io, f, carry, g, row_bytes, columns, 0);
}
static void tas_ws_pair_widened(const void *phi, int32_t *io, const int32_t *f, int32_t carry, const int32_t *g,
                                int32_t row_bytes, int32_t columns)
{
    tas_ws_pair_c(phi, io, f, carry, g, row_bytes, columns, 1);
}
static void tas_ws_single16(const int32_t *phi, const int32_t *read, const int32_t *f, int32_t *write, int32_t columns)
{
    for (int32_t v = 0; v < columns; ++v, phi += 8) {
        int32_t acc = *read++;
        for (int32_t k = 0; k < 8; ++k) {
            acc = tas_smlad(phi[k], f[k], acc);
        }
        *write++ = acc;
    }
}
#endif

/* Φ widened slab by slab for tas_ws_pair_widened: slab g (channels 8g…8g + 7) holds, for every row v of Φ,
 * the pairs SXTB16 makes of its two words (the in-place lanes of tas_ws_presum_pairs). */
static void tas_ws_widen_slabs(const int8_t *condensed, int32_t length, int32_t channels, int32_t *slabs)
{
    for (int32_t g = 0; g < channels / 8; ++g) {
        for (int32_t v = 0; v < length; ++v) {
            const int8_t *bytes = condensed + v * channels + 8 * g;
            const int32_t low = tas_read_word(bytes), high = tas_read_word(bytes + 4);
            slabs[0] = tas_sxtb16(low);
            slabs[1] = tas_sxtb16(tas_ror8(low));
            slabs[2] = tas_sxtb16(high);
            slabs[3] = tas_sxtb16(tas_ror8(high));
            slabs += 4;
        }
    }
}

/* Φ widened into slabs of 16 channels for tas_ws_single16: slab c holds, for every row v of Φ, the pairs
 * (Φ[v, 16c + 2k], Φ[v, 16c + 2k + 1]), k = 0…7. */
static void tas_ws_widen_slabs16(const int8_t *condensed, int32_t length, int32_t channels, int32_t *slabs)
{
    for (int32_t c = 0; c < channels / 16; ++c) {
        for (int32_t v = 0; v < length; ++v) {
            const int8_t *bytes = condensed + v * channels + 16 * c;
            for (int32_t k = 0; k < 8; ++k) {
                *slabs++ = tas_ws_pack16(bytes[2 * k], bytes[2 * k + 1]);
            }
        }
    }
}

/* current[v + 1] = ⟨F', Φ[v]⟩ + previous[v] on Φ in 16-channel slabs: the first slab from `previous`, the others
 * added to `current` in place. */
static void tas_ws_diagonal_row_slabs16(const int32_t *f, const int32_t *slabs, int32_t channels, int32_t length,
                                        const int32_t *previous, int32_t *current)
{
    for (int32_t c = 0; c < channels / 16; ++c) {
        tas_ws_single16(slabs + 8 * c * length, c == 0 ? previous : current + 1, f + 8 * c, current + 1, length);
    }
}

/* Rows u and u + 1 (F' f_u and f_next, in-place lanes) on the I row `row` (row[v + 1] = I[u − 1, v]): returns
 * the row of u + 1, two words lower (tas_ws_pair_int8's comment). */
static int32_t *tas_ws_pair_rows(const int32_t *f_u, const int32_t *f_next, const int8_t *condensed, const int32_t *slabs,
                                 int32_t channels, int32_t length, int32_t *row)
{
    int32_t *const next_row = row - 2;
    for (int32_t g = 0; g < channels / 8; ++g) {
        int32_t *const io = g == 0 ? row - 1 : next_row + 1;
        const int32_t carry = g == 0 ? 0 : next_row[1];
        if (slabs) {
            tas_ws_pair_widened(slabs + 4 * g * length, io, f_u + 4 * g, carry, f_next + 4 * g, 16, length);
        } else {
            tas_ws_pair_int8(condensed + 8 * g * length, io, f_u + 4 * g, carry, f_next + 4 * g, 8, length);
        }
    }
    next_row[0] = 0; /* I[u + 1, −1] */
    return next_row;
}

/* value clamped to int8, one SSAT on the core. */
static inline int32_t tas_ws_saturate8(int32_t value)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t result;
    __asm__("ssat %0, #8, %1" : "=r"(result) : "r"(value));
    return result;
#else
    return tas_clamp(value, -128, 127);
#endif
}

/* Per-tensor requantization of one output row (see tas_ws_output_row) where tas_ws_output_row_fast does not
 * apply (a left shift, a right shift over 20, or a clamp below 127), its terms worked out once. */
static void tas_ws_output_row_per_tensor(const int32_t *last, const int32_t *ring_row, int32_t filters,
                                         int32_t sampling_stride, tas_requant_channel channel, int32_t output_offset,
                                         int32_t act_min, int32_t act_max, int8_t *out)
{
    const int8_t *const end = out + filters;
    while (out < end) {
        const int32_t acc = (int32_t)((uint32_t)*last - (uint32_t)*ring_row++);
        last += sampling_stride;
        *out++ = (int8_t)tas_clamp(tas_requant_channel_apply(acc, &channel) + output_offset, act_min, act_max);
    }
}

/* Two words from *address, which moves past them: one LDRD on the core. */
static inline void tas_ws_load_two(const int32_t **address, int32_t *first, int32_t *second)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    __asm__("ldrd %0, %1, [%2], #8" : "=r"(*first), "=r"(*second), "+r"(*address) : : "memory");
#else
    *first = (*address)[0];
    *second = (*address)[1];
    *address += 2;
#endif
}

/* The rare accumulator whose double overflows int32 (tas_requant_channel_apply's slow path), plus the offset. */
__attribute__((noinline)) static int32_t tas_ws_requant_wide(int32_t acc, int32_t multiplier, int32_t right, int32_t offset)
{
    return tas_requantize_positive_split(acc, multiplier, 0, right) + offset;
}

/* tas_requant_channel_apply for a right shift of 1…20 plus the output offset, the offset folded into the
 * rounding term: offset_round = 2^(right − 1) + offset·2^right, so (SMMLAR(2·acc, m, offset_round) + [acc < 0]·−1)
 * >> right is the shifted value plus the offset (an exact multiple of 2^right added before the floor; the sum
 * stays within 2^30 + 2^28). */
static inline int32_t tas_ws_requant_folded(int32_t acc, int32_t multiplier, int32_t offset_round, int32_t right,
                                            int32_t offset)
{
    int32_t doubled;
    if (__builtin_expect(__builtin_add_overflow(acc, acc, &doubled), 0)) {
        return tas_ws_requant_wide(acc, multiplier, right, offset);
    }
    return (tas_smmlar(doubled, multiplier, offset_round) + (acc >> 31)) >> right;
}

/* One output row on tas_ws_requant_folded, two outputs an iteration. relu: act_max = 127 (SSAT and a max);
 * else the int8 range (one SSAT). Inlined with constant `sampling_stride` 1 where it can be (LDRD). */
__attribute__((always_inline)) static inline void tas_ws_output_row_folded(
    const int32_t *last, const int32_t *ring_row, int32_t filters, int32_t sampling_stride, int32_t multiplier,
    int32_t offset_round, int32_t right, int32_t offset, int32_t act_min, int32_t relu, int8_t *out)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    /* Opaque to GCC: a constant multiplier would be reloaded from the literal pool in the loop. */
    __asm__("" : "+r"(multiplier), "+r"(offset_round));
#endif
    for (int32_t count = filters / 2; count > 0; --count) {
        int32_t last0, last1, ring0, ring1;
        if (sampling_stride == 1) {
            tas_ws_load_two(&last, &last0, &last1);
        } else {
            last0 = last[0];
            last1 = last[sampling_stride];
            last += 2 * sampling_stride;
        }
        tas_ws_load_two(&ring_row, &ring0, &ring1);
        const int32_t acc0 = (int32_t)((uint32_t)last0 - (uint32_t)ring0);
        const int32_t acc1 = (int32_t)((uint32_t)last1 - (uint32_t)ring1);
        int32_t value0 = tas_ws_saturate8(tas_ws_requant_folded(acc0, multiplier, offset_round, right, offset));
        int32_t value1 = tas_ws_saturate8(tas_ws_requant_folded(acc1, multiplier, offset_round, right, offset));
        if (relu) {
            value0 = value0 < act_min ? act_min : value0;
            value1 = value1 < act_min ? act_min : value1;
        }
        out[0] = (int8_t)value0;
        out[1] = (int8_t)value1;
        out += 2;
    }
    if (filters % 2) {
        const int32_t acc = (int32_t)((uint32_t)last[0] - (uint32_t)ring_row[0]);
        int32_t value = tas_ws_saturate8(tas_ws_requant_folded(acc, multiplier, offset_round, right, offset));
        *out = (int8_t)(relu && value < act_min ? act_min : value);
    }
}

/* tas_ws_output_row_folded by its constant cases (inlined: a generated model's constant parameters keep one). */
static inline void tas_ws_output_row_fast(const int32_t *last, const int32_t *ring_row, int32_t filters,
                                                             int32_t sampling_stride, tas_requant_channel channel,
                                                             int32_t offset, int32_t act_min, int8_t *out)
{
    const int32_t offset_round = (int32_t)((uint32_t)channel.round + ((uint32_t)offset << channel.right));
    const int32_t relu = act_min != -128;
    if (sampling_stride == 1 && relu) {
        tas_ws_output_row_folded(last, ring_row, filters, 1, channel.multiplier, offset_round, channel.right, offset, act_min, 1, out);
    } else if (sampling_stride == 1) {
        tas_ws_output_row_folded(last, ring_row, filters, 1, channel.multiplier, offset_round, channel.right, offset, act_min, 0, out);
    } else if (relu) {
        tas_ws_output_row_folded(last, ring_row, filters, sampling_stride, channel.multiplier, offset_round, channel.right,
                                 offset, act_min, 1, out);
    } else {
        tas_ws_output_row_folded(last, ring_row, filters, sampling_stride, channel.multiplier, offset_round, channel.right,
                                 offset, act_min, 0, out);
    }
}

/* The finished output row `out` (window rows r − L + 1 … r): G[n] + bias[n] = I[r, n·s + L − 1] − ring_row[n]
 * with ring_row[n] = I[r − L, n·s − 1] − bias[n], requantized. quant_step 0: one multiplier and shift for every
 * filter (WSNet's Φ has one scale, so its multipliers are per tensor), their terms worked out once per row;
 * the usual case (a right shift of 1…20, act_max 127) on tas_ws_output_row_fast. Not inlined: alone, its loops
 * keep every term in registers. */
__attribute__((noinline)) static void tas_ws_output_row(const tas_ws_conv_params *p, const int32_t *last, const int32_t *ring_row,
                              int32_t sampling_stride, const int32_t *multiplier, const int32_t *shift, int32_t quant_step,
                              int8_t *out)
{
    const int32_t filters = p->filters, output_offset = p->output_offset;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    if (quant_step == 0) {
        const tas_requant_channel channel = tas_requant_channel_of(multiplier[0], shift[0]);
        if (channel.left == 0 && channel.right >= 1 && channel.right <= 20 && act_max == 127
            && output_offset >= -128 && output_offset <= 127) {
            tas_ws_output_row_fast(last, ring_row, filters, sampling_stride, channel, output_offset, act_min, out);
        } else {
            tas_ws_output_row_per_tensor(last, ring_row, filters, sampling_stride, channel, output_offset, act_min,
                                         act_max, out);
        }
        return;
    }
    for (int32_t n = 0; n < filters; ++n) {
        const int32_t acc = (int32_t)((uint32_t)last[n * sampling_stride] - (uint32_t)ring_row[n]);
        /* Branch-free channel terms: fewer instructions than tas_requantize_positive's branches. */
        const tas_requant_channel channel = tas_requant_channel_of(multiplier[n], shift[n]);
        out[n] = (int8_t)tas_clamp(tas_requant_channel_apply(acc, &channel) + output_offset, act_min, act_max);
    }
}

/* ring_row[n] = I[r, n·s − 1] − bias[n] from the finished I row `current` (current[n·s] = I[r, n·s − 1]), two
 * entries an iteration (LDRD/STRD when s = 1). */
__attribute__((always_inline)) static inline void tas_ws_ring_row_of(const int32_t *current, int32_t sampling_stride,
                                                                      const int32_t *bias, int32_t with_bias, int32_t filters,
                                                                      int32_t *ring_row)
{
    for (int32_t count = filters / 2; count > 0; --count) {
        int32_t i0, i1, b0 = 0, b1 = 0;
        if (sampling_stride == 1) {
            tas_ws_load_two(&current, &i0, &i1);
        } else {
            i0 = current[0];
            i1 = current[sampling_stride];
            current += 2 * sampling_stride;
        }
        if (with_bias) {
            tas_ws_load_two(&bias, &b0, &b1);
        }
        ring_row[0] = (int32_t)((uint32_t)i0 - (uint32_t)b0);
        ring_row[1] = (int32_t)((uint32_t)i1 - (uint32_t)b1);
        ring_row += 2;
    }
    if (filters % 2) {
        *ring_row = (int32_t)((uint32_t)*current - (uint32_t)(with_bias ? *bias : 0));
    }
}

static inline void tas_ws_ring_row(const int32_t *current, int32_t sampling_stride, const int32_t *bias,
                                                      int32_t filters, int32_t *ring_row)
{
    if (sampling_stride == 1 && bias) {
        tas_ws_ring_row_of(current, 1, bias, 1, filters, ring_row);
    } else if (bias) {
        tas_ws_ring_row_of(current, sampling_stride, bias, 1, filters, ring_row);
    } else {
        tas_ws_ring_row_of(current, sampling_stride, bias, 0, filters, ring_row);
    }
}

/* F' of block row r: fold time steps from element r·fold − pad_before, zero where they are padding. A
 * row that straddles the padding is copied with the zero point (x' = 0) in the padded steps (only when
 * fold > 1: `edge` is empty otherwise, and the test lets GCC drop that copy for an unfolded layer). */
static void tas_ws_block_row(const tas_ws_conv_params *p, const int8_t *input, int32_t r, int32_t fold,
                             int32_t condensed_channels, int32_t offset_sum, int32_t in_place,
                             int8_t *edge, int32_t *row_pairs)
{
    const int32_t first = r * fold - p->pad_before, input_channels = p->input_channels;
    if (first >= 0 && first + fold <= p->input_length) {
        tas_ws_presum_pairs(p, input + first * input_channels, condensed_channels, offset_sum, in_place, row_pairs);
        return;
    }
    if (fold == 1 || first + fold <= 0 || first >= p->input_length) {
        for (int32_t k = 0; k < (condensed_channels + 1) / 2; ++k) {
            row_pairs[k] = 0; /* all padding: x' = 0 */
        }
        return;
    }
    for (int32_t i = 0; i < fold * input_channels; ++i) {
        const int32_t step = first + i / input_channels;
        edge[i] = step >= 0 && step < p->input_length ? input[first * input_channels + i] : (int8_t)(-p->input_offset);
    }
    tas_ws_presum_pairs(p, edge, condensed_channels, offset_sum, in_place, row_pairs);
}

/* Rows are run two at a time (tas_ws_pair_rows) when M* (in block rows) is a multiple of 8, Φ is read in place in
 * slabs (tas_ws_slabs) or every row pairs (the stride even and dividing the kernel size: then Φ is widened in
 * slabs), and row r is read by no output and no ring entry: r + 1 < rows and neither r ≡ L − 1 nor r ≡ −1
 * (mod stride). */
static inline int32_t tas_ws_row_is_read(int32_t r, int32_t kernel_size, int32_t stride)
{
    return (r >= kernel_size - 1 && (r - kernel_size + 1) % stride == 0) || (r + 1) % stride == 0;
}

TAS_KERNEL void tas_ws_conv_integral_s8_dsp(const tas_ws_conv_params *p, const int8_t *input, const int8_t *condensed,
                                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                            int32_t quant_step, int32_t *scratch, int8_t *output)
{
    /* The geometry in block rows of `fold` time steps (tas_ws_conv_fold; 1: the rows themselves). */
    const int32_t fold = tas_ws_conv_fold(p);
    const int32_t length = p->condensed_length / fold, condensed_channels = p->condensed_channels * fold;
    const int32_t kernel_size = p->kernel_size / fold, filters = p->filters;
    const int32_t sampling_stride = p->sampling_stride / fold, stride = p->stride / fold;
    const int32_t pairs = (condensed_channels + 1) / 2;
    const int32_t offset_sum = (p->input_channels / p->condensed_channels) * p->input_offset;
    const int32_t in_place = tas_ws_in_place(condensed_channels, length);
    const int32_t slab_layout = tas_ws_slabs(condensed_channels, length);
    const int32_t all_pair = condensed_channels % 8 == 0 && stride % 2 == 0 && kernel_size % stride == 0;
    const int32_t pairing = slab_layout || all_pair;
    int32_t *row_pairs = scratch;                    /* F' of the current row */
    int32_t *next_pairs = row_pairs + pairs;         /* F' of the next row (two rows a pass) */
    int32_t *phi = next_pairs + pairs;               /* Φ widened (not when in place) */
    int32_t *region = phi + (in_place ? 0 : pairs * length); /* two I rows' room */
    int32_t *previous = region;                      /* previous[v + 1] = I[u − 1, v] */
    int32_t *current = previous + length + 1;
    int32_t *ring = current + length + 1;            /* ring[(u mod L)·N + n] = I[u, n·s − 1] − bias[n] */
    int8_t *edge = (int8_t *)(ring + kernel_size * filters); /* a block row that straddles the padding */
    const int32_t rows = (p->output_length - 1) * stride + kernel_size;
    const int32_t *slabs = all_pair && !in_place ? phi : 0;
    const int32_t single16 = !in_place && !pairing && condensed_channels % 16 == 0; /* one row a pass, 16 channels */

    if (slabs) {
        tas_ws_widen_slabs(condensed, length, condensed_channels, phi);
    } else if (single16) {
        tas_ws_widen_slabs16(condensed, length, condensed_channels, phi);
    } else if (!in_place) {
        tas_ws_widen_condensed(condensed, length, condensed_channels, phi);
    }
    for (int32_t v = 0; v < 2 * (length + 1); ++v) {
        region[v] = 0; /* I[−1, :] */
    }
    if (pairing) {
        previous = current; /* the upper half: a pass moves the row down two words */
    }
    /* The ring row of row −1 (I[−1, :] − bias), in the slot the first output reads; every other slot is written
     * before it is read. */
    int32_t *const first_ring_row = ring + (kernel_size - 1) * filters;
    for (int32_t n = 0; n < filters; ++n) {
        first_ring_row[n] = bias ? (int32_t)(0u - (uint32_t)bias[n]) : 0;
    }
    const int32_t last_ring_row = (p->output_length - 1) * stride; /* rows r < this: r + 1 <= the last output's t */
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t pair = pairing && r + 1 < rows && !tas_ws_row_is_read(r, kernel_size, stride);
        tas_ws_block_row(p, input, r, fold, condensed_channels, offset_sum, in_place || pair, edge, row_pairs);
        if (pair) {
            if (previous - 2 < region) { /* back to the upper half */
                for (int32_t v = length; v >= 0; --v) {
                    region[length + 1 + v] = previous[v];
                }
                previous = region + length + 1;
            }
            ++r;
            tas_ws_block_row(p, input, r, fold, condensed_channels, offset_sum, 1, edge, next_pairs);
            previous = tas_ws_pair_rows(row_pairs, next_pairs, condensed, slabs, condensed_channels, length, previous);
            current = previous;
        } else if (slab_layout) { /* one I row, updated in place, a pass per slab */
            for (int32_t g = 0; g < condensed_channels / 8; ++g) {
                (g == 0 ? tas_ws_chunk8_first : tas_ws_chunk8_add)(row_pairs + 4 * g, condensed + 8 * g * length, 8, length,
                                                                  previous);
            }
            current = previous;
        } else if (in_place) { /* one I row, updated in place */
            tas_ws_diagonal_row_in_place(row_pairs, condensed, condensed_channels, length, previous);
            current = previous;
        } else if (single16) {
            tas_ws_diagonal_row_slabs16(row_pairs, phi, condensed_channels, length, previous, current);
        } else if (pairs >= 4) {
            tas_ws_diagonal_row_widened(row_pairs, phi, pairs, length, previous);
            current = previous;
        } else {
            tas_ws_diagonal_row_dsp(row_pairs, phi, pairs, length, previous, current);
        }
        int32_t *ring_row = ring + (r % kernel_size) * filters; /* holds row r − L until overwritten */
        const int32_t first_row = r - kernel_size + 1;
        if (first_row >= 0 && first_row % stride == 0) {
            tas_ws_output_row(p, current + kernel_size, ring_row, sampling_stride, multiplier, shift, quant_step,
                              output + (first_row / stride) * filters);
        }
        if ((r + 1) % stride == 0 && r < last_ring_row) { /* only rows r = t − 1 of an output t are read */
            tas_ws_ring_row(current, sampling_stride, bias, filters, ring_row);
        }
        if (current != previous) {
            int32_t *swap = previous;
            previous = current;
            current = swap;
        }
    }
}
