/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DMA map table on its own (lib/dma_map.h): ordering, overlap and
 * exact-match rules, limits, mmap of client fds and fd ownership.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "dma_map.h"
#include "fdcount.h"
#include "vus_test.h"

#define R  VUS_DMA_MAP_FLAG_READ
#define W  VUS_DMA_MAP_FLAG_WRITE
#define RW (R | W)
#define PG 4096u

static struct vus_dma_table *new_table(uint32_t max_maps, uint64_t max_bytes)
{
	struct vus_dma_table *t = malloc(sizeof(*t));

	assert_non_null(t);
	ASSERT_OK(vus_dma_table_init(t, max_maps, max_bytes));
	return t;
}

static void free_table(struct vus_dma_table *t)
{
	vus_dma_table_destroy(t);
	free(t);
}

/* A memfd of size bytes, byte i = pattern(i). */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static int make_memfd(size_t size)
{
	uint8_t *buf = malloc(size);
	int fd = memfd_create("dma-map-test", MFD_CLOEXEC);
	size_t i;

	assert_non_null(buf);
	ASSERT_NONNEG(fd);
	for (i = 0; i < size; i++)
		buf[i] = pattern(i);
	ASSERT_EQ(pwrite(fd, buf, size, 0), (ssize_t)size);
	free(buf);
	return fd;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* The permissions /proc/self/maps shows for the mapping holding p. */
static void maps_perms(const void *p, char perms[5])
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uintptr_t a = (uintptr_t)p;

	assert_non_null(f);
	perms[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char pm[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pm) == 3 && a >= lo && a < hi) {
			memcpy(perms, pm, 5);
			break;
		}
	}
	fclose(f);
	assert_true(perms[0] != '\0');
}

/* ---- ordering and lookup -------------------------------------------- */

static void test_add_find_sorted(void **state)
{
	/* Inserted out of order; find must see every window and only them. */
	static const uint64_t iovas[] = { 0x50000, 0x10000, 0x90000, 0x30000, 0x70000, 0x20000 };
	struct vus_dma_table *t = new_table(64, 0);
	const struct vus_dma_region *r;
	struct vus_dma_region out;
	uint64_t off;
	uint32_t i;

	for (i = 0; i < sizeof(iovas) / sizeof(iovas[0]); i++) {
		ASSERT_OK(vus_dma_table_add(t, iovas[i], 0x8000, RW, -1, 0, &out));
		ASSERT_EQ(out.iova, iovas[i]);
		assert_null(out.vaddr);
		ASSERT_EQ(out.fd, -1);
	}
	ASSERT_EQ(t->n, 6);
	ASSERT_EQ(t->total_bytes, 6 * 0x8000);
	for (i = 1; i < t->n; i++)
		assert_true(t->r[i - 1].iova < t->r[i].iova);

	r = vus_dma_table_find(t, 0x30000, 0x8000, &off);
	assert_non_null(r);
	ASSERT_EQ(r->iova, 0x30000);
	ASSERT_EQ(off, 0);
	r = vus_dma_table_find(t, 0x37fff, 1, &off);
	assert_non_null(r);
	ASSERT_EQ(off, 0x7fff);
	/* One byte past a window, a gap, a range running off the end. */
	assert_null(vus_dma_table_find(t, 0x38000, 1, &off));
	assert_null(vus_dma_table_find(t, 0x0, 1, &off));
	assert_null(vus_dma_table_find(t, 0x37000, 0x2000, &off));
	assert_null(vus_dma_table_find(t, 0xa0000, 1, &off));
	/* Adjacent windows do not make one: a range spanning both is refused. */
	ASSERT_OK(vus_dma_table_add(t, 0x38000, 0x8000, RW, -1, 0, NULL));
	assert_null(vus_dma_table_find(t, 0x37000, 0x2000, &off));
	/* Lengths that wrap the address space. */
	assert_null(vus_dma_table_find(t, 0x30000, UINT64_MAX, &off));
	free_table(t);
}

static void test_window_at_top_of_space(void **state)
{
	struct vus_dma_table *t = new_table(8, 0);
	uint64_t off;

	ASSERT_OK(vus_dma_table_add(t, UINT64_MAX - 0xfff, 0x1000, RW, -1, 0, NULL));
	assert_non_null(vus_dma_table_find(t, UINT64_MAX, 1, &off));
	ASSERT_EQ(off, 0xfff);
	ASSERT_ERR(vus_dma_table_add(t, UINT64_MAX - 0xfff, 0x1001, RW, -1, 0, NULL),
		   -EINVAL);
	free_table(t);
}

