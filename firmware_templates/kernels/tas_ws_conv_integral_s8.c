/* WS_CONV by the integral image (WSNet, DESIGN §4), streaming over input rows, int8.
 * input     [input_length, input_channels] int8 (a (T, 1, M) tensor), zero point −input_offset
 * condensed [condensed_length, condensed_channels] int8: Φ, one per-tensor scale
 * bias, multiplier, shift [filters]; output [output_length, filters] int8
 * scratch   tas_ws_conv_scratch_words(p) int32 words
 * The sampled kernel K[l, m, n] = Φ[n·s + l, m mod M*] is never built. For each (padded) input
 * row u: F'[u, j] = Σ_c x'[u, j + c·M*] with x' = x + input_offset (0 in the padding),
 * P[u, v] = ⟨F'[u, :], Φ[v, :]⟩, I[u, v] = P[u, v] + I[u − 1, v − 1], and each output is
 * G[t, n] = I[t + L − 1, n·s + L − 1] − I[t − 1, n·s − 1]. Only the previous I row and a ring of
 * the last L rows at columns n·s − 1 are kept. I runs in uint32: the differences are exact modulo
 * 2^32 and every true G fits in int32, so wrap-around is harmless. */
typedef struct {
    int32_t input_length, input_channels, condensed_length, condensed_channels;
    int32_t kernel_size, filters, sampling_stride, stride, pad_before, output_length;
    int32_t input_offset, output_offset, act_min, act_max;
} tas_ws_conv_params;

static inline int32_t tas_ws_conv_scratch_words(const tas_ws_conv_params *p)
{
    return p->condensed_channels + 2 * p->condensed_length + p->kernel_size * p->filters;
}

/* F'[j] for one input row; zero for padding rows (their x' is 0 by definition). */
static void tas_ws_channel_presum(const tas_ws_conv_params *p, const int8_t *row, int32_t *row_sum)
{
    for (int32_t j = 0; j < p->condensed_channels; ++j) {
        int32_t sum = 0;
        for (int32_t m = j; m < p->input_channels; m += p->condensed_channels) {
            sum += (int32_t)row[m] + p->input_offset;
        }
        row_sum[j] = sum;
    }
}

static void tas_ws_conv_integral_s8(const tas_ws_conv_params *p, const int8_t *input, const int8_t *condensed,
                                    const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                    int32_t *scratch, int8_t *output)
{
    int32_t *row_sum = scratch;
    uint32_t *previous = (uint32_t *)(scratch + p->condensed_channels);
    uint32_t *current = previous + p->condensed_length;
    uint32_t *ring = current + p->condensed_length; /* ring[(u mod L)·N + n] = I[u, n·s − 1] */
    const int32_t rows = (p->output_length - 1) * p->stride + p->kernel_size;

    for (int32_t v = 0; v < p->condensed_length; ++v) {
        previous[v] = 0u; /* I[−1, :] */
    }
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t u = r - p->pad_before;
        if (u >= 0 && u < p->input_length) {
            tas_ws_channel_presum(p, input + u * p->input_channels, row_sum);
        } else {
            for (int32_t j = 0; j < p->condensed_channels; ++j) {
                row_sum[j] = 0;
            }
        }
        for (int32_t v = 0; v < p->condensed_length; ++v) {
            const int8_t *phi = condensed + v * p->condensed_channels;
            int32_t product = 0;
            /* M* is often 4-16: unroll the short loop by four, then the remainder. (Bounds are
             * computed up front: GCC's loop analysis misfires on `for (; j + 4 <= n; j += 4)`
             * followed by `for (; j < n; ++j)` once n is a known constant.) */
            const int32_t unrolled_end = p->condensed_channels & ~3;
            for (int32_t j = 0; j < unrolled_end; j += 4) {
                product += row_sum[j] * (int32_t)phi[j] + row_sum[j + 1] * (int32_t)phi[j + 1]
                         + row_sum[j + 2] * (int32_t)phi[j + 2] + row_sum[j + 3] * (int32_t)phi[j + 3];
            }
            for (int32_t j = unrolled_end; j < p->condensed_channels; ++j) {
                product += row_sum[j] * (int32_t)phi[j];
            }
            current[v] = (uint32_t)product + (v > 0 ? previous[v - 1] : 0u);
        }
        uint32_t *ring_row = ring + (r % p->kernel_size) * p->filters; /* holds row r − L until overwritten */
        const int32_t first_row = r - p->kernel_size + 1;                  /* window start of a finished output */
        if (first_row >= 0 && first_row % p->stride == 0) {
            const int32_t t = first_row / p->stride;
            for (int32_t n = 0; n < p->filters; ++n) {
                const int32_t column = n * p->sampling_stride;
                const uint32_t before = (first_row > 0 && column > 0) ? ring_row[n] : 0u;
                int32_t acc = (int32_t)(current[column + p->kernel_size - 1] - before);
                if (bias) {
                    acc += bias[n];
                }
                acc = tas_requantize(acc, multiplier[n], shift[n]) + p->output_offset;
                output[t * p->filters + n] = (int8_t)tas_clamp(acc, p->act_min, p->act_max);
            }
        }
        for (int32_t n = 0; n < p->filters; ++n) {
            const int32_t column = n * p->sampling_stride;
            ring_row[n] = column > 0 ? current[column - 1] : 0u;
        }
        uint32_t *swap = previous;
        previous = current;
        current = swap;
    }
}
