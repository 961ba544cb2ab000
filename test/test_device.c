/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device object (lib/device.c, lib/log.c): region setup rules,
 * fd-backed and callback regions through vus_region_access(), sparse
 * area validation, limits, logging.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev_priv.h"
#include "vus_test.h"

static struct vus_dev *new_dev(void)
{
	struct vus_dev *dev = vus_dev_new("dev0");

	assert_non_null(dev);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	return dev;
}

static int setup(struct vus_dev *dev, uint32_t index, uint64_t size, uint32_t flags)
{
	return vus_dev_setup_region(dev, index, size, flags, NULL, NULL);
}

static void test_lifetime(void **state)
{
	struct vus_dev *dev = new_dev();
	struct vus_dev_stats st;
	int x;

	assert_string_equal(vus_dev_name(dev), "dev0");
	assert_null(vus_dev_private(dev));
	vus_dev_set_private(dev, &x);
	assert_ptr_equal(vus_dev_private(dev), &x);
	ASSERT_EQ(dev->nr_regions, VUS_PCI_NUM_REGIONS);
	ASSERT_EQ(dev->mig.state, VUS_MIG_STATE_RUNNING);
	ASSERT_EQ(dev->max_xfer, VUS_DEFAULT_MAX_DATA_XFER);
	ASSERT_NONNEG(vus_dev_poll_fd(dev));
	assert_false(vus_dev_client_attached(dev));
	vus_dev_get_stats(dev, &st);
	ASSERT_EQ(st.clients, 0);
	ASSERT_EQ(st.irqs, 0);
	vus_dev_free(dev);
	vus_dev_free(NULL);
}

static void test_region_rules(void **state)
{
	struct vus_dev *dev = new_dev();

	/* Config space is the library's. */
	ASSERT_ERR(setup(dev, VUS_PCI_CONFIG_REGION, 256, VUS_REGION_RW), -EINVAL);
	ASSERT_ERR(setup(dev, 0, 0, VUS_REGION_RW), -EINVAL);
	ASSERT_ERR(setup(dev, 0, 3000, VUS_REGION_RW), -EINVAL);
	ASSERT_ERR(setup(dev, VUS_PCI_ROM_REGION, 3000, VUS_REGION_READ), -EINVAL);
	ASSERT_ERR(setup(dev, 0, 4096, VUS_REGION_RW | (1u << 20)), -EINVAL);
	/* I/O BARs: at most 256 bytes, never 64-bit or prefetchable. */
	ASSERT_ERR(setup(dev, 0, 512, VUS_REGION_RW | VUS_REGION_BAR_IO), -EINVAL);
	ASSERT_ERR(setup(dev, 0, 64, VUS_REGION_RW | VUS_REGION_BAR_IO |
			 VUS_REGION_BAR_MEM64), -EINVAL);
	ASSERT_ERR(setup(dev, 0, 64, VUS_REGION_RW | VUS_REGION_BAR_IO |
			 VUS_REGION_BAR_PREFETCH), -EINVAL);
	/* A 32-bit BAR cannot describe more than 2 GiB. */
	ASSERT_ERR(setup(dev, 0, 4ull << 30, VUS_REGION_RW), -EINVAL);
	/* 64-bit needs the next register: not at BAR5. */
	ASSERT_ERR(setup(dev, 5, 4096, VUS_REGION_RW | VUS_REGION_BAR_MEM64), -EINVAL);
	/* BAR kinds only for BARs. */
	ASSERT_ERR(setup(dev, 8, 4096, VUS_REGION_RW | VUS_REGION_BAR_IO), -EINVAL);
	ASSERT_ERR(setup(dev, 9, 4096, VUS_REGION_RW | VUS_REGION_BAR_MEM64), -EINVAL);

	ASSERT_OK(setup(dev, 0, 64, VUS_REGION_RW | VUS_REGION_BAR_IO));
	ASSERT_ERR(setup(dev, 0, 64, VUS_REGION_RW | VUS_REGION_BAR_IO), -EEXIST);
	ASSERT_OK(setup(dev, 2, 4ull << 30, VUS_REGION_RW | VUS_REGION_BAR_MEM64));
	/* BAR3 is BAR2's upper half. */
	ASSERT_ERR(setup(dev, 3, 4096, VUS_REGION_RW), -EBUSY);
	ASSERT_OK(setup(dev, 4, 4096, VUS_REGION_RW));
	/* BAR3 defined would be clobbered by a 64-bit BAR2; here BAR4 is. */
	ASSERT_ERR(setup(dev, 3, 4096, VUS_REGION_RW | VUS_REGION_BAR_MEM64), -EBUSY);
	ASSERT_OK(setup(dev, VUS_PCI_ROM_REGION, 64 * 1024, VUS_REGION_READ));
	ASSERT_OK(setup(dev, VUS_PCI_VGA_REGION, 0x20000, VUS_REGION_RW));

	/* Device-specific regions: any size, the table grows. */
	ASSERT_OK(setup(dev, 12, 1000, VUS_REGION_READ));
	ASSERT_EQ(dev->nr_regions, 13);
	ASSERT_EQ(dev->regions[10].size, 0);
	ASSERT_EQ(dev->regions[10].fd, -1);
	ASSERT_ERR(setup(dev, 100, 4096, VUS_REGION_RW), -EINVAL);
	ASSERT_OK(vus_dev_region_set_type(dev, 12, 0x8086, 1));
	assert_true(dev->regions[12].has_type);
	ASSERT_ERR(vus_dev_region_set_type(dev, 4, 1, 1), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_type(dev, 10, 1, 1), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_type(dev, 13, 1, 1), -EINVAL);

	/* A 64-bit BAR may not swallow a BAR defined before it. */
	ASSERT_ERR(setup(dev, 1, 4096, VUS_REGION_RW | VUS_REGION_BAR_MEM64), -EBUSY);

	/* Frozen once config space is built (listen time). */
	ASSERT_OK(vus_config_init(dev));
	ASSERT_ERR(setup(dev, 1, 4096, VUS_REGION_RW), -EBUSY);
	ASSERT_ERR(vus_dev_setup_irq(dev, VUS_PCI_MSI_IRQ, 1), -EBUSY);
	ASSERT_ERR(vus_dev_set_max_data_xfer(dev, 4096), -EBUSY);
	vus_dev_free(dev);
}