static void test_bad_args(void **state)
{
	struct vus_dma_table *t = new_table(8, 0);

	ASSERT_ERR(vus_dma_table_add(t, 0x1000, 0, RW, -1, 0, NULL), -EINVAL);
	/* A window nobody may access (the kernel's MAP_DMA refuses it too). */
	ASSERT_ERR(vus_dma_table_add(t, 0x1000, 0x1000, 0, -1, 0, NULL), -EINVAL);
	ASSERT_ERR(vus_dma_table_add(t, 0x1000, 0x1000, RW | 4, -1, 0, NULL), -EINVAL);
	ASSERT_ERR(vus_dma_table_add(t, 0x1000, 0x1000, RW, -1, 0x1000, NULL), -EINVAL);
	ASSERT_EQ(t->n, 0);
	free_table(t);
}

/* ---- overlap, exact-match removal, limits --------------------------- */

static void test_overlap_eexist(void **state)
{
	static const struct { uint64_t iova, size; } clash[] = {
		{ 0x10000, 0x10000 },   /* identical */
		{ 0x0f000, 0x02000 },   /* over the start */
		{ 0x1f000, 0x02000 },   /* over the end */
		{ 0x12000, 0x01000 },   /* inside */
		{ 0x08000, 0x20000 },   /* around */
		{ 0x1ffff, 0x00001 },   /* last byte */
		{ 0x00000, 0x10001 },   /* first byte */
	};
	struct vus_dma_table *t = new_table(64, 0);
	size_t i;

	ASSERT_OK(vus_dma_table_add(t, 0x10000, 0x10000, RW, -1, 0, NULL));
	for (i = 0; i < sizeof(clash) / sizeof(clash[0]); i++)
		ASSERT_ERR(vus_dma_table_add(t, clash[i].iova, clash[i].size, RW, -1, 0, NULL),
			   -EEXIST);
	/* Touching on either side is fine. */
	ASSERT_OK(vus_dma_table_add(t, 0x0f000, 0x1000, RW, -1, 0, NULL));
	ASSERT_OK(vus_dma_table_add(t, 0x20000, 0x1000, RW, -1, 0, NULL));
	/* Overlapping two windows at once. */
	ASSERT_ERR(vus_dma_table_add(t, 0x0f800, 0x20000, RW, -1, 0, NULL), -EEXIST);
	ASSERT_EQ(t->n, 3);
	free_table(t);
}

static int cb_calls;
static uint64_t cb_last_iova;

static void count_cb(const struct vus_dma_region *r, void *arg)
{
	cb_calls++;
	cb_last_iova = r->iova;
	assert_ptr_equal(arg, &cb_calls);
}

static void test_remove_exact_only(void **state)
{
	struct vus_dma_table *t = new_table(64, 0);

	ASSERT_OK(vus_dma_table_add(t, 0x10000, 0x10000, RW, -1, 0, NULL));
	ASSERT_OK(vus_dma_table_add(t, 0x20000, 0x10000, RW, -1, 0, NULL));
	cb_calls = 0;
	/* Partial, superset, shifted, spanning both, nothing there. */
	ASSERT_ERR(vus_dma_table_remove(t, 0x10000, 0x8000, count_cb, &cb_calls), -ENOENT);
	ASSERT_ERR(vus_dma_table_remove(t, 0x18000, 0x8000, count_cb, &cb_calls), -ENOENT);
	ASSERT_ERR(vus_dma_table_remove(t, 0x0f000, 0x11000, count_cb, &cb_calls), -ENOENT);
	ASSERT_ERR(vus_dma_table_remove(t, 0x10000, 0x20000, count_cb, &cb_calls), -ENOENT);
	ASSERT_ERR(vus_dma_table_remove(t, 0x40000, 0x10000, count_cb, &cb_calls), -ENOENT);
	ASSERT_EQ(cb_calls, 0);
	ASSERT_EQ(t->n, 2);

	ASSERT_OK(vus_dma_table_remove(t, 0x20000, 0x10000, count_cb, &cb_calls));
	ASSERT_EQ(cb_calls, 1);
	ASSERT_EQ(cb_last_iova, 0x20000);
	ASSERT_EQ(t->n, 1);
	ASSERT_EQ(t->total_bytes, 0x10000);
	ASSERT_ERR(vus_dma_table_remove(t, 0x20000, 0x10000, NULL, NULL), -ENOENT);
	ASSERT_OK(vus_dma_table_remove(t, 0x10000, 0x10000, NULL, NULL));
	ASSERT_EQ(t->n, 0);
	ASSERT_EQ(t->total_bytes, 0);
	free_table(t);
}

