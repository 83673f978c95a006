/* What a row stream's loop (tinyasc/compile/rowstream.py) needs besides the kernels it calls:
 * copying a held-back output row from its ring slot to its place over input rows already read. */
#ifndef TAS_ROW_STREAM_H
#define TAS_ROW_STREAM_H

#include <stdint.h>
#include <string.h>

/* Words a row moves in; may_alias: the rows are int8 tensors. */
typedef uint32_t __attribute__((may_alias)) tas_row_word;

/* A ring slot and its place never overlap. Word-aligned rows of whole 16-byte blocks (KWS DS-CNN's
 * 320-byte rows) move a block per pass, about half of newlib's memcpy instructions, paid per row. */
static inline void tas_copy_row(int8_t *to, const int8_t *from, int32_t bytes)
{
    if (((uintptr_t)to | (uintptr_t)from | (uintptr_t)bytes) & 15u) {
        memcpy(to, from, (size_t)bytes);
        return;
    }
    tas_row_word *d = (tas_row_word *)(void *)to;
    const tas_row_word *s = (const tas_row_word *)(const void *)from;
    for (int32_t blocks = bytes / 16; blocks > 0; --blocks, d += 4, s += 4) {
        const uint32_t w0 = s[0], w1 = s[1], w2 = s[2], w3 = s[3];
        d[0] = w0;
        d[1] = w1;
        d[2] = w2;
        d[3] = w3;
    }
}

#endif /* TAS_ROW_STREAM_H */
