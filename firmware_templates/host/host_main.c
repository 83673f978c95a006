/* Host test runner for the generated model: reads int8 inputs from stdin, TINYASC_INPUT_SIZE bytes
 * each, until end of file, and writes TINYASC_OUTPUT_SIZE int8 outputs per input to stdout.
 * Built with sanitizers by tinyasc/compile/host.py; the fast bit-exactness check. */
#include <stdint.h>
#include <stdio.h>

#include "model.h"

static int8_t input[TINYASC_INPUT_SIZE];
static int8_t output[TINYASC_OUTPUT_SIZE];

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