static void test_limits_enospc(void **state)
{
	struct vus_dma_table *t = new_table(3, 0);
	uint64_t i;

	for (i = 0; i < 3; i++)
		ASSERT_OK(vus_dma_table_add(t, i << 20, 0x1000, RW, -1, 0, NULL));
	ASSERT_ERR(vus_dma_table_add(t, 10ull << 20, 0x1000, RW, -1, 0, NULL), -ENOSPC);
	/* The count is checked after overlap: an overlap still says EEXIST. */
	ASSERT_ERR(vus_dma_table_add(t, 0, 0x1000, RW, -1, 0, NULL), -EEXIST);
	ASSERT_OK(vus_dma_table_remove(t, 1 << 20, 0x1000, NULL, NULL));
	ASSERT_OK(vus_dma_table_add(t, 10ull << 20, 0x1000, RW, -1, 0, NULL));
	free_table(t);

	t = new_table(100, 0x10000);
	ASSERT_OK(vus_dma_table_add(t, 0, 0xc000, RW, -1, 0, NULL));
	ASSERT_ERR(vus_dma_table_add(t, 0x100000, 0x4001, RW, -1, 0, NULL), -ENOSPC);
	ASSERT_OK(vus_dma_table_add(t, 0x100000, 0x4000, RW, -1, 0, NULL));
	ASSERT_ERR(vus_dma_table_add(t, 0x200000, 1, RW, -1, 0, NULL), -ENOSPC);
	/* A single window bigger than the limit, with huge sizes near 2^64. */
	free_table(t);
	t = new_table(100, 0x10000);
	ASSERT_ERR(vus_dma_table_add(t, 0, UINT64_MAX, RW, -1, 0, NULL), -ENOSPC);
	free_table(t);
}

static void test_many_windows(void **state)
{
	/* Enough to grow the array several times, in a scrambled order. */
	struct vus_dma_table *t = new_table(4096, 0);
	uint64_t off;
	uint32_t i;

	for (i = 0; i < 1000; i++) {
		uint32_t k = (i * 617) % 1000; /* 617 is prime to 1000: a permutation */

		ASSERT_OK(vus_dma_table_add(t, (uint64_t)k * 0x2000, 0x1000, RW, -1, 0, NULL));
	}
	for (i = 0; i < 1000; i++) {
		assert_non_null(vus_dma_table_find(t, (uint64_t)i * 0x2000 + 0x800, 1, &off));
		ASSERT_EQ(off, 0x800);
		assert_null(vus_dma_table_find(t, (uint64_t)i * 0x2000 + 0x1000, 1, &off));
	}
	for (i = 0; i < 1000; i += 2)
		ASSERT_OK(vus_dma_table_remove(t, (uint64_t)i * 0x2000, 0x1000, NULL, NULL));
	ASSERT_EQ(t->n, 500);
	for (i = 1; i < t->n; i++)
		assert_true(t->r[i - 1].iova < t->r[i].iova);
	free_table(t);
}

/* ---- mmap of client fds --------------------------------------------- */

static void test_mmap_offset_contents(void **state)
{
	struct vus_dma_table *t = new_table(8, 0);
	struct vus_dma_region out;
	const struct vus_dma_region *r;
	int fd = make_memfd(16 * PG);
	uint64_t off;
	uint8_t *p;
	uint8_t b;
	size_t i;

	ASSERT_OK(vus_dma_table_add(t, 0x100000, 4 * PG, RW, fd, 3 * PG, &out));
	assert_non_null(out.vaddr);
	ASSERT_EQ(out.fd, fd);
	ASSERT_EQ(out.fd_offset, 3 * PG);
	r = vus_dma_table_find(t, 0x100000 + 10, 100, &off);
	assert_non_null(r);
	p = (uint8_t *)r->vaddr + off;
	for (i = 0; i < 100; i++)
		ASSERT_EQ(p[i], pattern(3 * PG + 10 + i));
	/* MAP_SHARED: a write through the window is the file's. */
	p[0] = 0xaa;
	ASSERT_EQ(pread(fd, &b, 1, 3 * PG + 10), 1);
	ASSERT_EQ(b, 0xaa);
	free_table(t);
	assert_false(fd_open(fd));
}

static void test_mmap_unaligned_offset(void **state)
{
	/* The spec does not require a page-aligned fd offset. */
	struct vus_dma_table *t = new_table(8, 0);
	struct vus_dma_region out;
	int fd = make_memfd(8 * PG);
	const uint8_t *p;
	size_t i;

	ASSERT_OK(vus_dma_table_add(t, 0x2000, 100, R, fd, PG + 123, &out));
	p = out.vaddr;
	for (i = 0; i < 100; i++)
		ASSERT_EQ(p[i], pattern(PG + 123 + i));
	ASSERT_OK(vus_dma_table_remove(t, 0x2000, 100, NULL, NULL));
	assert_false(fd_open(fd));
	free_table(t);
}

