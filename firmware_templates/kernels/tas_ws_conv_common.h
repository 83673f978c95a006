/* WS_CONV (WSNet weight-sampling convolution, DESIGN §4, docs/ws_conv.md): the parameters both
 * kernels share. A (T, 1, M) int8 input is read as [input_length, input_channels]. */
#ifndef TAS_WS_CONV_COMMON_H
#define TAS_WS_CONV_COMMON_H

#include <stdint.h>

typedef struct {
    int32_t input_length, input_channels, condensed_length, condensed_channels;
    int32_t kernel_size, filters, sampling_stride, stride, pad_before, output_length;
    int32_t input_offset, output_offset, act_min, act_max;
} tas_ws_conv_params;

static inline int32_t tas_ws_conv_scratch_words(const tas_ws_conv_params *p)
{
    return p->condensed_channels + 2 * (p->condensed_length + 1) + p->kernel_size * p->filters;
}

/* The DSP integral kernel widens Φ into int16 pairs in scratch once per call (two MACs per load and SMLAD),
 * unless Φ is large (over 4,096 words widened) and M* is a multiple of 4 and at least 8: then it reads Φ in
 * place as int8 words and widens them by SXTB16 (compile/wsconv.py: integral_dsp_reads_in_place). */
#define TAS_WS_WIDENED_WORDS_MAX 4096
static inline int32_t tas_ws_in_place(int32_t condensed_channels, int32_t condensed_length)
{
    return condensed_channels >= 8 && condensed_channels % 4 == 0
           && (condensed_channels + 1) / 2 * condensed_length > TAS_WS_WIDENED_WORDS_MAX;
}

/* The DSP integral kernel's layout of Φ (in block rows, [L*', M*']): when read in place and M*' is a multiple of 8,
 * in slabs of 8 channels (slab g: for every row v, the bytes Φ[v, 8g … 8g + 7]) so a pass over a slab reads it
 * in order (compile/wsconv.py: integral_dsp_condensed); else the rows as they are. */
static inline int32_t tas_ws_slabs(int32_t condensed_channels, int32_t condensed_length)
{
    return condensed_channels % 8 == 0 && tas_ws_in_place(condensed_channels, condensed_length);
}

/* The DSP integral kernel runs a strided layer on blocks of `stride` time steps when the kernel size
 * and sampling stride are multiples of the stride (compile/wsconv.py: integral_fold). */
static inline int32_t tas_ws_conv_fold(const tas_ws_conv_params *p)
{
    const int32_t s = p->stride;
    return (s > 1 && p->kernel_size % s == 0 && p->sampling_stride % s == 0) ? s : 1;
}

/* The DSP integral kernel's scratch, in block rows: F' of two rows as int16 pairs ((M*' + 1) / 2 words each), every
 * row of Φ widened the same way unless read in place, the two I rows, the ring, and one block row of
 * input bytes when folded. */
static inline int32_t tas_ws_conv_dsp_scratch_words(const tas_ws_conv_params *p)
{
    const int32_t fold = tas_ws_conv_fold(p), channels = p->condensed_channels * fold, length = p->condensed_length / fold;
    const int32_t pairs = (channels + 1) / 2;
    const int32_t widened = tas_ws_in_place(channels, length) ? 0 : pairs * length;
    const int32_t edge = fold > 1 ? (fold * p->input_channels + 3) / 4 : 0;
    return 2 * pairs + widened + 2 * (length + 1) + (p->kernel_size / fold) * p->filters + edge;
}


#endif /* TAS_WS_CONV_COMMON_H */
