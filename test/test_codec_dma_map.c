/* SPDX-License-Identifier: BSD-3-Clause */
/* DMA_MAP / DMA_UNMAP request decoding. */
#include <errno.h>

#include "codec_test.h"
#include "vus_test.h"

#define RW (VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE)

static void test_dma_map(void **state)
{
	static const struct {
		const char *name;
		uint32_t argsz, flags;
		uint64_t offset, addr, size;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "fd-less rw", 32, RW, 0, 0x100000, 0x200000, 32, 0, 0 },
		{ "fd read-only with offset", 32, VUS_DMA_MAP_FLAG_READ, 0x3000, 0xc0000, 0x40000,
		  32, 1, 0 },
		{ "no access flags", 32, 0, 0, 0x1000, 0x1000, 32, 0, 0 },
		{ "extra payload bytes", 32, RW, 0, 0x1000, 0x1000, 40, 0, 0 },
		{ "argsz larger", 64, RW, 0, 0x1000, 0x1000, 32, 0, 0 },
		{ "ends just below 2^64", 32, RW, 0, UINT64_MAX - 0x1000, 0x1000, 32, 0, 0 },
		{ "truncated", 32, RW, 0, 0x1000, 0x1000, 31, 0, -EINVAL },
		{ "empty", 32, RW, 0, 0x1000, 0x1000, 0, 0, -EINVAL },
		{ "argsz 31", 31, RW, 0, 0x1000, 0x1000, 32, 0, -EINVAL },
		{ "argsz 0", 0, RW, 0, 0x1000, 0x1000, 32, 0, -EINVAL },
		{ "flag bit 2 (lvu MMAP)", 32, 1u << 2, 0, 0x1000, 0x1000, 32, 1, -EINVAL },
		{ "flag bit 31", 32, RW | 1u << 31, 0, 0x1000, 0x1000, 32, 0, -EINVAL },
		{ "size 0", 32, RW, 0, 0x1000, 0, 32, 0, -EINVAL },
		{ "addr+size wraps", 32, RW, 0, UINT64_MAX - 0xfff, 0x1000, 32, 0, -EINVAL },
		{ "addr+size == 2^64", 32, RW, 0, 1ull << 63, 1ull << 63, 32, 0, -EINVAL },
		{ "size max", 32, RW, 0, 1, UINT64_MAX, 32, 0, -EINVAL },
		{ "offset+size wraps", 32, RW, UINT64_MAX, 0x1000, 0x1000, 32, 1, -EINVAL },
		{ "offset without fd", 32, RW, 0x1000, 0x1000, 0x1000, 32, 0, -EINVAL },
		{ "two fds", 32, RW, 0, 0x1000, 0x1000, 32, 2, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[64] = { 0 };
		struct vus_dma_map out;
		struct vus_msg_view m;
		int rc;

		put_u32(b + 0, cases[i].argsz);
		put_u32(b + 4, cases[i].flags);
		put_u64(b + 8, cases[i].offset);
		put_u64(b + 16, cases[i].addr);
		put_u64(b + 24, cases[i].size);
		m = tview(b, cases[i].len, cases[i].nfds);
		rc = vus_dma_map_decode(&m, &out);
		tview_free(&m);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			ASSERT_EQ(out.argsz, cases[i].argsz);
			ASSERT_EQ(out.flags, cases[i].flags);
			ASSERT_EQ(out.offset, cases[i].offset);
			ASSERT_EQ(out.addr, cases[i].addr);
			ASSERT_EQ(out.size, cases[i].size);
		}
	}
}

static void test_dma_unmap(void **state)
{
	static const struct {
		const char *name;
		uint32_t argsz, flags;
		uint64_t addr, size;
		size_t len;
		unsigned nfds;
		int rc;
	} cases[] = {
		{ "exact range", 24, 0, 0x100000, 0x200000, 24, 0, 0 },
		{ "argsz larger", 40, 0, 0x1000, 0x1000, 24, 0, 0 },
		{ "extra payload", 24, 0, 0x1000, 0x1000, 40, 0, 0 },
		{ "all (QEMU form)", 24, VUS_DMA_UNMAP_FLAG_ALL, 0, 0, 24, 0, 0 },
		{ "ends just below 2^64", 24, 0, UINT64_MAX - 1, 1, 24, 0, 0 },
		{ "truncated", 24, 0, 0x1000, 0x1000, 23, 0, -EINVAL },
		{ "argsz 16", 16, 0, 0x1000, 0x1000, 24, 0, -EINVAL },
		{ "size 0", 24, 0, 0x1000, 0, 24, 0, -EINVAL },
		{ "addr+size wraps", 24, 0, UINT64_MAX, 1, 24, 0, -EINVAL },
		{ "all with addr", 24, VUS_DMA_UNMAP_FLAG_ALL, 0x1000, 0, 24, 0, -EINVAL },
		{ "all with size", 24, VUS_DMA_UNMAP_FLAG_ALL, 0, 0x1000, 24, 0, -EINVAL },
		{ "dirty bitmap", 24, VUS_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 0x1000, 0x1000, 40, 0,
		  -ENOTSUP },
		{ "dirty bitmap + all", 24,
		  VUS_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VUS_DMA_UNMAP_FLAG_ALL, 0, 0, 24, 0,
		  -EINVAL },
		{ "unknown flag", 24, 1u << 2, 0x1000, 0x1000, 24, 0, -EINVAL },
		{ "fd attached", 24, 0, 0x1000, 0x1000, 24, 1, -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t b[64] = { 0 };
		struct vus_dma_unmap out;
		struct vus_msg_view m;
		int rc;

		put_u32(b + 0, cases[i].argsz);
		put_u32(b + 4, cases[i].flags);
		put_u64(b + 8, cases[i].addr);
		put_u64(b + 16, cases[i].size);
		m = tview(b, cases[i].len, cases[i].nfds);
		rc = vus_dma_unmap_decode(&m, &out);
		tview_free(&m);
		expect_rc(cases[i].name, rc, cases[i].rc);
		if (rc == 0) {
			ASSERT_EQ(out.argsz, cases[i].argsz);
			ASSERT_EQ(out.flags, cases[i].flags);
			ASSERT_EQ(out.addr, cases[i].addr);
			ASSERT_EQ(out.size, cases[i].size);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dma_map),
		cmocka_unit_test(test_dma_unmap),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