static int memfd_with(size_t len)
{
	int fd = memfd_create("vus-test", MFD_CLOEXEC);
	uint8_t buf[256];
	size_t i;

	ASSERT_NONNEG(fd);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	for (i = 0; i < len; i += sizeof(buf))
		ASSERT_EQ(pwrite(fd, buf, sizeof(buf), (off_t)i), (ssize_t)sizeof(buf));
	return fd;
}

static void test_fd_region_access(void **state)
{
	struct vus_dev *dev = new_dev();
	uint8_t buf[64], back[8];
	int fd = memfd_with(3 * 4096);

	ASSERT_OK(setup(dev, 1, 8192, VUS_REGION_RW));
	ASSERT_OK(setup(dev, 2, 4096, VUS_REGION_READ));
	/* The region starts 4 KiB into the file; the library keeps a dup. */
	ASSERT_OK(vus_dev_region_set_fd(dev, 1, fd, 4096, false, NULL, 0));
	ASSERT_OK(vus_dev_region_set_fd(dev, 2, fd, 0, false, NULL, 0));
	assert_true(dev->regions[1].fd >= 0 && dev->regions[1].fd != fd);
	close(fd);

	ASSERT_OK(vus_region_access(dev, 1, 0x10, buf, 4, false));
	ASSERT_EQ(buf[0], 0x10);
	ASSERT_EQ(buf[3], 0x13);
	memcpy(buf, "\xde\xad\xbe\xef", 4);
	ASSERT_OK(vus_region_access(dev, 1, 0x20, buf, 4, true));
	ASSERT_EQ(pread(dev->regions[1].fd, back, 4, 4096 + 0x20), 4);
	assert_memory_equal(back, "\xde\xad\xbe\xef", 4);
	/* Bounds: the last byte is fine, one more is not; no wrap-around. */
	ASSERT_OK(vus_region_access(dev, 1, 8191, buf, 1, false));
	ASSERT_ERR(vus_region_access(dev, 1, 8191, buf, 2, false), -EINVAL);
	ASSERT_OK(vus_region_access(dev, 1, 8192, buf, 0, false));
	ASSERT_ERR(vus_region_access(dev, 1, UINT64_MAX, buf, 2, false), -EINVAL);
	/* Flags: region 2 is read-only. Unimplemented and absent regions. */
	ASSERT_ERR(vus_region_access(dev, 2, 0, buf, 4, true), -EINVAL);
	ASSERT_OK(vus_region_access(dev, 2, 0, buf, 4, false));
	ASSERT_ERR(vus_region_access(dev, 3, 0, buf, 4, false), -EINVAL);
	ASSERT_ERR(vus_region_access(dev, 40, 0, buf, 4, false), -EINVAL);
	vus_dev_free(dev);
}

