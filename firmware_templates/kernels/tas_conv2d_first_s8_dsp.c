/* int8 2-D convolution for first layers (one group, 1-4 input channels: RGB images, spectrograms)
 * on cores with the DSP extension, and for any other one-group conv whose weights stay small widened
 * (tinyasc/compile/ops/conv.py: ResNet-8's 3x3 convs up to 32 channels and its strided 1x1
 * shortcuts). Their windows are short (3x3x3 = 27 bytes) and their channels few, so the general
 * im2col kernel spends most of its time widening weights and setting up each channel's
 * requantization. Here both are done at export time: the weights are stored widened to int16 pairs
 * and each channel's requantization terms are a row of a table in flash. Per pixel pair: both
 * receptive fields gathered (tas_im2col_pixel), or read in place where a window is one run of input
 * bytes (1-D convs on raw audio), widened and interleaved once, then per channel pair 4 LDRD + 8
 * SMLAD per 16 MACs (windows of 12 quads or more: per block of 4 channels 6 LDRD + 16 SMLAD per 32)
 * and the shared output stage. Any kernel size, stride, dilation and padding; bit-exact with
 * tas_conv2d_s8.
 * widened_filter (tinyasc/compile/ops/conv_first.py: pack_first_weights), int32 words: output
 * channels (an odd count padded with a zero channel) in blocks of 4 while 3 or more are left (windows
 * of 12 quads or more), per quad of the window (zero-padded to a word) c0..c3.even, c0..c3.odd, then
 * in pairs, per quad c0.even, c1.even, c0.odd, c1.odd, where even = (w0, w2) and odd = (w1, w3) as
 * int16 halves (SXTB16's lanes). channels: per output channel (plus the padding one) its folded bias
 * (bias + input_offset·Σw), then in the fast form (fast_requant 1, chosen at export when exact for
 * every input) multiplier, r - 1 and add, else tas_requant_channel's multiplier, left, right, round
 * and negative_mask (tas_first_requantize). scratch: two int8 columns of window + 4 bytes, then
 * the widened pair: 6·tas_im2col_window + 8 bytes. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_im2col.h"
#include <string.h>
#include "tas_mat_mult_dsp.h"


/* Columns a and b widened, per quad the words a.even, b.even, a.odd, b.odd: one LDRD gives both
 * pixels' lanes for a weight pair. */
static inline void tas_first_interleave(const int8_t *a, const int8_t *b, int32_t quads, int32_t *dst)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    /* Written out: GCC 12 stores the four words one by one. STM stores in register order, so the
     * four are pinned to r8-r11: LDR, LDR, 4 SXTB16 and one STM per quad. Volatile: its only
     * effect is the stores, so GCC would drop it as unused. */
    register int32_t a_even __asm__("r8"), b_even __asm__("r9"), a_odd __asm__("r10"), b_odd __asm__("r11");
    __asm__ volatile("1:\n\t"
            "ldr %[ae], [%[a]], #4\n\t" /* unaligned LDR: legal on Cortex-M4 */
            "ldr %[be], [%[b]], #4\n\t"
            "sxtb16 %[ao], %[ae], ror #8\n\t"
            "sxtb16 %[ae], %[ae]\n\t"
            "sxtb16 %[bo], %[be], ror #8\n\t"
            "sxtb16 %[be], %[be]\n\t"
            "stmia %[d]!, {r8, r9, r10, r11}\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a] "+r"(a), [b] "+r"(b), [d] "+r"(dst), [n] "+r"(quads), [ae] "=&r"(a_even), [be] "=&r"(b_even),
              [ao] "=&r"(a_odd), [bo] "=&r"(b_odd)
            :
            : "cc", "memory");
#else
    for (; quads > 0; --quads, a += 4, b += 4, dst += 4) {
        const tas_widened x = tas_widen(tas_read_word(a)), y = tas_widen(tas_read_word(b));
        dst[0] = x.even;
        dst[1] = y.even;
        dst[2] = x.odd;
        dst[3] = y.odd;
    }
