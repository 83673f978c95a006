/* The rings of a row chain (tinyasc/compile/rowchain.py): each holds `count` consecutive rows of a
 * tensor, logical rows first .. first + count - 1, contiguously, so a conv reads its window of rows
 * as one small image. Pushing a row into a full ring moves the others down one row (the oldest row,
 * which no later read needs, dies). Rows outside the tensor (vertical padding) are its zero point. */
#ifndef TAS_ROW_CHAIN_H
#define TAS_ROW_CHAIN_H

#include <stdint.h>
#include <string.h>

typedef struct {
    int8_t *base;
    int32_t row_bytes;
    int32_t capacity;  /* rows */
    int32_t first;     /* the logical row in the first slot */
    int32_t count;     /* rows held */
} tas_ring;

/* Words the ring's rows move in; may_alias: the rows are int8 tensors. */
typedef uint32_t __attribute__((may_alias)) tas_ring_word;

/* bytes from src down to dst < src. Word-aligned blocks of 16 bytes (every ring of ResNet-8) move
 * a block per pass, read whole before it is written, so the overlap is safe: about a third of
 * newlib's memmove instructions, which the rings pay on every row. */
static inline void tas_ring_move_down(int8_t *dst, const int8_t *src, int32_t bytes)
{
    if (((uintptr_t)dst | (uintptr_t)src | (uintptr_t)bytes) & 15u) {
        memmove(dst, src, (size_t)bytes);
        return;
    }
    tas_ring_word *d = (tas_ring_word *)(void *)dst;
    const tas_ring_word *from = (const tas_ring_word *)(const void *)src;
    for (int32_t blocks = bytes / 16; blocks > 0; --blocks, d += 4, from += 4) {
        const uint32_t w0 = from[0], w1 = from[1], w2 = from[2], w3 = from[3];
        d[0] = w0;
        d[1] = w1;
        d[2] = w2;
        d[3] = w3;
    }
}

/* The slot of the next row (the caller writes it). */
static inline int8_t *tas_ring_push(tas_ring *ring)
{
    if (ring->count == ring->capacity) {
        tas_ring_move_down(ring->base, ring->base + ring->row_bytes, (ring->capacity - 1) * ring->row_bytes);
        ring->first += 1;
    } else {
        ring->count += 1;
    }
    return ring->base + (ring->count - 1) * ring->row_bytes;
}

/* `rows` rows of padding: the zero point, which adds nothing to a conv. */
static inline void tas_ring_pad(tas_ring *ring, int32_t rows, int8_t zero_point)
{
    for (int32_t i = 0; i < rows; ++i) {
        memset(tas_ring_push(ring), zero_point, (size_t)ring->row_bytes);
    }
}

/* Logical row `row` (held: the schedule's proof says so). */
static inline int8_t *tas_ring_row(const tas_ring *ring, int32_t row)
{
    return ring->base + (row - ring->first) * ring->row_bytes;
}

#endif /* TAS_ROW_CHAIN_H */
