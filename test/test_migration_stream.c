/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The framed migration stream (docs/migration.md "Stream format"): a
 * testdev's stream moves to a second testdev; truncated, bit-flipped,
 * other-type and other-version streams are refused at RESUMING -> STOP
 * and never loaded; the source runs on afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "mig_stream.h"
#include "testdev.h"
#include "vus_test.h"

#define CHUNK (64u << 10)

struct fx {
	struct testdev *td;
	struct vus_client *c;
	pthread_t th;
};

struct pair {
	struct fx src, dst;
	uint8_t *stream;
	size_t len;
};

static void *serve(void *arg)
{
	vus_dev_run(testdev_dev(arg));
	return NULL;
}

static void fx_start(struct fx *f, const char *name)
{
	int sv[2];

	ASSERT_OK(testdev_create(name, &f->td));
	vus_dev_set_log_level(testdev_dev(f->td), VUS_LOG_ERR);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(testdev_dev(f->td), sv[1]));
	ASSERT_OK(pthread_create(&f->th, NULL, serve, f->td));
	ASSERT_OK(vus_client_connect_fd(sv[0], NULL, &f->c));
}

static void fx_stop(struct fx *f)
{
	vus_client_close(f->c);
	vus_dev_stop(testdev_dev(f->td));
	pthread_join(f->th, NULL);
	testdev_free(f->td);
}

static uint32_t rd(struct fx *f, uint32_t reg)
{
	uint32_t v = 0xdeadbeef;

	ASSERT_OK(vus_client_region_read(f->c, 0, reg, &v, 4));
	return v;
}

static void wr(struct fx *f, uint32_t reg, uint32_t v)
{
	ASSERT_OK(vus_client_region_write(f->c, 0, reg, &v, 4));
}

/* Source with state, saved in STOP_COPY; destination with other state. */
static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	uint8_t pat[4096];
	uint32_t got;
	size_t i;

	assert_non_null(p);
	fx_start(&p->src, "src");
	fx_start(&p->dst, "dst");
	for (i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 13 + 5);
	ASSERT_OK(vus_client_region_write(p->src.c, 1, 0x2000, pat, sizeof(pat)));
	wr(&p->src, TESTDEV_REG_SCRATCH, 0x1234);
	wr(&p->dst, TESTDEV_REG_SCRATCH, 0x77);
	ASSERT_OK(vus_client_mig_set_state(p->src.c, VUS_MIG_STATE_STOP_COPY));
	do {
		p->stream = realloc(p->stream, p->len + CHUNK);
		assert_non_null(p->stream);
		ASSERT_OK(vus_client_mig_data_read(p->src.c, p->stream + p->len, CHUNK, &got));
		p->len += got;
	} while (got == CHUNK);
	assert_true(p->len > VUS_MIG_STREAM_HDR + 2 * VUS_MIG_FRAME_HDR + 8);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	fx_stop(&p->src);
	fx_stop(&p->dst);
	free(p->stream);
	free(p);
	return 0;
}

/* RESUMING, the bytes, then RESUMING -> STOP: its result. Writes may fail
 * early (a damaged header or section); the commit must fail then too. */
static int load(struct fx *f, const uint8_t *s, size_t len)
{
	size_t off;
	int rc;

	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_RESUMING));
	for (off = 0; off < len; off += CHUNK) {
		rc = vus_client_mig_data_write(f->c, s + off, len - off < CHUNK ? len - off : CHUNK);
		if (rc < 0) {
			ASSERT_ERR(rc, -EINVAL);
			break;
		}
	}
	return vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP);
}

/* The destination refused: ERROR, nothing loaded; the source runs on. */
static void check_refused(struct pair *p, int rc)
{
	enum vus_mig_state s;
	uint8_t b;

	ASSERT_ERR(rc, -EINVAL);
	ASSERT_OK(vus_client_mig_get_state(p->dst.c, &s));
	ASSERT_EQ(s, VUS_MIG_STATE_ERROR);
	ASSERT_EQ(rd(&p->dst, TESTDEV_REG_SCRATCH), 0x77);
	ASSERT_OK(vus_client_region_read(p->dst.c, 1, 0x2001, &b, 1));
	ASSERT_EQ(b, 0);
	/* A reset gets the destination out of ERROR. */
	ASSERT_OK(vus_client_reset(p->dst.c));
	ASSERT_OK(vus_client_mig_get_state(p->dst.c, &s));
	ASSERT_EQ(s, VUS_MIG_STATE_RUNNING);
	/* The source resumes and works. */
	ASSERT_OK(vus_client_mig_set_state(p->src.c, VUS_MIG_STATE_RUNNING));
	ASSERT_EQ(rd(&p->src, TESTDEV_REG_SCRATCH), 0x1234);
	wr(&p->src, TESTDEV_REG_SCRATCH, 0x4321);
	ASSERT_EQ(rd(&p->src, TESTDEV_REG_SCRATCH), 0x4321);
}

/* Rewrite the header's CRC after changing a field in it. */
static void header_reseal(uint8_t *s)
{
	uint32_t crc = vus_crc32c(0, s, 28);

	memcpy(s + 28, &crc, 4);
}