#endif
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
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    /* Written out: GCC 12 keeps the loop counter on the stack and copies both pointers each pass.
     * Two quads a pass (4 LDRD + 8 SMLAD each); an odd count enters at the second. */
#define TAS_FIRST_HALF_QUAD                      \
    "ldrd %[xa], %[xb], [%[x]], #8\n\t"          \
    "ldrd %[w0], %[w1], [%[w]], #8\n\t"          \
    "smlad %[a0], %[xa], %[w0], %[a0]\n\t"       \
    "smlad %[a1], %[xa], %[w1], %[a1]\n\t"       \
    "smlad %[b0], %[xb], %[w0], %[b0]\n\t"       \
    "smlad %[b1], %[xb], %[w1], %[b1]\n\t"
    int32_t xa, xb, w0, w1;
    __asm__("lsrs %[n], %[n], #1\n\t"
            "bcc 1f\n\t"
            "adds %[n], %[n], #1\n\t"
            "b 2f\n"
            "1:\n\t" TAS_FIRST_HALF_QUAD TAS_FIRST_HALF_QUAD
            "2:\n\t" TAS_FIRST_HALF_QUAD TAS_FIRST_HALF_QUAD
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a0] "+r"(acc.a0), [a1] "+r"(acc.a1), [b0] "+r"(acc.b0), [b1] "+r"(acc.b1), [x] "+r"(x), [w] "+r"(w),
              [n] "+r"(quads), [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1)
            :
            : "cc", "memory");
#undef TAS_FIRST_HALF_QUAD
#else
    for (; quads > 0; --quads) {
        acc = tas_first_half_quad(&x, &w, acc);
        acc = tas_first_half_quad(&x, &w, acc);
    }
#endif
    return acc;
}

/* Windows of fewer quads run pairs only: a block's call and its sums through memory cost more than
 * its saved loads (conv_first.py: BLOCK4_MIN_QUADS, the same rule for the weights' layout). */
#define TAS_FIRST_BLOCK4_MIN_QUADS 12

/* acc[0..3] (pixel a, channels c..c+3) and acc[4..7] (pixel b) + the window's quads: per quad the
 * pixels' widened words a.even, b.even, a.odd, b.odd and the block's weights c0..c3.even, c0..c3.odd.
 * Each pixel word feeds 4 channels: per quad 6 LDRD + 16 SMLAD for 32 MACs (the 2-channel loop:
 * 8 LDRD). quads >= 1. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* A whole function in assembly: 8 sums, 2 pointers, 2 pixel and 2 weight words need 14 registers,
 * so GCC's register allocation cannot fail on it. AAPCS: r4-r11 saved; r0 x, r1 w, r2 quads, r3 acc.
 * Two quads a pass; an odd count enters at the second. The end of x is kept at [sp]. */
#define TAS_FIRST_HALF_QUAD_4X2            \
    "ldrd r2, r3, [r0], #8\n\t"            \
    "ldrd r12, lr, [r1], #8\n\t"           \
    "smlad r4, r2, r12, r4\n\t"            \
    "smlad r8, r3, r12, r8\n\t"            \
    "smlad r5, r2, lr, r5\n\t"             \
    "smlad r9, r3, lr, r9\n\t"             \
    "ldrd r12, lr, [r1], #8\n\t"           \
    "smlad r6, r2, r12, r6\n\t"            \
    "smlad r10, r3, r12, r10\n\t"          \
    "smlad r7, r2, lr, r7\n\t"             \
    "smlad r11, r3, lr, r11\n\t"
