/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Issue 12's holes that live in the library, each against real devices
 * on their own loop threads (docs/security.md):
 *
 *  - hole 8: REGION_READ reply buffers are zeroed, so a read callback
 *    that returns 0 without filling its buffer sends zeros, not heap or
 *    stack bytes;
 *  - hole 7: a stream of stray replies is logged rate-limited (the first
 *    few, then every 2^k-th with a count), not one line each;
 *  - hole 4: a DMA_MAP fd is refused (EMFILE) while the process still
 *    has its reserve of free fds (fd_reserve.h);
 *  - hole 5: a client that truncates the memfd it mapped and then starts
 *    a DMA loses its own session (SIGBUS caught in the library's copy);
 *    the process lives, the device serves the next client, and a second
 *    device on its own loop serves its client all along.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "raw.h"
#include "vus_test.h"
#include "rig.h"
#include "test_server.h"

/* ---- hole 8: a read callback that leaves its buffer alone ------------ */

static int lazy_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		     uint32_t count)
{
	return 0; /* "handled", without writing a byte */
}

static int noisy_write(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		       uint32_t count)
{
	return 0;
}

static const struct vus_region_ops lazy_ops = { .read = lazy_read, .write = noisy_write };

static void read_zeroed(struct rig *r, uint32_t count)
{
	uint8_t req[16], *junk = malloc(count + 16);
	struct raw_msg m;
	uint32_t i;

	assert_non_null(junk);
	/* A REGION_WRITE full of 0xa5 first: its bytes pass through the
	 * receive buffer and the heap a read reply may reuse. */
	memset(junk, 0xa5, count + 16);
	rig_put_u64(junk, 0);
	rig_put_u32(junk + 8, 0);
	rig_put_u32(junk + 12, count);
	rig_expect(r, VUS_CMD_REGION_WRITE, junk, count + 16, NULL, 0, 0);
	free(junk);

	rig_put_u64(req, 0);
	rig_put_u32(req + 8, 0);
	rig_put_u32(req + 12, count);
	rig_call(r, VUS_CMD_REGION_READ, req, sizeof(req), NULL, 0, &m);
	ASSERT_OK(m.hdr.flags & VUS_F_ERROR);
	ASSERT_EQ(m.len, 16 + count);
	for (i = 0; i < count; i++)
		if (m.payload[16 + i])
			fail_msg("REGION_READ of %u bytes: byte %u is 0x%02x, not 0", count, i,
				 m.payload[16 + i]);
	raw_msg_free(&m);
}

static void region_read_zeroed(void **state)
{
	struct vus_dev *dev = rig_dev_new();
	struct rig r;
	int i;

	ASSERT_OK(vus_dev_setup_region(dev, 0, 1 << 20, VUS_REGION_RW, &lazy_ops, NULL));
	rig_start(&r, dev, NULL);
	/* Both reply paths: inside the reply's small buffer, and on the heap. */
	for (i = 0; i < 4; i++) {
		read_zeroed(&r, 200);
		read_zeroed(&r, 256 * 1024);
	}
	rig_stop(&r);
}

/* ---- hole 7: stray replies ------------------------------------------- */

struct log_count {
	unsigned lines, stray;
	char last[512];
};

static void count_log(void *opaque, enum vus_log_level level, const char *msg)
{
	struct log_count *lc = opaque;

	lc->lines++;
	if (strstr(msg, "answers no request")) {
		lc->stray++;
		snprintf(lc->last, sizeof(lc->last), "%s", msg);
	}
}

static void stray_replies_rate_limited(void **state)
{
	enum { STRAY = 20000 };
	struct vus_dev *dev = rig_dev_new();
	struct log_count lc = { 0 };
	struct raw_msg m;
	struct rig r;
	int i;

	vus_dev_set_log(dev, count_log, &lc, VUS_LOG_WARN);
	rig_start(&r, dev, NULL);
	for (i = 0; i < STRAY; i++)
		ASSERT_OK(raw_send(r.peer, (uint16_t)i, VUS_CMD_DMA_READ, VUS_F_TYPE_REPLY,
					  NULL, 0, NULL, 0));
	/* Handled in order: once this is answered, every stray one was seen. */
	rig_call(&r, VUS_CMD_DEVICE_GET_INFO, "\x10\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, NULL, 0,
		 &m);
	raw_msg_free(&m);
	fprintf(stderr, "%d stray replies: %u log lines; the last: %s\n", STRAY, lc.stray,
		lc.last);
	/* 10 one by one, then 16, 32, ..., 16384: 21 in all. */
	assert_true(lc.stray >= 10);
	assert_true(lc.stray <= 10 + 15);
	assert_non_null(strstr(lc.last, "16384 so far"));
	rig_stop(&r);
}

/* ---- hole 5: SIGBUS from a truncated memfd --------------------------- */

#define GUEST_IOVA 0x100000ull
#define GUEST_SIZE (64u * 1024u)

/* DMA_MAP a memfd of GUEST_SIZE through the client's socket; the memfd
 * stays ours, to truncate. */
