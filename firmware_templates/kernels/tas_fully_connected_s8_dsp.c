/* tas_fully_connected_s8 for cores with the DSP extension: same layouts for input and output, same
 * bit-exact results, two MACs per SMLAD.
 * input [batches, input_depth] int8; stream (compile/ops/fully_connected_dsp.py: pack_weight_stream;
 * with_bias 0, offset_in_widening: no bias words, see below):
 * the [output_depth, input_depth] int8 weights, each channel's row zero-padded to a whole number of
 * words (quads of 4 inputs), one byte per weight, in blocks of 4 channels: per block the 4 folded
 * biases (bias + input_offset·Σ weights, computed at export time), then per quad the 4 channels'
 * words (pack_mat_mult_weights(padded, 4)); each of the output_depth % 4 channels left over follows
 * alone, its folded bias then its row. requant (compile/ops/fully_connected_dsp.py:
 * pack_fc_requantization): requant_step 1, per block of 4 channels their 4 multipliers and one word
 * of their second values (see below; they fit a byte: byte k for channel k), 5 bytes a channel, then
 * the pair (multiplier, second value) of each channel left over; requant_step 0, one pair for all;
 * widened: scratch of 2·widened_quads words (NULL when 0); output [batches, output_depth].
 *
 * Each row's first widened_quads quads are widened to halfword pairs once (SXTB16 ×2 per quad) into
 * `widened`, so a quad of a 4-channel block costs LDRD + LDM + 8 SXTB16 + 8 SMLAD for 16 MACs; the
 * quads after them (the export caps the scratch, compile/ops/fully_connected_dsp.py) are widened
 * for each block on the way (LDR + 2 SXTB16 more). The padded last quad of an odd depth is read
 * from a zero-padded copy of the row's tail bytes, never past the input. A layer without bias whose
 * whole row fits the scratch (with_bias 0) is widened with the input offset added (SXTAB16, the same
 * instruction count), so its sums Σ (x + input_offset)·w start at 0 and the stream stores no bias.
 *
 * Requantization, fast (fast_requant 1, chosen at export when it is exact for every input): the
 * second value is r - 1 for the right shift r >= 1, and the output offset rides in the rounding
 * term: with acc bounded so that 2·acc and acc + add fit int32 (the export proves it from the
 * weights and bias), TFLite's requantize(acc) + output_offset is
 * (SMMLAR(2·acc, m, add) - [acc < 0]) >> r with add = 2^(r-1)·(2·output_offset + 1), since
 * output_offset·2^r is a multiple of 2^r (tas_requantize.h has the SMMLAR identities). Per channel:
 * LDR, LSL, ADD, SMMLAR, ADD, ASR, SSAT (whose ASR #1 is the last bit of r). Otherwise (fast_requant
 * 0) the second value is TFLite's shift and each value takes tas_requant_channel_apply (with its
 * overflow fallback). Four outputs are packed into a word and clamped to the activation range with
 * SSUB8 + SEL per bound. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_mat_mult_dsp.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* One quad of 4 channels from the widened row: LDRD + LDM + 8 SXTB16 + 8 SMLAD for 16 MACs, channel
 * 0's weight word in r8 (the LDM fills r8-r11 in register order). */
#define TAS_FC_QUAD_WIDENED                  \
    "ldrd %[xe], %[xo], [%[x]], #8\n\t"      \
    "ldmia %[w]!, {r8, r9, r10, r11}\n\t"    \
    "sxtb16 %[t], r8\n\t"                    \
    "smlad %[c0], %[t], %[xe], %[c0]\n\t"    \
    "sxtb16 %[t], r8, ror #8\n\t"            \
    "smlad %[c0], %[t], %[xo], %[c0]\n\t"    \
    "sxtb16 %[t], r9\n\t"                    \
    "smlad %[c1], %[t], %[xe], %[c1]\n\t"    \
    "sxtb16 %[t], r9, ror #8\n\t"            \
    "smlad %[c1], %[t], %[xo], %[c1]\n\t"    \
    "sxtb16 %[t], r10\n\t"                   \
    "smlad %[c2], %[t], %[xe], %[c2]\n\t"    \
    "sxtb16 %[t], r10, ror #8\n\t"           \
    "smlad %[c2], %[t], %[xo], %[c2]\n\t"    \
    "sxtb16 %[t], r11\n\t"                   \
    "smlad %[c3], %[t], %[xe], %[c3]\n\t"    \
    "sxtb16 %[t], r11, ror #8\n\t"           \
    "smlad %[c3], %[t], %[xo], %[c3]\n\t"
