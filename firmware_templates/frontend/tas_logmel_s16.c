/* tas_logmel_frame: int16 PCM window -> int16 Q10 log-mel bands, integer arithmetic only.
 *
 * Sizes and tables come from the generated tas_logmel.h / tas_logmel_tables.c. The numpy twin
 * (tinyasc/frontend/fixed_point.py) defines every step; this file repeats it bit for bit:
 *   1. block exponent s: max |x| << s fills int16, so quiet frames keep their precision;
 *   2. Q31 Hann window, floor(w x / 2^16) (SMULWB), scaled by 2^(s - WINDOW_SHIFT), written as
 *      complex points z_n = v_2n + j v_2n+1 in bit-reversed order; when the window fills the
 *      frame and the FFT starts with a radix-4 stage, that stage is done in the same pass;
 *   3. complex FFT of M = n_fft / 2 points on int32, radix-4 (after one radix-2 stage when log2 M
 *      is odd), every stage halving: mulhi(y, W) = floor(y W_q31 / 2^32), untwiddled y >> 1;
 *   4. split into the real FFT's bins k and M - k, half magnitudes |X| / 2 by an integer square
 *      root (normalise, seed table, one Newton step), written over the dead FFT points (bin k at
 *      scratch[2k]);
 *   5. mel triangles as per-interval sums: one Q15 weight per bin serves both overlapping bands;
 *   6. natural log from the leading-one position and a 65-entry table, back in Q10.
 * Signed right shifts are arithmetic and conversions two's complement (GCC, Clang and Arm
 * compilers), as in the twin; sample pairs are read little-endian with memcpy (one LDR on the M4,
 * byte loads where unaligned access faults, e.g. Cortex-M0).
 */
#include <stdint.h>
#include <string.h>

#include "tas_logmel.h"

#define TAS_LOGMEL_LN_TABLE_BITS 6
#define TAS_LOGMEL_LN_INTERP_BITS 10
#define TAS_LOGMEL_WEIGHT_BITS 15
#define TAS_LOGMEL_STAGE static __attribute__((noinline))

static inline int32_t tas_logmel_clz64(uint64_t x) /* x != 0 */
{
    const uint32_t high = (uint32_t)(x >> 32);
    return high ? __builtin_clz(high) : 32 + __builtin_clz((uint32_t)x);
}

/* y W / 2 in the twin's rounding (floor), W = cos - j sin in Q31. */
static inline int32_t tas_logmel_mulhi_re(int32_t re, int32_t im, const int32_t *w)
{
    return (int32_t)(((int64_t)re * w[0] + (int64_t)im * w[1]) >> 32);
}

static inline int32_t tas_logmel_mulhi_im(int32_t re, int32_t im, const int32_t *w)
{
    return (int32_t)(((int64_t)im * w[0] + (int64_t)(-re) * w[1]) >> 32);
}

/* One radix-4 butterfly on points y0..y3 (`quarter` points apart) whose twiddled halves t1..t3
 * are already computed: out0 = a + t1 + t2 + t3, out1 = a - t1 - j(t2 - t3), out2 = a + t1 - t2 - t3,
 * out3 = a - t1 + j(t2 - t3), with a = y0 / 2. */
static inline void tas_logmel_butterfly(int32_t *y0, int32_t quarter2, int32_t a_re, int32_t a_im,
                                        int32_t t1_re, int32_t t1_im, int32_t t2_re, int32_t t2_im,
                                        int32_t t3_re, int32_t t3_im)
{
    const int32_t sum_re = a_re + t1_re, sum_im = a_im + t1_im;
    const int32_t dif_re = a_re - t1_re, dif_im = a_im - t1_im;
    const int32_t pair_re = t2_re + t3_re, pair_im = t2_im + t3_im;
    const int32_t cross_re = t2_re - t3_re, cross_im = t2_im - t3_im;
    y0[0] = sum_re + pair_re;
    y0[1] = sum_im + pair_im;
    y0[quarter2] = dif_re + cross_im;
    y0[quarter2 + 1] = dif_im - cross_re;
    y0[2 * quarter2] = sum_re - pair_re;
    y0[2 * quarter2 + 1] = sum_im - pair_im;
    y0[3 * quarter2] = dif_re - cross_im;
    y0[3 * quarter2 + 1] = dif_im + cross_re;
}