static void test_mmap_prot(void **state)
{
	struct vus_dma_table *t = new_table(8, 0);
	struct vus_dma_region ro, rw;
	int fd1 = make_memfd(2 * PG), fd2 = make_memfd(2 * PG);
	char perms[5];

	ASSERT_OK(vus_dma_table_add(t, 0x10000, 2 * PG, R, fd1, 0, &ro));
	ASSERT_OK(vus_dma_table_add(t, 0x20000, 2 * PG, RW, fd2, 0, &rw));
	/* A READ-only window is mapped without PROT_WRITE: a device bug
	 * writing through it faults instead of corrupting guest memory. */
	maps_perms(ro.vaddr, perms);
	assert_string_equal(perms, "r--s");
	maps_perms(rw.vaddr, perms);
	assert_string_equal(perms, "rw-s");
	ASSERT_EQ(ro.prot, R);
	free_table(t);
}

static void test_mmap_failure_keeps_fd(void **state)
{
	struct vus_dma_table *t = new_table(8, 0);
	int fd = make_memfd(PG);
	int pfd[2];

	/* A read-only file descriptor cannot back a writable shared map. */
	{
		char path[64];
		int ro;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY | O_CLOEXEC);
		ASSERT_NONNEG(ro);
		ASSERT_ERR(vus_dma_table_add(t, 0x1000, PG, RW, ro, 0, NULL), -EACCES);
		assert_true(fd_open(ro));
		ASSERT_OK(vus_dma_table_add(t, 0x1000, PG, R, ro, 0, NULL));
	}
	/* A pipe cannot be mapped at all. */
	ASSERT_OK(pipe2(pfd, O_CLOEXEC));
	ASSERT_ERR(vus_dma_table_add(t, 0x10000, PG, R, pfd[0], 0, NULL), -ENODEV);
	assert_true(fd_open(pfd[0]));
	ASSERT_EQ(t->n, 1);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
	free_table(t);
}

/* ---- fd ownership --------------------------------------------------- */

static void read_in_cb(const struct vus_dma_region *r, void *arg)
{
	/* The mapping is still there while the callback runs. */
	int *calls = arg;

	if (r->fd >= 0)
		ASSERT_EQ(((const uint8_t *)r->vaddr)[1], pattern(1));
	else
		assert_null(r->vaddr);
	(*calls)++;
}

static void test_fd_ownership(void **state)
{
	struct vus_dma_table *t = new_table(64, 0);
	int base = fdcount();
	int i, calls = 0;

	assert_true(base > 0);
	for (i = 0; i < 8; i++) {
		int fd = make_memfd(PG);

		ASSERT_OK(vus_dma_table_add(t, (uint64_t)i << 16, PG, RW, fd, 0, NULL));
	}
	ASSERT_OK(vus_dma_table_add(t, 1ull << 30, PG, RW, -1, 0, NULL));
	ASSERT_EQ(fdcount(), base + 8);
	ASSERT_OK(vus_dma_table_remove(t, 0, PG, read_in_cb, &calls));
	ASSERT_EQ(fdcount(), base + 7);
	vus_dma_table_remove_all(t, read_in_cb, &calls);
	ASSERT_EQ(calls, 1 + 8);
	ASSERT_EQ(t->n, 0);
	ASSERT_EQ(t->total_bytes, 0);
	ASSERT_EQ(fdcount(), base);

	/* The table is usable after remove_all, and destroy closes what is left. */
	for (i = 0; i < 3; i++) {
		int fd = make_memfd(PG);

		ASSERT_OK(vus_dma_table_add(t, (uint64_t)i << 16, PG, RW, fd, 0, NULL));
	}
	ASSERT_EQ(fdcount(), base + 3);
	free_table(t);
	ASSERT_EQ(fdcount(), base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_sorted),
		cmocka_unit_test(test_window_at_top_of_space),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_overlap_eexist),
		cmocka_unit_test(test_remove_exact_only),
		cmocka_unit_test(test_limits_enospc),
		cmocka_unit_test(test_many_windows),
		cmocka_unit_test(test_mmap_offset_contents),
		cmocka_unit_test(test_mmap_unaligned_offset),
		cmocka_unit_test(test_mmap_prot),
		cmocka_unit_test(test_mmap_failure_keeps_fd),
		cmocka_unit_test(test_fd_ownership),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
