/* Host test runner for the generated model, built with sanitizers by tinyasc/compile/host.py; the
 * fast bit-exactness check. Two modes:
 *   host_runner            reads inputs from stdin, TINYASC_INPUT_SIZE values of tinyasc_input_t
 *                          each (int8, or float32 for a model with float I/O, in the host's byte
 *                          order), until end of file; writes TINYASC_OUTPUT_SIZE tinyasc_output_t
 *                          values per input to stdout.
 *   host_runner eval-pcm   (models with a PCM front-end) reads windows of TINYASC_PCM_SAMPLES
 *                          int16 samples instead and runs tinyasc_input_from_pcm before each
 *                          inference, as the firmware's eval-pcm mode does.
 *   host_runner stream     (models with a stream) reads chunks, each a uint32 count n then n int16
 *                          samples, pushes each with tinyasc_stream_push and writes every result
 *                          it makes ready: TINYASC_OUTPUT_SIZE int8 values, then as many floats
 *                          (the posterior), as the firmware's stream mode does. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

#ifndef TINYASC_INPUT_IS_FLOAT /* a model.h of the int8-only API (before float I/O existed) */
typedef int8_t tinyasc_input_t;
typedef int8_t tinyasc_output_t;
#endif

static tinyasc_input_t input[TINYASC_INPUT_SIZE];
static tinyasc_output_t output[TINYASC_OUTPUT_SIZE];

/* Reads one record of `size` bytes: 1 when read, 0 at the end of the input, -1 on a partial one. */
static int read_record(void *record, size_t size)
{
    const size_t got = fread(record, 1, size, stdin);
    if (got == 0) {
        return 0;
    }
    if (got != size) {
        fprintf(stderr, "host runner: partial input (%zu of %zu bytes)\n", got, size);
        return -1;
    }
    return 1;
}

static int invoke_and_write(void)
{
    if (tinyasc_invoke(input, output) != 0) {
        fprintf(stderr, "host runner: tinyasc_invoke failed\n");
        return 3;
    }
    if (fwrite(output, 1, sizeof output, stdout) != sizeof output) {
        return 4;
    }
    return 0;
}

#ifdef TINYASC_PCM_SAMPLES
static int16_t pcm[TINYASC_PCM_SAMPLES];

static int run_eval_pcm(void)
{
    for (;;) {
        const int got = read_record(pcm, sizeof pcm);
        if (got <= 0) {
            return got == 0 ? 0 : 2;
        }
        tinyasc_input_from_pcm(pcm, (int8_t *)input);
        const int status = invoke_and_write();
        if (status != 0) {
            return status;
        }
    }
}
#endif

#ifdef TINYASC_STREAM_STRIDE_SAMPLES
static int16_t chunk[4 * TINYASC_PCM_SAMPLES + 4096];

static int run_stream(void)
{
    static int8_t result[TINYASC_OUTPUT_SIZE];
    static float posterior[TINYASC_OUTPUT_SIZE];
    uint32_t count;
    tinyasc_stream_reset();
    for (;;) {
        const int got = read_record(&count, sizeof count);
        if (got <= 0) {
            return got == 0 ? 0 : 2;
        }
        if (count > sizeof chunk / sizeof chunk[0] || (count > 0 && read_record(chunk, count * sizeof chunk[0]) != 1)) {
            fprintf(stderr, "host runner: bad stream chunk of %u samples\n", (unsigned)count);
            return 2;
        }
        const int ready = tinyasc_stream_push(count > 0 ? chunk : NULL, count);
        if (ready < 0) {
            return 3;
        }
        while (tinyasc_stream_result(result, posterior) == 1) {
            if (fwrite(result, 1, sizeof result, stdout) != sizeof result ||
                fwrite(posterior, 1, sizeof posterior, stdout) != sizeof posterior) {
                return 4;
            }
        }
    }
}
#endif

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "stream") == 0) {
#ifdef TINYASC_STREAM_STRIDE_SAMPLES
        return run_stream();
#else
        fprintf(stderr, "host runner: this model has no stream (no TINYASC_STREAM_STRIDE_SAMPLES)\n");
        return 5;
#endif
    }
    if (argc == 2 && strcmp(argv[1], "eval-pcm") == 0) {
#ifdef TINYASC_PCM_SAMPLES
        return run_eval_pcm();
#else
        fprintf(stderr, "host runner: this model has no PCM front-end (no TINYASC_PCM_SAMPLES)\n");
        return 5;
#endif
    }
    for (;;) {
        const int got = read_record(input, sizeof input);
        if (got <= 0) {
            return got == 0 ? 0 : 2;
        }
        const int status = invoke_and_write();
        if (status != 0) {
            return status;
        }
    }
}