#define TAS_FIRST_IN_REGISTER __attribute__((unused)) /* read by the assembly, in r0-r3 */
__attribute__((naked, noinline, unused)) static void tas_first_dot4x2(TAS_FIRST_IN_REGISTER const int32_t *x,
        TAS_FIRST_IN_REGISTER const int32_t *w, TAS_FIRST_IN_REGISTER int32_t quads, TAS_FIRST_IN_REGISTER int32_t *acc)
{
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "tst r2, #1\n\t" /* the flags survive ADD, PUSH and LDM below */
        "add r2, r0, r2, lsl #4\n\t"
        "push {r2, r3}\n\t"
        "ldmia r3, {r4-r11}\n\t"
        "bne 2f\n"
        "1:\n\t" TAS_FIRST_HALF_QUAD_4X2 TAS_FIRST_HALF_QUAD_4X2
        "2:\n\t" TAS_FIRST_HALF_QUAD_4X2 TAS_FIRST_HALF_QUAD_4X2
        "ldr r2, [sp]\n\t"
        "cmp r0, r2\n\t"
        "bne 1b\n\t"
        "pop {r2, r3}\n\t"
        "stmia r3, {r4-r11}\n\t"
        "pop {r4-r11, pc}\n\t");
}
#undef TAS_FIRST_HALF_QUAD_4X2
#else
static void tas_first_dot4x2(const int32_t *x, const int32_t *w, int32_t quads, int32_t *acc)
{
    for (; quads > 0; --quads) {
        for (int32_t half = 0; half < 2; ++half, x += 2, w += 4) { /* even lanes, then odd */
            for (int32_t k = 0; k < 4; ++k) {
                acc[k] = tas_smlad(x[0], w[k], acc[k]);
                acc[4 + k] = tas_smlad(x[1], w[k], acc[4 + k]);
            }
        }
    }
}
#endif

/* requantize(acc) + output_offset saturated to int8, in the fast form (fast 1: the row holds
 * multiplier, r - 1 and add = 2^(r-1)·(2·output_offset + 1); exact because the export proved 2·acc
 * and acc + add fit int32, tinyasc/compile/ops/fully_connected_dsp.py: fast_requantization_holds):
 * ADD, SMMLAR, ADD, ASR, SSAT. Else (fast 0: multiplier, left, right, round, negative_mask)
 * tas_requant_channel_apply with its overflow fallback. */
static inline int32_t tas_first_requantize(const int32_t *row, int32_t fast, int32_t output_offset, int32_t acc)
{
    if (fast) {
        const int32_t scaled = (tas_smmlar(acc + acc, row[0], row[2]) + (acc >> 31)) >> row[1];
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
        int32_t saturated;
        __asm__("ssat %0, #8, %1, asr #1" : "=r"(saturated) : "r"(scaled));
        return saturated;
#else
        return tas_clamp(scaled >> 1, -128, 127);
#endif
    }
    const tas_requant_channel r = {row[0], row[1], row[2], row[3], row[4]};
    return tas_clamp(tas_requant_channel_apply(acc, &r) + output_offset, -128, 127);
}

/* Four int8 values (channels c..c + 3 of one pixel) clamped to the activation range, as one word. */
static inline int32_t tas_first_pack4(tas_mat_range4 range, int32_t v0, int32_t v1, int32_t v2, int32_t v3)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    return tas_min_s8x4(tas_max_s8x4(tas_pack_s8x4(v0, v1, v2, v3), range.low), range.high);
#else
    const int32_t low = (int8_t)range.low, high = (int8_t)range.high;
    return (int32_t)((uint32_t)(uint8_t)tas_clamp(v0, low, high) | (uint32_t)(uint8_t)tas_clamp(v1, low, high) << 8
                     | (uint32_t)(uint8_t)tas_clamp(v2, low, high) << 16 | (uint32_t)(uint8_t)tas_clamp(v3, low, high) << 24);
#endif
}

/* Channels c..c + 3 of the widened pixel pair (a block of 4; the last one of a count 3 mod 4 holds
 * the table's padding channel and stores 3). Returns the weights past the block. */