/* The quads as one asm statement: GCC 12 moves accumulators between registers between separate ones. */
#define TAS_FC_QUADS_WIDENED(QUADS)                                                                          \
    do {                                                                                                     \
        int32_t x_even, x_odd, widened_w;                                                                    \
        __asm__(QUADS                                                                                        \
                : [c0] "+r"(acc.c0), [c1] "+r"(acc.c1), [c2] "+r"(acc.c2), [c3] "+r"(acc.c3), [x] "+r"(*x),  \
                  [w] "+r"(*w), [xe] "=&r"(x_even), [xo] "=&r"(x_odd), [t] "=&r"(widened_w)                 \
                :                                                                                            \
                : "r8", "r9", "r10", "r11", "memory");                                                       \
    } while (0)
#endif

/* acc + one quad of 4 channels from the widened row (2 words at *x) and the channels' weight words
 * (4 words at *w); both pointers move past what they read. */
static inline tas_mat_acc4 tas_fc_quad_widened(const int32_t **x, const int32_t **w, tas_mat_acc4 acc)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    TAS_FC_QUADS_WIDENED(TAS_FC_QUAD_WIDENED);
#else
    const tas_widened lanes = {(*x)[0], (*x)[1]};
    *x += 2;
    acc.c0 = tas_mac4(tas_widen((*w)[0]), lanes, acc.c0);
    acc.c1 = tas_mac4(tas_widen((*w)[1]), lanes, acc.c1);
    acc.c2 = tas_mac4(tas_widen((*w)[2]), lanes, acc.c2);
    acc.c3 = tas_mac4(tas_widen((*w)[3]), lanes, acc.c3);
    *w += TAS_MAT_MULT_BLOCK_ONE_ROW;
#endif
    return acc;
}

/* Eight quads in turn. */
static inline tas_mat_acc4 tas_fc_8_quads_widened(const int32_t **x, const int32_t **w, tas_mat_acc4 acc)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    TAS_FC_QUADS_WIDENED(TAS_FC_QUAD_WIDENED TAS_FC_QUAD_WIDENED TAS_FC_QUAD_WIDENED TAS_FC_QUAD_WIDENED
                             TAS_FC_QUAD_WIDENED TAS_FC_QUAD_WIDENED TAS_FC_QUAD_WIDENED TAS_FC_QUAD_WIDENED);
#else
    for (int32_t quad = 0; quad < 8; ++quad) {
        acc = tas_fc_quad_widened(x, w, acc);
    }
#endif
    return acc;
}

/* One row of the layer: its bytes, its widened prefix and its zero-padded tail quad. */
typedef struct {
    const int8_t *in;        /* the row's int8 inputs */
    const int32_t *widened;  /* quads [0, widened_quads) as (even, odd) word pairs */
    int32_t widened_quads;   /* quads widened in `widened` */
    int32_t full_quads;      /* input_depth / 4 */
    int32_t padded_quads;    /* full_quads, plus one when input_depth % 4 */
    int32_t tail_word;       /* the depth % 4 tail bytes, zero-padded to a word */
} tas_fc_row;

