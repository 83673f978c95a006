/* WS_CONV by the integral image (WSNet, DESIGN §4), streaming over input rows, int8.
 * input     [input_length, input_channels] int8 (a (T, 1, M) tensor), zero point −input_offset
 * condensed [condensed_length, condensed_channels] int8: Φ, one per-tensor scale
 * bias, multiplier, shift [filters]; output [output_length, filters] int8
 * scratch   tas_ws_conv_scratch_words(p) int32 words
 * The sampled kernel K[l, m, n] = Φ[n·s + l, m mod M*] is never built. For each (padded) input
 * row u: F'[u, j] = Σ_c x'[u, j + c·M*] with x' = x + input_offset (0 in the padding),
 * P[u, v] = ⟨F'[u, :], Φ[v, :]⟩, I[u, v] = P[u, v] + I[u − 1, v − 1], and each output is
 * G[t, n] = I[t + L − 1, n·s + L − 1] − I[t − 1, n·s − 1]. Only the previous I row and a ring of
 * the last L rows at columns n·s − 1 are kept. I rows are stored shifted by one word (slot 0 is
 * I[u, −1] = 0), so no column needs a bounds test. I runs in uint32: the differences are exact modulo
 * 2^32 and every true G fits in int32, so wrap-around is harmless.
 * Parameters: tas_ws_conv_common.h. */
#include "tas_kernels.h"
#include "tas_requantize.h"
#include "tas_ws_conv_common.h"

/* F'[j] for one input row: the raw sum over the C repeats, plus C·input_offset once. */
static void tas_ws_channel_presum(const tas_ws_conv_params *p, const int8_t *row, int32_t *row_sum)
{
    const int32_t channels = p->input_channels, condensed_channels = p->condensed_channels;
    const int32_t repeat_offset = (channels / condensed_channels) * p->input_offset;
    for (int32_t j = 0; j < condensed_channels; ++j) {
        int32_t sum = repeat_offset;
        for (int32_t m = j; m < channels; m += condensed_channels) {
            sum += (int32_t)row[m];
        }
        row_sum[j] = sum;
    }
}

/* current[v + 1] = ⟨F', Φ[v]⟩ + previous[v] (= I[u, v] = P[u, v] + I[u − 1, v − 1]) for every v.
 * Four rows of Φ per pass: each F'[j] is loaded once for four products, which roughly halves the
 * instructions per multiply-accumulate when M* is small (M* is 2-16 in WSNet's layers). Not
 * inlined: alone, its 4 accumulators and 4 filter pointers stay in registers (inlined into the
 * row loop GCC spilled the pointers, measured 22 instead of 11 instructions per 4 MACs). */
__attribute__((noinline)) static void tas_ws_diagonal_row(const tas_ws_conv_params *p, const int32_t *row_sum, const int8_t *condensed,
                                const uint32_t *previous, uint32_t *current)
{
    /* Parameters in locals: the stores below are int32 and could alias *p, which would make the
     * compiler reload every field inside the loops. */
    const int32_t channels = p->condensed_channels, length = p->condensed_length;
    const int32_t blocked_end = length & ~3;
    for (int32_t v = 0; v < blocked_end; v += 4) {
        const int8_t *phi0 = condensed + v * channels;
        const int8_t *phi1 = phi0 + channels;
        const int8_t *phi2 = phi1 + channels;
        const int8_t *phi3 = phi2 + channels;
        int32_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;
        for (int32_t j = 0; j < channels; ++j) {
            const int32_t f = row_sum[j];
            p0 += f * phi0[j];
            p1 += f * phi1[j];
            p2 += f * phi2[j];
            p3 += f * phi3[j];
        }
        current[v + 1] = (uint32_t)p0 + previous[v];
        current[v + 2] = (uint32_t)p1 + previous[v + 1];
        current[v + 3] = (uint32_t)p2 + previous[v + 2];
        current[v + 4] = (uint32_t)p3 + previous[v + 3];
    }
    for (int32_t v = blocked_end; v < length; ++v) {
        const int8_t *phi = condensed + v * channels;
        int32_t product = 0;
        for (int32_t j = 0; j < channels; ++j) {
            product += row_sum[j] * phi[j];
        }
        current[v + 1] = (uint32_t)product + previous[v];
    }
}

TAS_KERNEL void tas_ws_conv_integral_s8(const tas_ws_conv_params *p, const int8_t *input, const int8_t *condensed,
                                        const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                        int32_t *scratch, int8_t *output)
{
    /* Parameters in locals (see tas_ws_diagonal_row). */
    const int32_t length = p->condensed_length, condensed_channels = p->condensed_channels;
    const int32_t kernel_size = p->kernel_size, filters = p->filters, sampling_stride = p->sampling_stride;
    const int32_t stride = p->stride, pad_before = p->pad_before, input_length = p->input_length;
    const int32_t input_channels = p->input_channels, output_offset = p->output_offset;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    int32_t *row_sum = scratch;
    uint32_t *previous = (uint32_t *)(scratch + condensed_channels); /* previous[v + 1] = I[u − 1, v] */
    uint32_t *current = previous + length + 1;
    uint32_t *ring = current + length + 1; /* ring[(u mod L)·N + n] = I[u, n·s − 1] */
    const int32_t rows = (p->output_length - 1) * stride + kernel_size;

    for (int32_t v = 0; v <= length; ++v) {
        previous[v] = 0u; /* I[−1, :] */
    }
    current[0] = 0u;
    for (int32_t k = 0; k < kernel_size * filters; ++k) {
        ring[k] = 0u; /* I[u, :] = 0 for the rows before the first */
    }
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t u = r - pad_before;
        if (u >= 0 && u < input_length) {
            tas_ws_channel_presum(p, input + u * input_channels, row_sum);
        } else {
            for (int32_t j = 0; j < condensed_channels; ++j) {
                row_sum[j] = 0; /* padding: x' = 0 */
            }
        }
        tas_ws_diagonal_row(p, row_sum, condensed, previous, current);
        uint32_t *ring_row = ring + (r % kernel_size) * filters; /* holds row r − L until overwritten */
        const int32_t first_row = r - kernel_size + 1;             /* window start of a finished output */
        if (first_row >= 0 && first_row % stride == 0) {
            int8_t *out = output + (first_row / stride) * filters;
            const uint32_t *last = current + kernel_size; /* last[n·s] = I[r, n·s + L − 1] */
            for (int32_t n = 0; n < filters; ++n) {
                int32_t acc = (int32_t)(last[n * sampling_stride] - ring_row[n]);
                if (bias) {
                    acc += bias[n];
                }
                acc = tas_requantize_positive(acc, multiplier[n], shift[n]) + output_offset;
                out[n] = (int8_t)tas_clamp(acc, act_min, act_max);
            }
        }
        for (int32_t n = 0; n < filters; ++n) {
            ring_row[n] = current[n * sampling_stride]; /* I[r, n·s − 1] */
        }
        uint32_t *swap = previous;
        previous = current;
        current = swap;
    }
}
