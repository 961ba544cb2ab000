/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Config space handed to the device (include/vus/passthrough.h,
 * lib/model/config_passthrough.c), as the kernel-VFIO bridge uses it
 * (docs/vfio-bridge.md): accesses reach the device's ops after the
 * library's bounds checks, with the offsets and sizes the client sent.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/passthrough.h>

#include "dev_priv.h"
#include "vus_test.h"

struct cfg_log {
	int reads, writes;
	uint64_t offset;
	uint32_t count;
	uint8_t written[8];
	int fail;
};

static int cfg_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		    uint32_t count)
{
	struct cfg_log *l = opaque;
	uint32_t i;

	(void)dev;
	l->reads++;
	l->offset = offset;
	l->count = count;
	for (i = 0; i < count; i++)
		((uint8_t *)buf)[i] = (uint8_t)(offset + i);
	return l->fail;
}

static int cfg_write(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		     uint32_t count)
{
	struct cfg_log *l = opaque;

	(void)dev;
	l->writes++;
	l->offset = offset;
	l->count = count;
	memcpy(l->written, buf, count < 8 ? count : 8);
	return l->fail;
}

static const struct vus_region_ops ops = { .read = cfg_read, .write = cfg_write };

static void test_setup_checks(void **state)
{
	static const struct vus_region_ops half = { .read = cfg_read };
	struct vus_dev *dev = vus_dev_new("cfgpt");
	struct cfg_log log = { 0 };
	char dir[] = "/tmp/vus-cfgpt-XXXXXX", path[64];

	(void)state;
	assert_non_null(dev);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	ASSERT_ERR(vus_dev_set_config_passthrough(dev, 4096, &half, &log), -EINVAL);
	ASSERT_ERR(vus_dev_set_config_passthrough(dev, 300, &ops, &log), -EINVAL);
	ASSERT_OK(vus_dev_set_config_passthrough(dev, 256, &ops, &log));
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	ASSERT_OK(vus_dev_listen(dev, path));
	ASSERT_ERR(vus_dev_set_config_passthrough(dev, 256, &ops, &log), -EBUSY);
	vus_dev_free(dev);
	rmdir(dir);
}

static void test_access(void **state)
{
	struct vus_dev *dev = vus_dev_new("cfgpt");
	struct cfg_log log = { 0 };
	uint8_t buf[8];
	uint32_t v = 0x12345678;

	(void)state;
	assert_non_null(dev);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	ASSERT_OK(vus_dev_set_config_passthrough(dev, 4096, &ops, &log));
	/* Reads and writes reach the ops with the client's offset and size. */
	ASSERT_OK(vus_region_access(dev, VUS_PCI_CONFIG_REGION, 0x100, buf, 4, false));
	ASSERT_EQ(log.reads, 1);
	ASSERT_EQ(log.offset, 0x100);
	ASSERT_EQ(log.count, 4);
	ASSERT_EQ(buf[0], 0x00);
	ASSERT_EQ(buf[3], 0x03);
	ASSERT_OK(vus_region_access(dev, VUS_PCI_CONFIG_REGION, 0x4, &v, 2, true));
	ASSERT_EQ(log.writes, 1);
	ASSERT_EQ(log.offset, 0x4);
	ASSERT_EQ(log.count, 2);
	ASSERT_EQ(memcmp(log.written, &v, 2), 0);
	/* The library's bounds come first: the ops never see these. */
	ASSERT_ERR(vus_region_access(dev, VUS_PCI_CONFIG_REGION, 4094, buf, 4, false), -EINVAL);
	ASSERT_ERR(vus_region_access(dev, VUS_PCI_CONFIG_REGION, 4096, buf, 1, true), -EINVAL);
	ASSERT_EQ(log.reads, 1);
	ASSERT_EQ(log.writes, 1);
	/* The device's errno is the client's. */
	log.fail = -EIO;
	ASSERT_ERR(vus_region_access(dev, VUS_PCI_CONFIG_REGION, 0, buf, 4, false), -EIO);
	vus_dev_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setup_checks),
		cmocka_unit_test(test_access),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