/* acc + Σ of 4 channels over the whole row; *w moves past the block. */
static inline tas_mat_acc4 tas_fc_dot_4ch(const tas_fc_row *row, const int32_t **w, tas_mat_acc4 acc)
{
    const int32_t *x = row->widened;
    /* Groups of eight quads, counted down to zero: one SUBS and branch per 128 MACs. */
    for (int32_t groups = row->widened_quads >> 3; groups > 0; --groups) {
        acc = tas_fc_8_quads_widened(&x, w, acc);
    }
    for (int32_t quads = row->widened_quads & 7; quads > 0; --quads) {
        acc = tas_fc_quad_widened(&x, w, acc);
    }
    if (row->widened_quads < row->padded_quads) { /* the quads past the scratch, widened on the way */
        const int8_t *in = row->in + 4 * row->widened_quads;
        const int32_t quads = row->full_quads - row->widened_quads;
        for (int32_t groups = quads >> 2; groups > 0; --groups) {
            acc = tas_mat_quad_4ch(&in, w, acc);
            acc = tas_mat_quad_4ch(&in, w, acc);
            acc = tas_mat_quad_4ch(&in, w, acc);
            acc = tas_mat_quad_4ch(&in, w, acc);
        }
        for (int32_t left = quads & 3; left > 0; --left) {
            acc = tas_mat_quad_4ch(&in, w, acc);
        }
        if (row->full_quads < row->padded_quads) {
            const int8_t *tail = (const int8_t *)&row->tail_word;
            acc = tas_mat_quad_4ch(&tail, w, acc);
        }
    }
    return acc;
}

/* acc + Σ of one channel packed alone (padded_quads words at w). */
static inline int32_t tas_fc_dot_1ch(const tas_fc_row *row, const int32_t *w, int32_t acc)
{
    int32_t quad = 0;
    for (; quad < row->widened_quads; ++quad) {
        const tas_widened x = {row->widened[2 * quad], row->widened[2 * quad + 1]};
        acc = tas_mac4(tas_widen(w[quad]), x, acc);
    }
    for (; quad < row->full_quads; ++quad) {
        acc = tas_mac4(tas_widen(w[quad]), tas_widen(tas_read_word(row->in + 4 * quad)), acc);
    }
    if (quad < row->padded_quads) {
        acc = tas_mac4(tas_widen(w[quad]), tas_widen(row->tail_word), acc);
    }
    return acc;
}

/* Words of one 4-channel block's requantization record: 4 multipliers, then their 4 second values
 * (r - 1 or shift), byte k for channel k. */
#define TAS_FC_REQUANT_BLOCK_WORDS 5

/* The layer's requantization: the words, their step, the fast form's offset term. */
typedef struct {
    const int32_t *requant; /* 4-channel records, then (multiplier, second) per channel left over; or one pair */
    int32_t step;           /* 1: per channel (the layout above); 0: one pair for all */
    int32_t fast;           /* 1: the fast form; 0: tas_requant_channel_apply */
    int32_t offset_term;    /* 2·output_offset + 1 (fast form) */
    int32_t output_offset;
} tas_fc_requant;

/* requantize(acc) + output_offset with multiplier m and second value s, saturated to int8. */
static inline int32_t tas_fc_requantize(const tas_fc_requant *q, int32_t m, int32_t s, int32_t acc)
{
    if (q->fast) {
        return tas_mat_fast_requantize(acc, m, (int32_t)((uint32_t)q->offset_term << s), s);
    }
    const tas_requant_channel r = tas_requant_channel_of(m, s);
    return tas_clamp(tas_requant_channel_apply(acc, &r) + q->output_offset, -128, 127);
}

/* Channel k's second value in a block record: its byte of the record's last word, sign-extended. */
static inline int32_t tas_fc_second(const int32_t *record, int32_t k)
{
    return (int32_t)(int8_t)(uint8_t)((uint32_t)record[4] >> (8 * k));
}

/* Four int8 values (each in [-128, 127]) as one word, channel 0 in the low byte. */
static inline int32_t tas_fc_pack4(int32_t v0, int32_t v1, int32_t v2, int32_t v3)
{
    return (int32_t)((uint32_t)(uint8_t)v0 | (uint32_t)(uint8_t)v1 << 8 | (uint32_t)(uint8_t)v2 << 16 |
                     (uint32_t)(uint8_t)v3 << 24);
}