/* ---- 1 + 2: block exponent and window ---------------------------------------------------------- */

/* Per halfword lane of two int16 samples: x ^ (x >> 15), i.e. |x| for x >= 0 and |x| - 1 below. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
static inline uint32_t tas_logmel_lane_magnitudes(uint32_t pair)
{
    return pair ^ (uint32_t)__ssat16((int32_t)pair, 1); /* saturating to 1 bit leaves each lane's sign mask */
}
#else
static inline uint32_t tas_logmel_lane_magnitudes(uint32_t pair)
{
    return pair ^ (((pair >> 15) & 0x00010001u) * 0xFFFFu);
}
#endif

/* Left shift s (0..15) that brings max |x| to the top of int16; 15 for silence. Ones' complement
 * magnitudes are OR-ed (same leading zeros as the maximum), so -32768 still fits after the shift. */
TAS_LOGMEL_STAGE int32_t tas_logmel_block_exponent(const int16_t *pcm)
{
    uint32_t lanes = 0u;
    int32_t n = 0;
    for (; n + 3 < TAS_LOGMEL_WINDOW_LENGTH; n += 4) {
        uint32_t first, second;
        memcpy(&first, pcm + n, sizeof first); /* the M4 allows these loads unaligned */
        memcpy(&second, pcm + n + 2, sizeof second);
        lanes |= tas_logmel_lane_magnitudes(first) | tas_logmel_lane_magnitudes(second);
    }
    for (; n + 1 < TAS_LOGMEL_WINDOW_LENGTH; n += 2) {
        uint32_t pair;
        memcpy(&pair, pcm + n, sizeof pair);
        lanes |= tas_logmel_lane_magnitudes(pair);
    }
    if (TAS_LOGMEL_WINDOW_LENGTH % 2) {
        lanes |= tas_logmel_lane_magnitudes((uint16_t)pcm[TAS_LOGMEL_WINDOW_LENGTH - 1]);
    }
    const uint32_t bits = (lanes | (lanes >> 16)) & 0xFFFFu;
    return bits ? __builtin_clz(bits) - 17 : 15;
}

/* floor(w_q31 * x / 2^16) for the bottom / top int16 of a sample pair: one SMULWB / SMULWT on the
 * M4 (GCC 12's arm_acle.h lacks __smulwb; SMLAWB with a zero accumulator would hold a register). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline int32_t tas_logmel_window_bottom(int32_t window, uint32_t pair)
{
    int32_t product;
    __asm__("smulwb %0, %1, %2" : "=r"(product) : "r"(window), "r"(pair));
    return product;
}
static inline int32_t tas_logmel_window_top(int32_t window, uint32_t pair)
{
    int32_t product;
    __asm__("smulwt %0, %1, %2" : "=r"(product) : "r"(window), "r"(pair));
    return product;
}
#else
static inline int32_t tas_logmel_window_bottom(int32_t window, uint32_t pair)
{
    return (int32_t)(((int64_t)window * (int16_t)(pair & 0xFFFFu)) >> 16);
}
static inline int32_t tas_logmel_window_top(int32_t window, uint32_t pair)
{
    return (int32_t)(((int64_t)window * (int16_t)(pair >> 16)) >> 16);
}
#endif

/* Windowed points v = floor(w x / 2^16) * 2^(s - WINDOW_SHIFT), one loop per shift direction (a
 * negative shift count is not a right shift in C); SCALE is the statement that applies it. */
#define TAS_LOGMEL_WINDOW_LOOP(SCALE)                                                            \
    for (int32_t pair = 0; pair < TAS_LOGMEL_WINDOW_LENGTH / 2; pair++) {                       \
        uint32_t samples;                                                                       \
        memcpy(&samples, pcm + 2 * pair, sizeof samples); /* the M4 loads it unaligned */       \
        int32_t *point = z + 2 * bit_reverse[pair];                                             \
        const int32_t re = tas_logmel_window_bottom(window[2 * pair], samples);                 \
        const int32_t im = tas_logmel_window_top(window[2 * pair + 1], samples);                \
        point[0] = SCALE(re);                                                                   \
        point[1] = SCALE(im);                                                                   \
    }