static inline const int32_t *tas_first_block4(const tas_conv2d_params *p, tas_mat_range4 range, const int32_t *widened,
                                              const int32_t *weights, const int32_t *channels, int32_t fast, int32_t quads,
                                              int32_t stored, int8_t *out_a, int8_t *out_b)
{
    const int32_t words = fast ? 4 : 6, offset = p->output_offset;
    int32_t acc[8], value[8];
    for (int32_t k = 0; k < 4; ++k) {
        acc[k] = acc[4 + k] = channels[k * words];
    }
    tas_first_dot4x2(widened, weights, quads, acc);
    for (int32_t k = 0; k < 4; ++k) {
        value[k] = tas_first_requantize(channels + k * words + 1, fast, offset, acc[k]);
        value[4 + k] = tas_first_requantize(channels + k * words + 1, fast, offset, acc[4 + k]);
    }
    if (stored == 4) { /* when out_b == out_a (a pixel paired with itself) both words are equal */
        tas_write_word(out_a, tas_first_pack4(range, value[0], value[1], value[2], value[3]));
        tas_write_word(out_b, tas_first_pack4(range, value[4], value[5], value[6], value[7]));
    } else {
        for (int32_t k = 0; k < stored; ++k) {
            out_b[k] = (int8_t)tas_clamp(value[4 + k], p->act_min, p->act_max);
            out_a[k] = (int8_t)tas_clamp(value[k], p->act_min, p->act_max);
        }
    }
    return weights + 8 * quads;
}

/* Every output channel of the widened pixel pair: blocks of 4 channels while at least 3 are left
 * (windows of TAS_FIRST_BLOCK4_MIN_QUADS quads or more, else pairs only), then pairs (an odd last
 * channel with the table's padding partner, not stored). Each channel's row of `channels`: its
 * folded bias, then its requantization terms (4 words a channel in the fast form, else 6). */
static inline void tas_first_outputs(const tas_conv2d_params *p, const int32_t *widened, const int32_t *weights,
                                     const int32_t *channels, int32_t fast, int32_t quads, int8_t *out_a, int8_t *out_b)
{
    const tas_mat_mult stage = {.act_min = p->act_min, .act_max = p->act_max};
    const tas_mat_range4 range = tas_mat_range4_of(&stage);
    const int32_t depth = p->output_depth, paired_end = depth & ~1, words = fast ? 4 : 6, offset = p->output_offset;
    int32_t c = 0;
    for (; quads >= TAS_FIRST_BLOCK4_MIN_QUADS && c + 3 <= depth; c += 4, channels += 4 * words) {
        const int32_t stored = c + 4 <= depth ? 4 : 3;
        weights = tas_first_block4(p, range, widened, weights, channels, fast, quads, stored, out_a + c, out_b + c);
    }
    for (; c < depth; c += 2, weights += 4 * quads, channels += 2 * words) {
        const int32_t *next = channels + words;
        const tas_mat_acc2x2 start = {channels[0], next[0], channels[0], next[0]};
        const tas_mat_acc2x2 acc = tas_first_dot(widened, weights, quads, start);
        const int32_t a0 = tas_first_requantize(channels + 1, fast, offset, acc.a0);
        const int32_t b0 = tas_first_requantize(channels + 1, fast, offset, acc.b0);
        if (c == paired_end) { /* the odd last channel: its zero partner is not stored */
            out_b[c] = (int8_t)tas_clamp(b0, p->act_min, p->act_max);
            out_a[c] = (int8_t)tas_clamp(a0, p->act_min, p->act_max);
            return;
        }
        const int32_t a1 = tas_first_requantize(next + 1, fast, offset, acc.a1);
        const int32_t b1 = tas_first_requantize(next + 1, fast, offset, acc.b1);
        tas_store_2x2_in_range(range, a0, a1, b0, b1, out_a + c, out_b + c);
    }
}

