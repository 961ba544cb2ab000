/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers for the test_codec_*.c programs (header-only, so each program
 * stays one file plus this).
 *
 * Every payload handed to the codec is copied into a heap block of exactly
 * its length, one byte past a malloc boundary: the fields are unaligned
 * (the codec must memcpy) and a read of even one byte past the payload is
 * an AddressSanitizer error.
 */
#ifndef VUS_TEST_CODEC_TEST_H
#define VUS_TEST_CODEC_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <vus/codec.h>

#include "codec_priv.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A view of a private, exactly sized, misaligned copy of bytes[0..len). */
static inline struct vus_msg_view tview(const void *bytes, size_t len, unsigned nfds)
{
	uint8_t *mem = malloc(len + 1);
	struct vus_msg_view v = { .len = len, .nfds = nfds };

	assert_non_null(mem);
	if (len)
		memcpy(mem + 1, bytes, len);
	v.payload = mem + 1;
	return v;
}

static inline void tview_free(struct vus_msg_view *v)
{
	free((uint8_t *)v->payload - 1);
	v->payload = NULL;
}

/* Same for the decoders that take (data, len) instead of a view. */
static inline uint8_t *tdata(const void *bytes, size_t len)
{
	uint8_t *mem = malloc(len + 1);

	assert_non_null(mem);
	if (len)
		memcpy(mem + 1, bytes, len);
	return mem + 1;
}

static inline void tdata_free(uint8_t *p)
{
	free(p - 1);
}

/* Fail naming the table entry, so a red test says which case broke. */
#define expect_rc(name, got, want)                                                    \
	do {                                                                          \
		long got_ = (long)(got), want_ = (long)(want);                        \
		if (got_ != want_)                                                    \
			fail_msg("%s: rc %ld, want %ld (%s:%d)", (name), got_, want_,  \
				 __FILE__, __LINE__);                                  \
	} while (0)

#endif /* VUS_TEST_CODEC_TEST_H */