static void test_fd_region_short_file(void **state)
{
	struct vus_dev *dev = new_dev();
	uint8_t buf[16];
	int fd = memfd_with(4096);

	ASSERT_OK(setup(dev, 0, 8192, VUS_REGION_RW));
	ASSERT_OK(vus_dev_region_set_fd(dev, 0, fd, 0, false, NULL, 0));
	close(fd);
	/* Past the end of the file: EOF is an I/O error, not a short read. */
	ASSERT_ERR(vus_region_access(dev, 0, 4090, buf, 16, false), -EIO);
	ASSERT_ERR(vus_region_access(dev, 0, 4096, buf, 1, false), -EIO);
	vus_dev_free(dev);
}

struct ops_log {
	uint64_t offset;
	uint32_t count;
	int calls;
	int ret;
};

static int ops_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		    uint32_t count)
{
	struct ops_log *l = opaque;

	l->offset = offset;
	l->count = count;
	l->calls++;
	memset(buf, 0x5a, count);
	return l->ret;
}

static void test_ops_region(void **state)
{
	static const struct vus_region_ops read_only = { .read = ops_read };
	struct ops_log log = { 0 };
	struct vus_dev *dev = new_dev();
	uint8_t buf[8] = { 0 };

	ASSERT_OK(vus_dev_setup_region(dev, 0, 4096, VUS_REGION_RW, &read_only, &log));
	ASSERT_OK(vus_region_access(dev, 0, 0x100, buf, 8, false));
	ASSERT_EQ(log.calls, 1);
	ASSERT_EQ(log.offset, 0x100);
	ASSERT_EQ(log.count, 8);
	ASSERT_EQ(buf[7], 0x5a);
	log.ret = -EAGAIN;
	ASSERT_ERR(vus_region_access(dev, 0, 0, buf, 1, false), -EAGAIN);
	/* Writable by its flags, but nothing takes writes. */
	ASSERT_ERR(vus_region_access(dev, 0, 0, buf, 1, true), -EIO);
	/* count 0 succeeds without calling the device. */
	ASSERT_OK(vus_region_access(dev, 0, 0, buf, 0, false));
	ASSERT_EQ(log.calls, 2);
	vus_dev_free(dev);
}

