/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bit helpers shared by every layer (library-internal; pure).
 */
#ifndef VUS_BITS_H
#define VUS_BITS_H

#include <stdbool.h>
#include <stdint.h>

static inline bool vus_is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* log2 of a power of two. */
static inline unsigned vus_log2_pow2(uint64_t v)
{
	return (unsigned)__builtin_ctzll(v);
}

#endif /* VUS_BITS_H */
