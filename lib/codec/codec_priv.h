/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the codec_*.c files (library-internal).
 *
 * Payloads come straight from a socket buffer and may sit at any
 * alignment, so every field is copied with memcpy (codec.h: "never casts
 * the payload to a structure"). Host byte order throughout
 * (docs/protocol.md 0 "Conventions").
 */
#ifndef VUS_CODEC_PRIV_H
#define VUS_CODEC_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vus/codec.h>

#include "bits.h"

static inline uint16_t get_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void put_u16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * [start, start + len) is representable: the exclusive end fits in 64
 * bits, so callers may compute it without wrapping. A range ending
 * exactly at 2^64 is therefore refused; no real IOVA or region reaches it.
 */
static inline bool range_ok(uint64_t start, uint64_t len)
{
	uint64_t end;

	return !__builtin_add_overflow(start, len, &end);
}

#endif /* VUS_CODEC_PRIV_H */