static void test_sparse_areas(void **state)
{
	const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	struct vus_sparse_area a[3];
	struct vus_dev *dev = new_dev();
	int fd = memfd_with(16 * pg);

	ASSERT_OK(setup(dev, 0, 8 * pg, VUS_REGION_RW));
	/* Not aligned, empty, outside, wrapping. */
	a[0] = (struct vus_sparse_area){ .offset = 100, .size = pg };
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 0, true, a, 1), -EINVAL);
	a[0] = (struct vus_sparse_area){ .offset = 0, .size = 100 };
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 0, true, a, 1), -EINVAL);
	a[0] = (struct vus_sparse_area){ .offset = pg, .size = 0 };
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 0, true, a, 1), -EINVAL);
	a[0] = (struct vus_sparse_area){ .offset = 7 * pg, .size = 2 * pg };
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 0, true, a, 1), -EINVAL);
	a[0] = (struct vus_sparse_area){ .offset = UINT64_MAX - pg + 1, .size = pg };
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 0, true, a, 1), -EINVAL);
	/* Overlapping. */
	a[0] = (struct vus_sparse_area){ .offset = 0, .size = 2 * pg };
	a[1] = (struct vus_sparse_area){ .offset = pg, .size = pg };
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 0, true, a, 2), -EINVAL);
	/* Areas make no sense without mmap; mmap needs an aligned offset. */
	a[0] = (struct vus_sparse_area){ .offset = 0, .size = pg };
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 0, false, a, 1), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 12, true, NULL, 0), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, 0, true, NULL, 1), -EINVAL);
	/* Bad fd, config space, regions not set up. */
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, -1, 0, false, NULL, 0), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_fd(dev, 7, fd, 0, false, NULL, 0), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_fd(dev, 1, fd, 0, false, NULL, 0), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_fd(dev, 50, fd, 0, false, NULL, 0), -EINVAL);
	ASSERT_ERR(vus_dev_region_set_fd(dev, 0, fd, UINT64_MAX - pg + 1, false, NULL, 0),
		   -EINVAL);
	ASSERT_EQ(dev->regions[0].fd, -1);

	/* Unsorted but disjoint: accepted and kept in offset order. */
	a[0] = (struct vus_sparse_area){ .offset = 6 * pg, .size = 2 * pg };
	a[1] = (struct vus_sparse_area){ .offset = 0, .size = pg };
	a[2] = (struct vus_sparse_area){ .offset = 2 * pg, .size = 4 * pg };
	ASSERT_OK(vus_dev_region_set_fd(dev, 0, fd, pg, true, a, 3));
	ASSERT_EQ(dev->regions[0].nr_areas, 3);
	ASSERT_EQ(dev->regions[0].areas[0].offset, 0);
	ASSERT_EQ(dev->regions[0].areas[1].offset, 2 * pg);
	ASSERT_EQ(dev->regions[0].areas[2].offset, 6 * pg);
	assert_true(dev->regions[0].mmap);
	/* Set again: the previous dup is replaced, not leaked. */
	ASSERT_OK(vus_dev_region_set_fd(dev, 0, fd, 0, true, NULL, 0));
	ASSERT_EQ(dev->regions[0].nr_areas, 0);
	assert_null(dev->regions[0].areas);
	close(fd);
	vus_dev_free(dev);
}

static void test_limits(void **state)
{
	struct vus_dev *dev = new_dev();

	ASSERT_ERR(vus_dev_set_max_data_xfer(dev, 0), -EINVAL);
	ASSERT_ERR(vus_dev_set_max_data_xfer(dev, VUS_MAX_DATA_XFER_LIMIT + 1), -EINVAL);
	ASSERT_OK(vus_dev_set_max_data_xfer(dev, 4096));
	ASSERT_EQ(dev->max_xfer, 4096);
	ASSERT_ERR(vus_dev_set_pci_id(dev, &(struct vus_pci_id){ .class_code = 1u << 24 }),
		   -EINVAL);
	vus_dev_free(dev);
}

struct log_capture {
	int calls;
	enum vus_log_level level;
	char msg[128];
};

static void capture(void *opaque, enum vus_log_level level, const char *msg)
{
	struct log_capture *c = opaque;

	c->calls++;
	c->level = level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void test_logging(void **state)
{
	struct log_capture cap = { 0 };
	struct vus_dev *dev = new_dev();
	char line[128] = "";
	int p[2], saved;
	ssize_t n;

	vus_dev_set_log(dev, capture, &cap, VUS_LOG_INFO);
	vus_log(dev, VUS_LOG_DEBUG, "hidden %d", 1);
	ASSERT_EQ(cap.calls, 0);
	vus_log(dev, VUS_LOG_WARN, "shown %d", 2);
	ASSERT_EQ(cap.calls, 1);
	ASSERT_EQ(cap.level, VUS_LOG_WARN);
	assert_string_equal(cap.msg, "shown 2");
	vus_dev_set_log_level(dev, VUS_LOG_TRACE);
	vus_logf(dev, VUS_LOG_TRACE, "t");
	ASSERT_EQ(cap.calls, 2);

	/* Back to the default: stderr, "vus[<name>] <level>: msg". */
	vus_dev_set_log(dev, NULL, NULL, VUS_LOG_WARN);
	ASSERT_OK(pipe(p));
	saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	vus_log(dev, VUS_LOG_INFO, "not shown");
	vus_log(dev, VUS_LOG_ERR, "it broke: %s", "badly");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], line, sizeof(line) - 1);
	close(p[0]);
	assert_true(n > 0);
	assert_string_equal(line, "vus[dev0] error: it broke: badly\n");
	vus_dev_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test(test_region_rules),
		cmocka_unit_test(test_fd_region_access),
		cmocka_unit_test(test_fd_region_short_file),
		cmocka_unit_test(test_ops_region),
		cmocka_unit_test(test_sparse_areas),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_logging),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