/* Output pixel (out_y, out_x)'s window into `column` when it lies inside the image and its last
 * filter row can be read in whole words without passing the input's end (most pixels of a first
 * layer): each filter row copied as whole words, the last word running into the next row's place,
 * which that row then overwrites (the column has a word of room after the window; the bytes past
 * the window meet zero weights). Returns 0, writing nothing, for any other pixel. */
static inline int32_t tas_first_gather_inside(const tas_conv2d_params *p, const int8_t *input, int32_t out_y,
                                              int32_t out_x, int8_t *column)
{
    const int32_t row_bytes = p->filter_width * p->input_depth, row_words = (row_bytes + 3) / 4;
    const int32_t input_row = p->input_width * p->input_depth, step = p->dilation_height * input_row;
    const int32_t in_y = out_y * p->stride_height - p->pad_height, in_x = out_x * p->stride_width - p->pad_width;
    const int32_t last_y = in_y + (p->filter_height - 1) * p->dilation_height;
    const int32_t last_start = last_y * input_row + in_x * p->input_depth;
    if (p->dilation_width != 1 || in_y < 0 || in_x < 0 || last_y >= p->input_height
        || in_x + p->filter_width > p->input_width || last_start + 4 * row_words > p->input_height * input_row) {
        return 0;
    }
    const int8_t *src = input + in_y * input_row + in_x * p->input_depth;
    for (int32_t filter_y = 0; filter_y < p->filter_height; ++filter_y, src += step, column += row_bytes) {
        for (int32_t word = 0; word < row_words; ++word) {
            tas_write_word(column + 4 * word, tas_read_word(src + 4 * word));
        }
    }
    return 1;
}

/* Every window is one run of input bytes: a filter as wide as the input and one output column (1-D
 * convs over time on raw audio, 1-4 channels, and 1x1 convs over 1-4 channels), neither dilated. */
static inline int32_t tas_first_windows_are_runs(const tas_conv2d_params *p)
{
    return p->filter_width == p->input_width && p->output_width == 1 && p->pad_width == 0 && p->dilation_height == 1
           && p->dilation_width == 1;
}

/* Output pixel (out_y, 0)'s window where the widening can read it in place (windows that are runs),
 * else NULL: the window inside the input and its word-padded end too (the bytes past the window meet
 * zero weights). Copying such a window into a column would only add a pass over it (for a filter
 * row of 1-3 bytes, a word copy per tap). */
static inline const int8_t *tas_first_window_in_place(const tas_conv2d_params *p, const int8_t *input, int32_t out_y,
                                                      int32_t padded_window)
{
    const int32_t input_row = p->input_width * p->input_depth;
    const int32_t in_y = out_y * p->stride_height - p->pad_height;
    if (in_y < 0 || in_y + p->filter_height > p->input_height
        || in_y * input_row + padded_window > p->input_height * input_row) {
        return 0;
    }
    return input + in_y * input_row;
}

/* The bytes the widening reads for output pixel (out_y, out_x): the window in place (`runs`:
 * tas_first_windows_are_runs), or gathered into `column`. */
static inline const int8_t *tas_first_gather(const tas_conv2d_params *p, const int8_t *input, int32_t out_y,
                                             int32_t out_x, int32_t padded_window, int32_t runs, int8_t *column)
{
    const int8_t *in_place = runs ? tas_first_window_in_place(p, input, out_y, padded_window) : 0;
    if (in_place) {
        return in_place;
    }
    if (!tas_first_gather_inside(p, input, out_y, out_x, column)) {
        tas_im2col_pixel(p, input, out_y, out_x, column);
    }
    return column;
}

/* The output pixels whose windows all lie in place, [*first, *end), when the windows are runs
 * (`runs`): pixel t's window is the run of bytes from input row t·stride - pad, in place while that
 * row is >= 0 and the word-padded window ends inside the input (tas_first_window_in_place). Empty
 * for any other conv. */