static void test_good_stream_moves_the_device(void **state)
{
	struct pair *p = *state;
	uint8_t got[4096];
	size_t i;

	ASSERT_OK(load(&p->dst, p->stream, p->len));
	ASSERT_OK(vus_client_mig_set_state(p->dst.c, VUS_MIG_STATE_RUNNING));
	ASSERT_EQ(rd(&p->dst, TESTDEV_REG_SCRATCH), 0x1234);
	ASSERT_OK(vus_client_region_read(p->dst.c, 1, 0x2000, got, sizeof(got)));
	for (i = 0; i < sizeof(got); i++)
		ASSERT_EQ(got[i], (uint8_t)(i * 13 + 5));
}

/* An empty MIG_DATA_WRITE before any data (found by fuzz_dispatch: the
 * stream had no buffer yet, and UBSan caught the pointer arithmetic on
 * NULL) and between sections: accepted, nothing added. */
static void test_empty_writes(void **state)
{
	struct pair *p = *state;
	size_t off, n;

	ASSERT_OK(vus_client_mig_set_state(p->dst.c, VUS_MIG_STATE_RESUMING));
	for (off = 0; off < p->len; off += n) {
		n = p->len - off < CHUNK ? p->len - off : CHUNK;
		ASSERT_OK(vus_client_mig_data_write(p->dst.c, p->stream + off, 0));
		ASSERT_OK(vus_client_mig_data_write(p->dst.c, p->stream + off, (uint32_t)n));
	}
	ASSERT_OK(vus_client_mig_set_state(p->dst.c, VUS_MIG_STATE_STOP));
	ASSERT_OK(vus_client_mig_set_state(p->dst.c, VUS_MIG_STATE_RUNNING));
	ASSERT_EQ(rd(&p->dst, TESTDEV_REG_SCRATCH), 0x1234);
}

static void test_truncated_refused(void **state)
{
	struct pair *p = *state;

	check_refused(p, load(&p->dst, p->stream, p->len - 10));
}

static void test_cut_before_the_end_marker_refused(void **state)
{
	struct pair *p = *state;

	/* Whole sections, but the end marker missing. */
	check_refused(p, load(&p->dst, p->stream, p->len - VUS_MIG_FRAME_HDR - 8));
}

static void test_flipped_bit_refused(void **state)
{
	struct pair *p = *state;

	p->stream[p->len / 2] ^= 0x10;
	check_refused(p, load(&p->dst, p->stream, p->len));
}

static void test_other_device_type_refused(void **state)
{
	struct pair *p = *state;

	p->stream[10] ^= 0x01; /* PCI device id */
	header_reseal(p->stream);
	check_refused(p, load(&p->dst, p->stream, p->len));
}

static void test_other_version_refused(void **state)
{
	struct pair *p = *state;

	p->stream[4] = VUS_MIG_STREAM_VERSION + 1;
	header_reseal(p->stream);
	check_refused(p, load(&p->dst, p->stream, p->len));
}

/* The interrupt state (docs/migration.md "Interrupts in the stream") of a
 * device with another vector layout: refused before load() sees a byte. */
static void test_other_interrupt_layout_refused(void **state)
{
	struct pair *p = *state;
	size_t off = VUS_MIG_STREAM_HDR;
	uint32_t tag, len, crc, count;

	for (;;) {
		assert_true(off + VUS_MIG_FRAME_HDR <= p->len);
		memcpy(&tag, p->stream + off, 4);
		memcpy(&len, p->stream + off + 4, 4);
		if (tag == VUS_MIG_FRAME_IRQS)
			break;
		off += VUS_MIG_FRAME_HDR + len;
	}
	/* MSI-X's vector count (the third u32), then the section resealed. */
	memcpy(&count, p->stream + off + VUS_MIG_FRAME_HDR + 8, 4);
	ASSERT_EQ(count, TESTDEV_NR_VECTORS);
	count = 16;
	memcpy(p->stream + off + VUS_MIG_FRAME_HDR + 8, &count, 4);
	crc = vus_crc32c(0, p->stream + off + VUS_MIG_FRAME_HDR, len);
	memcpy(p->stream + off + 8, &crc, 4);
	check_refused(p, load(&p->dst, p->stream, p->len));
}

static void test_not_a_stream_refused(void **state)
{
	struct pair *p = *state;

	memset(p->stream, 0x5a, 64);
	check_refused(p, load(&p->dst, p->stream, 64));
}

static void test_crc32c_known_value(void **state)
{
	/* RFC 3720 B.4: 32 bytes of zeros. */
	uint8_t z[32] = { 0 };

	ASSERT_EQ(vus_crc32c(0, z, sizeof(z)), 0x8a9136aau);
	ASSERT_EQ(vus_crc32c(0, "123456789", 9), 0xe3069283u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_known_value),
		cmocka_unit_test_setup_teardown(test_good_stream_moves_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_before_the_end_marker_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flipped_bit_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_device_type_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_version_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_stream_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_interrupt_layout_refused, setup,
						teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
