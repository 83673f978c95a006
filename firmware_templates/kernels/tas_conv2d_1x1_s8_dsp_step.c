/* tas_conv2d_1x1_s8_dsp_step: one step of a row stream (tinyasc/compile/rowstream.py) through the
 * 1x1 DSP kernel (tas_conv2d_1x1_s8_dsp.c: layouts and arithmetic, bit-exact with it), for steps of
 * an odd number of pixels (KWS DS-CNN's 5-pixel rows). The whole layer pairs pixels (2i, 2i + 1);
 * step `step` of `steps` holds pixels step·P .. step·P + P - 1 (P = output_height·output_width of the
 * block), so with P odd every other step would leave one pixel to the slow single-row path. Here
 * the pairs stay the layer's: a step ending inside a pair widens its last pixel into the row-a lanes
 * of `scratch` (tas_mat_widen_rows' layout) and leaves it there; the next step, starting inside that
 * pair, widens its first pixel into the row-b lanes and runs the pair, writing the kept pixel's
 * outputs at `carry_output` (where the previous step's last pixel goes). Only the last step runs a
 * pixel alone, as the whole layer does. Stride 1, input depth a multiple of 4 (no tail bytes to
 * keep); scratch as tas_conv2d_1x1_s8_dsp's, untouched by the stream between its steps.
 * When the whole layer goes three pixels at a time (tas_mat_triples_apply) and steps hold 2 or more
 * pixels, the triples stay the layer's in the same way: a step keeps the 1 or 2 pixels of its last,
 * open triple widened in the lanes of rows a (and b), and the next step completes it, writing the
 * kept pixels' outputs at carry_output (the last one) and carry_output - output_depth. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_conv2d_1x1_dsp.h"

/* The pixel at `in` widened into one row's lanes: lane = scratch (row a) or scratch + 2 (row b). */
static inline void tas_1x1_step_widen_lane(const int8_t *in, int32_t quads, int32_t *lane)
{
    for (int32_t quad = 0; quad < quads; ++quad, lane += 4) {
        const tas_widened x = tas_widen(tas_read_word(in + 4 * quad));
        lane[0] = x.even;
        lane[1] = x.odd;
    }
}

/* A step of 2 or more pixels with the layer's triples: `kept` pixels (0-2) of an open triple wait in
 * the lanes of rows a (and b) of `widened`; the last step runs its last 1-2 pixels alone or as a pair. */
static inline void tas_1x1_step_triples(const tas_mat_mult *m, const int8_t *input, int32_t pixels, int32_t *widened,
                                        int8_t *output, int8_t *carry_output, int32_t last_step, int32_t kept)
{
    const int32_t quads = m->depth / 4, in_depth = m->depth, out_depth = m->output_depth;
    int32_t pixel = 0;
    if (kept) { /* complete the triple the step before left open */
        int8_t *outs[3];
        for (int32_t lane = 0; lane < 3; ++lane) {
            if (lane < kept) {
                outs[lane] = carry_output - (kept - 1 - lane) * out_depth;
            } else {
                tas_mat_widen_lane3(input + (lane - kept) * in_depth, quads, widened + 2 * lane);
                outs[lane] = output + (lane - kept) * out_depth;
            }
        }
        tas_mat_mult_widened_triple(m, widened, outs[0], outs[1], outs[2]);
        pixel = 3 - kept;
    }
    for (; pixel + 3 <= pixels; pixel += 3) {
        const int8_t *in = input + pixel * in_depth;
        tas_mat_mult_three_rows(m, in, in + in_depth, in + 2 * in_depth, widened, output + pixel * out_depth, out_depth);
    }
    if (pixel == pixels) {
        return;
    }
    if (!last_step) { /* the last 1-2 pixels open the next triple */
        for (int32_t lane = 0; pixel + lane < pixels; ++lane) {
            tas_mat_widen_lane3(input + (pixel + lane) * in_depth, quads, widened + 2 * lane);
        }
    } else if (pixel + 2 == pixels) {
        const int8_t *in = input + pixel * in_depth;
        tas_mat_mult_two_rows(m, in, in + in_depth, widened, output + pixel * out_depth, output + (pixel + 1) * out_depth);
    } else {
        tas_mat_mult_one_row_pairs(m, input + pixel * in_depth, widened, output + pixel * out_depth);
    }
}

TAS_KERNEL __attribute__((flatten)) void tas_conv2d_1x1_s8_dsp_step(const tas_conv2d_params *p, const int8_t *input,
                                           const int32_t *packed_filter, const int32_t *folded_bias,
                                           const int32_t *multiplier, const int32_t *shift, int32_t quant_step,
                                           int32_t fast_requant, int32_t *scratch, int8_t *output,
                                           int8_t *carry_output, int32_t step, int32_t steps)
{
    const tas_mat_mult m = {
        .depth = p->input_depth, .output_depth = p->output_depth, .packed_weights = packed_filter,
        .folded_bias = folded_bias, .multiplier = multiplier, .shift = shift, .quant_step = quant_step,
        .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
        .fast_requant = fast_requant,
    };
    const int32_t pixels = p->output_height * p->output_width, quads = p->input_depth / 4;
    const int32_t in_depth = p->input_depth, out_depth = p->output_depth;
    if (tas_mat_triples_apply(&m) && pixels > 1) {
        tas_1x1_step_triples(&m, input, pixels, scratch, output, carry_output, step + 1 == steps, step * pixels % 3);
        return;
    }
    /* One call of the pair product (GCC outlines it when called twice): pixel -1 is the kept one. */
    for (int32_t pixel = (step * pixels) & 1 ? -1 : 0; pixel + 1 < pixels; pixel += 2) {
        const int8_t *in_b = input + (pixel + 1) * in_depth;
        int8_t *out_b = output + (pixel + 1) * out_depth, *out_a = carry_output;
        if (pixel < 0) { /* the pair the step before left open: its pixel is in row a's lanes */
            tas_1x1_step_widen_lane(in_b, quads, scratch + 2);
        } else {
            tas_mat_widen_rows(input + pixel * in_depth, in_b, quads, scratch);
            out_a = out_b - out_depth;
        }
        tas_mat_mult_widened_pair(&m, scratch, in_b, in_b, out_a, out_b); /* no tail bytes */
    }
    const int32_t pixel = pixels - 1;
    if (((step + 1) * pixels) & 1) { /* the last pixel starts a pair */
        if (step + 1 < steps) { /* kept for the next step's first pixel */
            tas_1x1_step_widen_lane(input + pixel * in_depth, quads, scratch);
        } else {
            tas_mat_mult_one_row_pairs(&m, input + pixel * in_depth, scratch, output + pixel * out_depth);
        }
    }
}
