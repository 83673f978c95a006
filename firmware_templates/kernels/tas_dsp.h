/* The few DSP-extension instructions the fast kernels use (SXTB16, SXTAB16, SMLAD, SMLABB/SMLATT, SSUB8 + SEL),
 * behind portable names.
 * With __ARM_FEATURE_DSP (Cortex-M4/M7/M33/M55) they are the real instructions from <arm_acle.h>;
 * elsewhere (the host build that runs under ASan/UBSan) they are plain C with the same results, so
 * the host test checks the kernels' logic and QEMU checks the instructions. */
#ifndef TAS_DSP_H
#define TAS_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>

/* SXTB16: bytes 0 and 2 of x, sign-extended into the two halfwords of the result. */
static inline int32_t tas_sxtb16(int32_t x) { return __sxtb16(x); }

/* SMLAD: acc + lo(x)·lo(y) + hi(x)·hi(y), two 16-bit MACs in one instruction (wraps modulo 2^32). */
static inline int32_t tas_smlad(int32_t x, int32_t y, int32_t acc) { return __smlad(x, y, acc); }

/* SXTAB16: a + (bytes 0 and 2 of x, sign-extended), per halfword: widens two int8 lanes and adds an
 * offset to each in one instruction. */
static inline int32_t tas_sxtab16(int32_t a, int32_t x) { return __sxtab16(a, x); }

/* SXTAB16 of x rotated right by 8 (bytes 1 and 3), in one instruction: GCC 12 does not fold the
 * rotation into __sxtab16's operand as it does for __sxtb16. */
static inline int32_t tas_sxtab16_ror8(int32_t a, int32_t x)
{
    int32_t result;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(result) : "r"(a), "r"(x));
    return result;
}

/* SMLABB / SMLATT: acc + lo(x)·lo(y) and acc + hi(x)·hi(y), one 16-bit lane each (wraps modulo 2^32). */
static inline int32_t tas_smlabb(int32_t x, int32_t y, int32_t acc) { return __smlabb(x, y, acc); }
static inline int32_t tas_smlatt(int32_t x, int32_t y, int32_t acc) { return __smlatt(x, y, acc); }

/* Per signed byte: max(a, b) and min(a, b). SSUB8 sets the GE flag of each byte lane where
 * a - b >= 0; SEL then takes that lane from its first operand, else from its second. */
static inline int32_t tas_max_s8x4(int32_t a, int32_t b) { (void)__ssub8(a, b); return __sel(a, b); }
static inline int32_t tas_min_s8x4(int32_t a, int32_t b) { (void)__ssub8(a, b); return __sel(b, a); }

/* The low bytes of v0..v3 (values already saturated to int8) as one word, v0 in the lowest: three BFI. */
static inline int32_t tas_pack_s8x4(int32_t v0, int32_t v1, int32_t v2, int32_t v3)
{
    __asm__("bfi %0, %1, #8, #8\n\tbfi %0, %2, #16, #8\n\tbfi %0, %3, #24, #8" : "+&r"(v0) : "r"(v1), "r"(v2), "r"(v3));
    return v0;
}

#else

static inline int32_t tas_max_s8x4(int32_t a, int32_t b)
{
    uint32_t result = 0;
    for (int32_t lane = 0; lane < 4; ++lane) {
        const int8_t x = (int8_t)((uint32_t)a >> (8 * lane)), y = (int8_t)((uint32_t)b >> (8 * lane));
        result |= (uint32_t)(uint8_t)(x > y ? x : y) << (8 * lane);
    }
    return (int32_t)result;
}

static inline int32_t tas_min_s8x4(int32_t a, int32_t b)
{
    uint32_t result = 0;
    for (int32_t lane = 0; lane < 4; ++lane) {
        const int8_t x = (int8_t)((uint32_t)a >> (8 * lane)), y = (int8_t)((uint32_t)b >> (8 * lane));
        result |= (uint32_t)(uint8_t)(x < y ? x : y) << (8 * lane);
    }
    return (int32_t)result;
}

static inline int32_t tas_sxtb16(int32_t x)
{
    const uint32_t low = (uint16_t)(int16_t)(int8_t)(x & 0xff);
    const uint32_t high = (uint16_t)(int16_t)(int8_t)((x >> 16) & 0xff);
    return (int32_t)((high << 16) | low);
}

static inline int32_t tas_smlad(int32_t x, int32_t y, int32_t acc)
{
    const int32_t low = (int32_t)(int16_t)(x & 0xffff) * (int16_t)(y & 0xffff);
    const int32_t high = (int32_t)(int16_t)((uint32_t)x >> 16) * (int16_t)((uint32_t)y >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)low + (uint32_t)high); /* wraps like the instruction */
}

static inline int32_t tas_sxtab16(int32_t a, int32_t x)
{
    const uint32_t widened = (uint32_t)tas_sxtb16(x);
    const uint32_t low = ((uint32_t)a + widened) & 0xffffu;
    const uint32_t high = (((uint32_t)a >> 16) + (widened >> 16)) & 0xffffu; /* each halfword wraps alone */
    return (int32_t)((high << 16) | low);
}

static inline int32_t tas_sxtab16_ror8(int32_t a, int32_t x)
{
    return tas_sxtab16(a, (int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24)));
}

static inline int32_t tas_smlabb(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(x & 0xffff) * (int16_t)(y & 0xffff)));
}

static inline int32_t tas_smlatt(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)((uint32_t)x >> 16) * (int16_t)((uint32_t)y >> 16)));
}

#endif

/* Rotate right by 8: GCC folds it into the rotation operand of SXTB16 (sxtb16 rd, rm, ror #8). */
static inline int32_t tas_ror8(int32_t x)
{
    return (int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24));
}

/* Four bytes as one word from any address: one LDR on Cortex-M4 (unaligned loads are legal
 * there), and no alignment or aliasing undefined behaviour on the host. */
static inline int32_t tas_read_word(const void *address)
{
    int32_t word;
    memcpy(&word, address, sizeof word);
    return word;
}

static inline void tas_write_word(void *address, int32_t word)
{
    memcpy(address, &word, sizeof word);
}

/* The byte v in all four lanes of a word. */
static inline int32_t tas_splat_s8x4(int32_t v)
{
    return (int32_t)((uint32_t)(uint8_t)v * 0x01010101u);
}

#endif /* TAS_DSP_H */