static inline void tas_first_in_place_pixels(const tas_conv2d_params *p, int32_t padded_window, int32_t runs,
                                             int32_t *first, int32_t *end)
{
    const int32_t row = p->input_width * p->input_depth, room = p->input_height * row - padded_window;
    *first = *end = 0;
    if (!runs || room < 0) {
        return;
    }
    const int32_t last = (room / row + p->pad_height) / p->stride_height + 1; /* past the last in-place pixel */
    *end = last < p->output_height ? last : p->output_height;
    *first = (p->pad_height + p->stride_height - 1) / p->stride_height;
    *first = *first < *end ? *first : *end;
}

/* Pixels in pairs, each window gathered into a column (tas_first_gather, `runs` 0), or for windows
 * that are runs read in place, with no check per pixel between in_place_first and in_place_end. */
static inline __attribute__((always_inline)) void tas_first_pairs(const tas_conv2d_params *p, const int8_t *input,
        const int32_t *widened_filter, const int32_t *channels, int32_t fast_requant, int32_t *scratch, int8_t *output,
        int32_t runs, int32_t in_place_first, int32_t in_place_end)
{
    const int32_t window = tas_im2col_window(p), quads = window / 4;
    const int32_t column_bytes = window + 4; /* a word of room for tas_first_gather_inside's last word */
    int8_t *column_a = (int8_t *)scratch, *column_b = column_a + column_bytes;
    int32_t *widened = scratch + column_bytes / 2; /* after both columns: 4·window bytes */
    const int32_t pixels = p->output_height * p->output_width;
    const int32_t step = p->stride_height * p->input_width * p->input_depth; /* between 1-D windows */
    const int32_t pad_bytes = p->pad_height * p->input_width * p->input_depth; /* before pixel 0's 1-D window */
    int32_t y = 0, x = 0; /* output pixel `pixel`, row-major */
    for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
        const int32_t second = pixel + 1 < pixels; /* an odd last pixel runs as a pair with itself */
        const int8_t *window_a, *window_b;
        if (runs && pixel >= in_place_first && pixel + 1 < in_place_end) { /* both in place */
            window_a = input + (pixel * step - pad_bytes);
            window_b = window_a + step;
            y += 2; /* one output column */
        } else {
            window_a = window_b = tas_first_gather(p, input, y, x, window, runs, column_a);
            if (++x == p->output_width) {
                x = 0;
                ++y;
            }
            if (second) {
                window_b = tas_first_gather(p, input, y, x, window, runs, column_b);
                if (++x == p->output_width) {
                    x = 0;
                    ++y;
                }
            }
        }
        tas_first_interleave(window_a, window_b, quads, widened);
        int8_t *out_a = output + pixel * p->output_depth, *out_b = out_a + second * p->output_depth;
        tas_first_outputs(p, widened, widened_filter, channels, fast_requant, quads, out_a, out_b);
    }
}

TAS_KERNEL_INLINE void tas_conv2d_first_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *widened_filter,
                                        const int32_t *channels, int32_t fast_requant, int32_t *scratch, int8_t *output)
{
    const int32_t window = tas_im2col_window(p);
    if (p->filter_height * p->filter_width * p->filter_depth != window) { /* the padding bytes past a window are read, so set */
        tas_im2col_fill((int8_t *)scratch, 0, 2 * (window + 4));
    }
    if (tas_first_windows_are_runs(p)) {
        int32_t in_place_first, in_place_end;
        tas_first_in_place_pixels(p, window, 1, &in_place_first, &in_place_end);
        tas_first_pairs(p, input, widened_filter, channels, fast_requant, scratch, output, 1, in_place_first, in_place_end);
    } else { /* the same loop with `runs` 0: nothing of the in-place path left in it */
        tas_first_pairs(p, input, widened_filter, channels, fast_requant, scratch, output, 0, 0, 0);
    }
}
