/* Patch-based execution of a model's first stages (tinyasc/compile/patches.py): each tensor of a
 * patch is a region rows x cols x depth of the whole tensor (height x width x depth), stored
 * contiguously, whose first position is (row0, col0) of the whole tensor. Positions outside the
 * whole tensor are its padding: the zero point, which adds nothing to a conv. */
#ifndef TAS_PATCH_H
#define TAS_PATCH_H

#include <stdint.h>
#include <string.h>

/* The columns of a region inside the tensor: [*first, *last). */
static inline void tas_patch_columns(int32_t width, int32_t col0, int32_t cols, int32_t *first, int32_t *last)
{
    *first = col0 < 0 ? -col0 : 0;
    *last = width - col0 < cols ? width - col0 : cols;
    if (*first > cols) {
        *first = cols;
    }
    if (*last < *first) {
        *last = *first;
    }
}

/* `rows` runs of `bytes` bytes from `from` to `to`, each pointer moving by its pitch per row (one
 * copy when both are contiguous). */
static inline void tas_patch_copy_rows(int8_t *to, int32_t to_pitch, const int8_t *from, int32_t from_pitch,
                                       int32_t rows, int32_t bytes)
{
    if (to_pitch == bytes && from_pitch == bytes) {
        memcpy(to, from, (size_t)(rows * bytes));
        return;
    }
    for (int32_t i = 0; i < rows; ++i) {
        memcpy(to + i * to_pitch, from + i * from_pitch, (size_t)bytes);
    }
}

/* A region an op computed whole: its positions outside the tensor become the zero point. */
static inline void tas_patch_pad(int8_t *patch, int32_t height, int32_t width, int32_t depth,
                                 int32_t row0, int32_t col0, int32_t rows, int32_t cols, int8_t zero_point)
{
    int32_t first, last;
    tas_patch_columns(width, col0, cols, &first, &last);
    for (int32_t i = 0; i < rows; ++i) {
        int8_t *out = patch + i * cols * depth;
        const int32_t row = row0 + i;
        if (row < 0 || row >= height) {
            memset(out, zero_point, (size_t)(cols * depth));
            continue;
        }
        memset(out, zero_point, (size_t)(first * depth));
        memset(out + last * depth, zero_point, (size_t)((cols - last) * depth));
    }
}

/* The region of a whole tensor copied into `patch`, its padding filled with the zero point. */
static inline void tas_patch_load(int8_t *patch, const int8_t *tensor, int32_t height, int32_t width, int32_t depth,
                                  int32_t row0, int32_t col0, int32_t rows, int32_t cols, int8_t zero_point)
{
    int32_t first, last;
    tas_patch_columns(width, col0, cols, &first, &last);
    tas_patch_pad(patch, height, width, depth, row0, col0, rows, cols, zero_point);
    const int32_t top = row0 < 0 ? -row0 : 0;
    const int32_t bottom = height - row0 < rows ? height - row0 : rows;
    if (bottom > top && last > first) {
        tas_patch_copy_rows(patch + (top * cols + first) * depth, cols * depth,
                            tensor + ((row0 + top) * width + col0 + first) * depth, width * depth,
                            bottom - top, (last - first) * depth);
    }
}

/* A patch of the output (inside it) written to its place in the whole tensor. */
static inline void tas_patch_store(int8_t *tensor, const int8_t *patch, int32_t width, int32_t depth,
                                   int32_t row0, int32_t col0, int32_t rows, int32_t cols)
{
    tas_patch_copy_rows(tensor + (row0 * width + col0) * depth, width * depth, patch, cols * depth, rows, cols * depth);
}

/* A band's buffer before the next band: its last `kept` bytes (the rows both bands share), `step`
 * bytes from its start, move to its start. */
static inline void tas_patch_keep(int8_t *buffer, int32_t step, int32_t kept)
{
    memmove(buffer, buffer + step, (size_t)kept);
}

#endif /* TAS_PATCH_H */