static int map_memfd(struct vus_client *c)
{
	struct vus_dma_map dm = {
		.argsz = sizeof(dm),
		.flags = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
		.addr = GUEST_IOVA, .size = GUEST_SIZE,
	};
	struct vus_hdr rh;
	size_t rlen;
	int fd = memfd_create("guest", MFD_CLOEXEC);

	assert_true(fd >= 0);
	ASSERT_OK(ftruncate(fd, GUEST_SIZE));
	ASSERT_OK(vus_client_raw(c, VUS_CMD_DMA_MAP, 0, &dm, sizeof(dm), &fd, 1, &rh, NULL,
					0, &rlen));
	ASSERT_OK(rh.flags & VUS_F_ERROR);
	return fd;
}

static void truncated_memfd(void **state)
{
	const struct test_server_opts opts = { 0 };
	struct test_server victim, target;
	struct vus_client *vc, *ac, *again;
	uint32_t v = 0, got, st;
	int fd, rc, i;

	ASSERT_OK(test_server_start(&victim, &opts));
	ASSERT_OK(test_server_start(&target, &opts));
	ASSERT_OK(test_connect(&victim, NULL, &vc));
	ASSERT_OK(test_connect(&target, NULL, &ac));

	/* A DMA through the window works while the file is whole. */
	fd = map_memfd(ac);
	ASSERT_OK(test_dma_run(ac, 0, GUEST_IOVA, 4096, true));

	/* Then the file shrinks to nothing and the device DMAs into it. */
	ASSERT_OK(ftruncate(fd, 0));
	test_reg_write(ac, TESTDEV_REG_DMA_DST_LO, (uint32_t)GUEST_IOVA);
	test_reg_write(ac, TESTDEV_REG_DMA_DST_HI, 0);
	test_reg_write(ac, TESTDEV_REG_DMA_SRC_LO, 0);
	test_reg_write(ac, TESTDEV_REG_DMA_LEN, 4096);
	rc = vus_client_region_write(ac, 0, TESTDEV_REG_DMA_CMD,
				     &(uint32_t){ TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST }, 4);
	/* The session ends: the next request (or this one) finds it gone. */
	for (i = 0; rc == 0 && i < 200; i++) {
		rc = vus_client_region_read(ac, 0, TESTDEV_REG_DMA_STATUS, &st, 4);
		test_sleep_ms(5);
	}
	assert_true(rc < 0);
	vus_client_close(ac);
	close(fd);

	/* The victim never noticed. */
	for (i = 0; i < 10; i++) {
		v = 0x7e570000u + (uint32_t)i;
		test_reg_write(vc, TESTDEV_REG_SCRATCH, v);
		got = test_reg_read(vc, TESTDEV_REG_SCRATCH);
		ASSERT_EQ(got, v);
	}
	/* The attacked device serves its next client. */
	ASSERT_OK(test_connect(&target, NULL, &again));
	test_reg_write(again, TESTDEV_REG_SCRATCH, 0x5eed);
	ASSERT_EQ(test_reg_read(again, TESTDEV_REG_SCRATCH), 0x5eed);
	vus_client_close(again);
	vus_client_close(vc);
	test_server_stop(&target);
	test_server_stop(&victim);
}

/* ---- hole 4: the fd reserve ------------------------------------------ */

static int count_own_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/*
 * A device that keeps its windows' fds (the library's default) under a
 * low RLIMIT_NOFILE: one fd per DMA_MAP until refused. The refusal is
 * EMFILE while the process still has its reserve free, never a process
 * out of fds.
 */
static void fd_reserve(void **state)
{
	enum { LIMIT = 256 };
	struct rlimit old, low = { LIMIT, LIMIT };
	struct vus_dev *dev = rig_dev_new();
	int mfd = memfd_create("guest", MFD_CLOEXEC), i, err = 0, used;
	struct rig r;

	assert_true(mfd >= 0);
	ASSERT_OK(ftruncate(mfd, 4096));
	ASSERT_OK(getrlimit(RLIMIT_NOFILE, &old));
	low.rlim_max = old.rlim_max;
	ASSERT_OK(setrlimit(RLIMIT_NOFILE, &low));
	rig_start(&r, dev, NULL);
	for (i = 0; i < LIMIT && !err; i++) {
		uint8_t dm[32];
		struct raw_msg m;

		rig_put_u32(dm, 32);
		rig_put_u32(dm + 4, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE);
		rig_put_u64(dm + 8, 0);
		rig_put_u64(dm + 16, (uint64_t)i << 20);
		rig_put_u64(dm + 24, 4096);
		rig_call(&r, VUS_CMD_DMA_MAP, dm, sizeof(dm), &mfd, 1, &m);
		err = (m.hdr.flags & VUS_F_ERROR) ? (int)m.hdr.error : 0;
		raw_msg_free(&m);
	}
	used = count_own_fds();
	fprintf(stderr, "fd reserve: %d windows, then %s; %d of %d fds in use\n", i - 1,
		err ? strerrorname_np(err) : "none refused", used, LIMIT);
	ASSERT_EQ(err, EMFILE);
	assert_true(used <= LIMIT - VUS_FD_RESERVE + 2);
	rig_stop(&r);
	close(mfd);
	ASSERT_OK(setrlimit(RLIMIT_NOFILE, &old));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(region_read_zeroed),
		cmocka_unit_test(stray_replies_rate_limited),
		cmocka_unit_test(truncated_memfd),
		cmocka_unit_test(fd_reserve),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