#if TAS_LOGMEL_RADIX2_STAGES == 0 && TAS_LOGMEL_WINDOW_LENGTH == TAS_LOGMEL_N_FFT
/* Window fused with the FFT's first radix-4 stage, whose twiddles are all 1: the butterfly at
 * positions 4q..4q+3 (4q = bitrev(r)) takes the natural points r, r + M/2, r + M/4 and r + 3M/4,
 * and HALF_SCALE yields v >> 1 directly, so the stage's halving costs nothing. */
#define TAS_LOGMEL_FUSED_FIRST_STAGE 1
#define TAS_LOGMEL_FUSED_POINT(n, HALF_SCALE, re, im)                                        \
    uint32_t samples_##re;                                                                   \
    memcpy(&samples_##re, pcm + 2 * (n), sizeof samples_##re);                               \
    const int32_t re = HALF_SCALE(tas_logmel_window_bottom(tas_logmel_window[2 * (n)], samples_##re));     \
    const int32_t im = HALF_SCALE(tas_logmel_window_top(tas_logmel_window[2 * (n) + 1], samples_##re));

#define TAS_LOGMEL_FUSED_LOOP(HALF_SCALE)                                                    \
    for (int32_t r = 0; r < TAS_LOGMEL_FFT_POINTS / 4; r++) {                                \
        TAS_LOGMEL_FUSED_POINT(r, HALF_SCALE, y0_re, y0_im)                                  \
        TAS_LOGMEL_FUSED_POINT(r + TAS_LOGMEL_FFT_POINTS / 2, HALF_SCALE, y1_re, y1_im)      \
        TAS_LOGMEL_FUSED_POINT(r + TAS_LOGMEL_FFT_POINTS / 4, HALF_SCALE, y2_re, y2_im)      \
        TAS_LOGMEL_FUSED_POINT(r + 3 * TAS_LOGMEL_FFT_POINTS / 4, HALF_SCALE, y3_re, y3_im)  \
        tas_logmel_butterfly(z + 2 * tas_logmel_bit_reverse[r], 2, y0_re, y0_im, y1_re, y1_im, \
                             y2_re, y2_im, y3_re, y3_im);                                    \
    }

TAS_LOGMEL_STAGE void tas_logmel_window_points(const int16_t *pcm, int32_t shift, int32_t *z)
{
    if (shift > TAS_LOGMEL_WINDOW_SHIFT) {
        const int32_t up = shift - TAS_LOGMEL_WINDOW_SHIFT - 1;
#define TAS_LOGMEL_HALF_UP(v) ((int32_t)((uint32_t)(v) << up))
        TAS_LOGMEL_FUSED_LOOP(TAS_LOGMEL_HALF_UP)
    } else {
        const int32_t down = TAS_LOGMEL_WINDOW_SHIFT + 1 - shift;
#define TAS_LOGMEL_HALF_DOWN(v) ((v) >> down)
        TAS_LOGMEL_FUSED_LOOP(TAS_LOGMEL_HALF_DOWN)
    }
}
#else
#define TAS_LOGMEL_FUSED_FIRST_STAGE 0
TAS_LOGMEL_STAGE void tas_logmel_window_points(const int16_t *pcm, int32_t shift, int32_t *z)
{
    const tas_logmel_bit_reverse_t *bit_reverse = tas_logmel_bit_reverse + TAS_LOGMEL_WINDOW_OFFSET / 2;
    const int32_t *window = tas_logmel_window;
    if (TAS_LOGMEL_WINDOW_LENGTH < TAS_LOGMEL_N_FFT) {
        memset(z, 0, sizeof(int32_t) * 2 * TAS_LOGMEL_FFT_POINTS); /* the window's zero padding */
    }
    if (shift >= TAS_LOGMEL_WINDOW_SHIFT) {
        const int32_t up = shift - TAS_LOGMEL_WINDOW_SHIFT;
#define TAS_LOGMEL_SCALE_UP(v) ((int32_t)((uint32_t)(v) << up)) /* exact: |v| << up stays below 2^31 */
        TAS_LOGMEL_WINDOW_LOOP(TAS_LOGMEL_SCALE_UP)
    } else {
        const int32_t down = TAS_LOGMEL_WINDOW_SHIFT - shift;
#define TAS_LOGMEL_SCALE_DOWN(v) ((v) >> down)
        TAS_LOGMEL_WINDOW_LOOP(TAS_LOGMEL_SCALE_DOWN)
    }
    if (TAS_LOGMEL_WINDOW_LENGTH % 2) { /* an odd window ends on a real-only point */
        const int32_t last = TAS_LOGMEL_WINDOW_LENGTH - 1;
        int32_t *point = z + 2 * bit_reverse[last / 2];
        const int32_t product = tas_logmel_window_bottom(window[last], (uint16_t)pcm[last]);
        point[0] = shift >= TAS_LOGMEL_WINDOW_SHIFT ? (int32_t)((uint32_t)product << (shift - TAS_LOGMEL_WINDOW_SHIFT))
                                                    : product >> (TAS_LOGMEL_WINDOW_SHIFT - shift);
        point[1] = 0;
    }
}

#endif

/* ---- 3: complex FFT ------------------------------------------------------------------------------ */

static void tas_logmel_radix2_stage(int32_t *z)
{
    for (int32_t p = 0; p < 2 * TAS_LOGMEL_FFT_POINTS; p += 4) {
        const int32_t a_re = z[p] >> 1, a_im = z[p + 1] >> 1, b_re = z[p + 2] >> 1, b_im = z[p + 3] >> 1;
        z[p] = a_re + b_re;
        z[p + 1] = a_im + b_im;
        z[p + 2] = a_re - b_re;
        z[p + 3] = a_im - b_im;
    }
}

/* The butterfly of one j >= 1: t_i = mulhi(y_i, W_i) with w = (c1, s1, c2, s2, c3, s3). Written
 * input by input so that few values are live at once (the M4 has 13 free registers). */
static inline void tas_logmel_twiddled_butterfly(int32_t *y, int32_t q2, const int32_t *w)
{
    int32_t *y1 = y + q2, *y2 = y1 + q2, *y3 = y2 + q2;
    const int32_t t2_re = tas_logmel_mulhi_re(y2[0], y2[1], w + 2), t2_im = tas_logmel_mulhi_im(y2[0], y2[1], w + 2);
    const int32_t t3_re = tas_logmel_mulhi_re(y3[0], y3[1], w + 4), t3_im = tas_logmel_mulhi_im(y3[0], y3[1], w + 4);
    const int32_t pair_re = t2_re + t3_re, pair_im = t2_im + t3_im;
    const int32_t cross_re = t2_re - t3_re, cross_im = t2_im - t3_im;
    const int32_t t1_re = tas_logmel_mulhi_re(y1[0], y1[1], w), t1_im = tas_logmel_mulhi_im(y1[0], y1[1], w);
    const int32_t a_re = y[0] >> 1, a_im = y[1] >> 1;
    const int32_t sum_re = a_re + t1_re, sum_im = a_im + t1_im;
    const int32_t dif_re = a_re - t1_re, dif_im = a_im - t1_im;
    y[0] = sum_re + pair_re;
    y[1] = sum_im + pair_im;
    y2[0] = sum_re - pair_re;
    y2[1] = sum_im - pair_im;
    y1[0] = dif_re + cross_im;
    y1[1] = dif_im - cross_re;
    y3[0] = dif_re - cross_im;
    y3[1] = dif_im + cross_re;
}

/* Blocks of 4 * quarter points; in each, j = 0 has unit twiddles (exact halvings) and j >= 1 reads
 * the stage's twiddles in order. */
static inline __attribute__((always_inline)) void
tas_logmel_radix4_stage(int32_t *z, int32_t quarter, const int32_t *twiddles)
{
    const int32_t q2 = 2 * quarter;
    for (int32_t *block = z; block < z + 2 * TAS_LOGMEL_FFT_POINTS; block += 4 * q2) {
        tas_logmel_butterfly(block, q2, block[0] >> 1, block[1] >> 1, block[q2] >> 1, block[q2 + 1] >> 1,
                             block[2 * q2] >> 1, block[2 * q2 + 1] >> 1, block[3 * q2] >> 1, block[3 * q2 + 1] >> 1);
        const int32_t *w = twiddles;
        for (int32_t *y = block + 2; y < block + q2; y += 2, w += 6) {
            tas_logmel_twiddled_butterfly(y, q2, w);
        }
    }
}

/* The header lists the radix-4 stages as STAGE(quarter, twiddle offset): each stage is inlined
 * with its sizes as constants, so the butterflies address their points with immediate offsets. */
#define TAS_LOGMEL_RADIX4_STAGE(quarter, twiddle_offset)                                      \
    if (!(TAS_LOGMEL_FUSED_FIRST_STAGE && (quarter) == 1)) { /* else done with the window */      \
        tas_logmel_radix4_stage(z, quarter, tas_logmel_twiddles + (twiddle_offset));             \
    }

TAS_LOGMEL_STAGE void tas_logmel_fft(int32_t *z)
{
    if (TAS_LOGMEL_RADIX2_STAGES) {
        tas_logmel_radix2_stage(z);
    }
    TAS_LOGMEL_FOR_EACH_RADIX4_STAGE(TAS_LOGMEL_RADIX4_STAGE)
}

/* ---- 4: split and magnitude ---------------------------------------------------------------------- */

/* |re + j im| / 2 to ~15 significant bits: shift both components left by z until the larger fills
 * 31 bits (ones' complements find z, so -2^k may reach -2^31, still exact), take the top word of
 * the 64-bit power (in [2^28, 2^31]), seed its root from the top 9 bits, one Newton step, and
 * shift back: (root << 15) >> z. Components 0 and -1 only give 0. */
static inline uint32_t tas_logmel_half_magnitude(int32_t re, int32_t im)
{
    const uint32_t spread = (uint32_t)(re ^ (re >> 31)) | (uint32_t)(im ^ (im >> 31));
    if (spread == 0u) {
        return 0u;
    }
    const int32_t zeros = __builtin_clz(spread) - 1;
    const int32_t re_n = (int32_t)((uint32_t)re << zeros), im_n = (int32_t)((uint32_t)im << zeros);
    const uint32_t top = (uint32_t)(((uint64_t)((int64_t)re_n * re_n) + (uint64_t)((int64_t)im_n * im_n)) >> 32);
    const uint32_t seed = tas_logmel_sqrt_seeds[(top >> 23) - TAS_LOGMEL_SQRT_SEED_FIRST];
    const uint32_t root = (seed + top / seed) >> 1;
    return (root << 15) >> zeros;
}

/* X[k] = S/2 - jT and conj X[M-k] = S/2 + jT with S = Z[k] + conj Z[M-k], T = mulhi(Z[k] - conj Z[M-k],
 * W_2M^k); |X[k]| / 2 goes to scratch[2k] once Z[k] and Z[M-k] are read. */
TAS_LOGMEL_STAGE void tas_logmel_split_magnitudes(int32_t *z)
{
    const int32_t *w = tas_logmel_split_twiddles + 2;
    int32_t *low = z + 2, *high = z + 2 * (TAS_LOGMEL_FFT_POINTS - 1);
    for (; low <= high; low += 2, high -= 2, w += 2) { /* low == high once: k = M/2 */
        const int32_t s_re = low[0] + high[0], s_im = low[1] - high[1];
        const int32_t d_re = low[0] - high[0], d_im = low[1] + high[1];
        const int32_t t_re = tas_logmel_mulhi_re(d_re, d_im, w), t_im = tas_logmel_mulhi_im(d_re, d_im, w);
        const int32_t half_re = s_re >> 1, half_im = s_im >> 1;
        const uint32_t high_magnitude = tas_logmel_half_magnitude(half_re - t_im, half_im + t_re);
        low[0] = (int32_t)tas_logmel_half_magnitude(half_re + t_im, half_im - t_re);
        if (low != high) {
            high[0] = (int32_t)high_magnitude;
        }
    }
    const int32_t dc = z[0] + z[1], nyquist = z[0] - z[1];
    z[0] = (dc < 0 ? -dc : dc) >> 1;
    z[2 * TAS_LOGMEL_FFT_POINTS] = (nyquist < 0 ? -nyquist : nyquist) >> 1;
}

/* ---- 5 + 6: mel bands and log -------------------------------------------------------------------- */

/* ln(energy) + band offset - shift ln 2, in Q10, clamped to the log floor and int16. */
static int16_t tas_logmel_log_q10(uint64_t energy, int32_t band, int32_t shift)
{
    if (energy == 0u) {
        return (int16_t)TAS_LOGMEL_LOG_FLOOR_Q10;
    }
    const int32_t zeros = tas_logmel_clz64(energy);
    const uint32_t top = (uint32_t)((energy << zeros) >> 32); /* leading one at bit 31 */
    const uint32_t index = (top >> (31 - TAS_LOGMEL_LN_TABLE_BITS)) & ((1u << TAS_LOGMEL_LN_TABLE_BITS) - 1u);
    const int32_t frac = (int32_t)((top >> (31 - TAS_LOGMEL_LN_TABLE_BITS - TAS_LOGMEL_LN_INTERP_BITS))
                                   & ((1u << TAS_LOGMEL_LN_INTERP_BITS) - 1u));
    const int32_t below = tas_logmel_ln_table[index], above = tas_logmel_ln_table[index + 1];
    const int32_t ln_q16 = (63 - zeros - shift) * TAS_LOGMEL_LN2_Q16 + below
                           + (((above - below) * frac) >> TAS_LOGMEL_LN_INTERP_BITS) + tas_logmel_band_offset[band];
    const int32_t q10 = (ln_q16 + 32) >> 6;
    if (q10 < TAS_LOGMEL_LOG_FLOOR_Q10) {
        return (int16_t)TAS_LOGMEL_LOG_FLOOR_Q10;
    }
    return (int16_t)(q10 > INT16_MAX ? INT16_MAX : q10);
}

/* Interval i (mel corners i..i+1) raises band i and lowers band i - 1: band i - 1 is complete once
 * interval i is summed, E = rise(i - 1) + 2^15 total(i) - rise(i). */
TAS_LOGMEL_STAGE void tas_logmel_mel_log(const int32_t *z, int32_t shift, int16_t *out)
{
    const uint16_t *weight = tas_logmel_mel_rise;
    const int32_t *magnitude = z + 2 * tas_logmel_mel_points[0]; /* bin k sits at z[2k] */
    uint64_t previous_rise = 0u;
    for (int32_t interval = 0; interval <= TAS_LOGMEL_N_MELS; interval++) {
        uint64_t total = 0u, rise = 0u;
        for (const int32_t *end = z + 2 * tas_logmel_mel_points[interval + 1]; magnitude < end; magnitude += 2) {
            const uint32_t value = (uint32_t)*magnitude;
            total += value;
            rise += (uint64_t)value * *weight++;
        }
        if (interval > 0) {
            const uint64_t energy = previous_rise + (total << TAS_LOGMEL_WEIGHT_BITS) - rise;
            out[interval - 1] = tas_logmel_log_q10(energy, interval - 1, shift);
        }
        previous_rise = rise;
    }
}

/* The stages stay separate functions: inlined into one, they compete for registers and spill. */
void tas_logmel_frame(const int16_t *pcm, int16_t *out, int32_t *scratch)
{
    const int32_t shift = tas_logmel_block_exponent(pcm);
    tas_logmel_window_points(pcm, shift, scratch);
    tas_logmel_fft(scratch);
    tas_logmel_split_magnitudes(scratch);
    tas_logmel_mel_log(scratch, shift, out);
}
