/* Host test runner for the generated model: reads inputs from stdin, TINYASC_INPUT_SIZE values of
 * tinyasc_input_t each (int8, or float32 for a model with float I/O, in the host's byte order),
 * until end of file, and writes TINYASC_OUTPUT_SIZE tinyasc_output_t values per input to stdout.
 * Built with sanitizers by tinyasc/compile/host.py; the fast bit-exactness check. */
#include <stdint.h>
#include <stdio.h>

#include "model.h"

#ifndef TINYASC_INPUT_IS_FLOAT /* a model.h of the int8-only API (before float I/O existed) */
typedef int8_t tinyasc_input_t;
typedef int8_t tinyasc_output_t;
#endif

static tinyasc_input_t input[TINYASC_INPUT_SIZE];
static tinyasc_output_t output[TINYASC_OUTPUT_SIZE];

int main(void)
{
    for (;;) {
        const size_t got = fread(input, 1, sizeof input, stdin);
        if (got == 0) {
            return 0;
        }
        if (got != sizeof input) {
            fprintf(stderr, "host runner: partial input (%zu of %zu bytes)\n", got, sizeof input);
            return 2;
        }
        if (tinyasc_invoke(input, output) != 0) {
            fprintf(stderr, "host runner: tinyasc_invoke failed\n");
            return 3;
        }
        if (fwrite(output, 1, sizeof output, stdout) != sizeof output) {
            return 4;
        }
    }
}
