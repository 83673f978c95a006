/* What a row stream's loop (tinyasc/compile/rowstream.py) needs besides the kernels it calls:
 * copying a held-back output row from its ring slot to its place over input rows already read. */
#ifndef TAS_ROW_STREAM_H
#define TAS_ROW_STREAM_H

#include <stdint.h>
#include <string.h>

static inline void tas_copy_row(int8_t *to, const int8_t *from, int32_t bytes)
{
    memcpy(to, from, (size_t)bytes);
}

#endif /* TAS_ROW_STREAM_H */