/* The fast form for a block of 4 channels, their record at `record`, as 4 int8 in one word. */
static inline int32_t tas_fc_requantize4_fast(tas_mat_acc4 acc, const int32_t *record, int32_t offset_term)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    /* Written out: GCC 12 reloads offset_term per channel. LSL and ASR by a register read its low
     * byte only, so channel k's r - 1 is the bytes word shifted right by 8·k (one LSR for channels
     * 1-3, one LDR of the word per block). 7 instructions per channel, 3 LSR and 3 BFI a block. */
    int32_t multiplier, bytes, add, high;
#define TAS_FC_REQUANTIZE_ONE(c, offset, next)                                                                    \
    "ldr %[m], [%[p], #" offset "]\n\t"                                                                         \
    "lsl %[add], %[ot], %[r]\n\t"                                                                                \
    "add %[h], %[" c "], %[" c "]\n\t"                                                                           \
    "smmlar %[h], %[h], %[m], %[add]\n\t"                                                                        \
    "add %[h], %[h], %[" c "], asr #31\n\t"                                                                      \
    "asr %[h], %[h], %[r]\n\t"                                                                                   \
    "ssat %[" c "], #8, %[h], asr #1\n\t" next
    __asm__("ldr %[r], [%[p], #16]\n\t"
            TAS_FC_REQUANTIZE_ONE("c0", "0", "lsr %[r], %[r], #8\n\t")
            TAS_FC_REQUANTIZE_ONE("c1", "4", "lsr %[r], %[r], #8\n\t")
            TAS_FC_REQUANTIZE_ONE("c2", "8", "lsr %[r], %[r], #8\n\t")
            TAS_FC_REQUANTIZE_ONE("c3", "12", "")
            "bfi %[c0], %[c1], #8, #8\n\t"
            "bfi %[c0], %[c2], #16, #8\n\t"
            "bfi %[c0], %[c3], #24, #8"
            : [c0] "+&r"(acc.c0), [c1] "+&r"(acc.c1), [c2] "+&r"(acc.c2), [c3] "+&r"(acc.c3), [m] "=&r"(multiplier),
              [r] "=&r"(bytes), [add] "=&r"(add), [h] "=&r"(high)
            : [p] "r"(record), [ot] "r"(offset_term), "m"(*(const int32_t(*)[TAS_FC_REQUANT_BLOCK_WORDS])record));
#undef TAS_FC_REQUANTIZE_ONE
    return acc.c0;
#else
    const tas_fc_requant q = {record, 1, 1, offset_term, 0};
    return tas_fc_pack4(tas_fc_requantize(&q, record[0], tas_fc_second(record, 0), acc.c0),
                        tas_fc_requantize(&q, record[1], tas_fc_second(record, 1), acc.c1),
                        tas_fc_requantize(&q, record[2], tas_fc_second(record, 2), acc.c2),
                        tas_fc_requantize(&q, record[3], tas_fc_second(record, 3), acc.c3));
#endif
}

/* Every output channel of one row. The weight stream holds, per block of 4 channels, their 4
 * folded biases and then their quads' words; per channel left over, its bias and its padded row. */
static inline void tas_fc_row_outputs(const tas_fully_connected_params *p, const tas_fc_row *row,
                                      const int32_t *stream, int32_t with_bias, const tas_fc_requant *q, int8_t *out)
{
    const int32_t low = tas_splat_s8x4(p->act_min), high = tas_splat_s8x4(p->act_max);
    const int32_t clamps = p->act_min > -128 || p->act_max < 127;
    const int32_t blocked_end = p->output_depth - p->output_depth % TAS_MAT_MULT_BLOCK_ONE_ROW;
    /* Per block, the 4 channels' record: from the array, or built once from the layer's one pair. */
    int32_t copy[TAS_FC_REQUANT_BLOCK_WORDS];
    const int32_t *record = q->requant;
    const int32_t record_step = q->step ? TAS_FC_REQUANT_BLOCK_WORDS : 0;
    if (q->step == 0) {
        const uint32_t second = (uint8_t)q->requant[1];
        copy[0] = copy[1] = copy[2] = copy[3] = q->requant[0];
        copy[4] = (int32_t)(second | second << 8 | second << 16 | second << 24);
        record = copy;
    }
    const int32_t *w = stream;
    const int32_t bias_words = with_bias ? 1 : 0;
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_BLOCK_ONE_ROW) {
        tas_mat_acc4 acc = {0, 0, 0, 0};
        if (with_bias) {
            const tas_mat_acc4 bias = {w[0], w[1], w[2], w[3]};
            acc = bias;
            w += TAS_MAT_MULT_BLOCK_ONE_ROW;
        }
        acc = tas_fc_dot_4ch(row, &w, acc);
        int32_t packed;
        if (q->fast) {
            packed = tas_fc_requantize4_fast(acc, record, q->offset_term);
        } else {
            packed = tas_fc_pack4(tas_fc_requantize(q, record[0], tas_fc_second(record, 0), acc.c0),
                                  tas_fc_requantize(q, record[1], tas_fc_second(record, 1), acc.c1),
                                  tas_fc_requantize(q, record[2], tas_fc_second(record, 2), acc.c2),
                                  tas_fc_requantize(q, record[3], tas_fc_second(record, 3), acc.c3));
        }
        record += record_step;
        if (clamps) {
            packed = tas_min_s8x4(tas_max_s8x4(packed, low), high);
        }
        tas_write_word(out + c, packed);
    }
    /* The channels left over: a pair each (after the records), or the layer's one pair. */
    const int32_t *pair = q->step ? record : q->requant;
    for (int32_t c = blocked_end; c < p->output_depth; ++c) {
        const int32_t acc = tas_fc_dot_1ch(row, w + bias_words, with_bias ? w[0] : 0);
        const int32_t v = tas_fc_requantize(q, pair[0], pair[1], acc);
        out[c] = (int8_t)tas_clamp(v, p->act_min, p->act_max);
        pair += 2 * q->step;
        w += bias_words + row->padded_quads;
    }
}

TAS_KERNEL void tas_fully_connected_s8_dsp(const tas_fully_connected_params *p, const int8_t *input,
                                           const int32_t *stream, int32_t with_bias, const int32_t *requant,
                                           int32_t requant_step, int32_t fast_requant, int32_t widened_quads,
                                           int32_t *widened, int8_t *output)
{
    /* Without bias words the whole row is widened (the export's condition) with the input offset
     * added (SXTAB16): the offset pair; with them, plain SXTB16 (the offset is in the folded bias). */
    const int32_t offset_pair = with_bias ? 0 : (int32_t)(((uint32_t)p->input_offset & 0xFFFFu) * 0x10001u);
    const int32_t depth = p->input_depth, full_quads = depth / 4;
    const tas_fc_requant q = {requant, requant_step, fast_requant, 2 * p->output_offset + 1, p->output_offset};
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * depth;
        tas_fc_row row = {in, widened, widened_quads, full_quads, (depth + 3) / 4, 0};
        int8_t *tail_bytes = (int8_t *)&row.tail_word;
        for (int32_t t = 0; t < depth % 4; ++t) {
            tail_bytes[t] = in[4 * full_quads + t];
        }
        const int32_t whole = widened_quads < full_quads ? widened_quads : full_quads;
        for (int32_t quad = 0; quad < whole; ++quad) {
            const int32_t word = tas_read_word(in + 4 * quad);
            widened[2 * quad] = tas_sxtab16(offset_pair, word);
            widened[2 * quad + 1] = tas_sxtab16_ror8(offset_pair, word);
        }
        if (whole < widened_quads) { /* the padded tail quad, widened with the rest (its zero weights
                                        make its padding lanes' offset count nothing) */
            widened[2 * whole] = tas_sxtab16(offset_pair, row.tail_word);
            widened[2 * whole + 1] = tas_sxtab16_ror8(offset_pair, row.tail_word);
        }
        tas_fc_row_outputs(p, &row, stream, with_bias, &q, output + b * p->output_depth);
    }
}
