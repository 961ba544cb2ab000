/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DEVICE_FEATURE, MIG_DATA_READ and MIG_DATA_WRITE handed to the device
 * (include/vus/passthrough.h, lib/model/migration/feature_passthrough.c),
 * as the kernel-VFIO bridge forwards them to VFIO_DEVICE_FEATURE
 * (docs/vfio-bridge.md): the device sees what the client sent, its answer
 * or errno goes back, and the library's framing checks come first.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vus/passthrough.h>

#include "rig.h"
#include "vus_test.h"

#define F_GET   VUS_DEVICE_FEATURE_GET
#define F_SET   VUS_DEVICE_FEATURE_SET
#define F_PROBE VUS_DEVICE_FEATURE_PROBE

static struct {
	int calls, reads, writes;
	uint32_t flags;
	size_t len, cap;
	uint8_t data[64];
	ssize_t answer;   /* bytes to answer, or -errno */
	uint8_t written[64];
	size_t written_len;
} pt;

static ssize_t pt_feature(struct vus_dev *dev, void *opaque, uint32_t flags, const void *data,
			  size_t len, void *out, size_t cap)
{
	ssize_t i;

	(void)dev;
	(void)opaque;
	pt.calls++;
	pt.flags = flags;
	pt.len = len;
	pt.cap = cap;
	memcpy(pt.data, data, len < sizeof(pt.data) ? len : sizeof(pt.data));
	for (i = 0; i < pt.answer && (size_t)i < cap; i++)
		((uint8_t *)out)[i] = (uint8_t)(0xa0 + i);
	return pt.answer;
}

static ssize_t pt_read(struct vus_dev *dev, void *opaque, void *buf, size_t size)
{
	(void)dev;
	(void)opaque;
	pt.reads++;
	memset(buf, 0x5c, size < 5 ? size : 5);
	return size < 5 ? (ssize_t)size : 5; /* short: "no more for now" */
}

static int pt_write(struct vus_dev *dev, void *opaque, const void *data, size_t size)
{
	(void)dev;
	(void)opaque;
	pt.writes++;
	pt.written_len = size;
	memcpy(pt.written, data, size < sizeof(pt.written) ? size : sizeof(pt.written));
	return size == 13 ? -ENOSPC : 0;
}

static const struct vus_feature_passthrough_ops ops = {
	.feature = pt_feature, .mig_read = pt_read, .mig_write = pt_write,
};

static void start(struct rig *r)
{
	struct vus_dev *dev = rig_dev_new();

	memset(&pt, 0, sizeof(pt));
	ASSERT_OK(vus_dev_set_feature_passthrough(dev, &ops, NULL));
	rig_start(r, dev, NULL);
}

static void feature(struct rig *r, uint32_t argsz, uint32_t flags, const void *data, size_t len,
		    struct raw_msg *m)
{
	uint8_t p[128];

	rig_put_u32(p, argsz);
	rig_put_u32(p + 4, flags);
	if (len)
		memcpy(p + 8, data, len);
	rig_call(r, VUS_CMD_DEVICE_FEATURE, p, 8 + len, NULL, 0, m);
}

static int feature_err(struct rig *r, uint32_t argsz, uint32_t flags, const void *data,
		       size_t len)
{
	struct raw_msg m;
	int err;

	feature(r, argsz, flags, data, len, &m);
	err = (m.hdr.flags & VUS_F_ERROR) ? (int)m.hdr.error : 0;
	raw_msg_free(&m);
	return err;
}

static void test_setup_checks(void **state)
{
	struct vus_feature_passthrough_ops half = { .feature = pt_feature, .mig_read = pt_read };
	struct vus_dev *dev = rig_dev_new();

	(void)state;
	ASSERT_ERR(vus_dev_set_feature_passthrough(dev, &half, NULL), -EINVAL);
	ASSERT_OK(vus_dev_set_feature_passthrough(dev, &ops, NULL));
	ASSERT_OK(vus_dev_set_feature_passthrough(dev, NULL, NULL));
	vus_dev_free(dev);
}

static void test_feature_forwarded(void **state)
{
	uint8_t d[8] = { 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	struct raw_msg m;
	struct rig r;

	(void)state;
	start(&r);
	/* GET: the device answers 8 bytes into the room argsz leaves. */
	pt.answer = 8;
	feature(&r, 16, VUS_FEATURE_MIGRATION | F_GET, NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags & VUS_F_ERROR, 0);
	ASSERT_EQ(pt.flags, VUS_FEATURE_MIGRATION | F_GET);
	ASSERT_EQ(pt.len, 0);
	ASSERT_EQ(pt.cap, 8);
	ASSERT_EQ(m.len, 16);
	ASSERT_EQ(raw_u32(&m, 0), 16);
	ASSERT_EQ(raw_u32(&m, 4), VUS_FEATURE_MIGRATION | F_GET);
	ASSERT_EQ(m.payload[8], 0xa0);
	ASSERT_EQ(m.payload[15], 0xa7);
	raw_msg_free(&m);
	/* SET: the device sees the data as sent; cap is at least its length. */
	pt.answer = 8;
	ASSERT_OK(feature_err(&r, 8, VUS_FEATURE_MIG_DEVICE_STATE | F_SET, d, sizeof(d)));
	ASSERT_EQ(pt.len, 8);
	ASSERT_EQ(pt.cap, 8);
	ASSERT_EQ(memcmp(pt.data, d, 8), 0);
	/* PROBE: forwarded with no data; the answer echoes the flags. */
	pt.answer = 0;
	feature(&r, 8, VUS_FEATURE_DMA_LOGGING_START | F_PROBE | F_SET, NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags & VUS_F_ERROR, 0);
	ASSERT_EQ(m.len, 8);
	ASSERT_EQ(raw_u32(&m, 4), VUS_FEATURE_DMA_LOGGING_START | F_PROBE | F_SET);
	raw_msg_free(&m);
	/* A feature index the library does not know reaches the device too. */
	pt.answer = -ENOTTY;
	ASSERT_ERR(feature_err(&r, 8, 0x123 | F_PROBE, NULL, 0), ENOTTY);
	ASSERT_EQ(pt.flags, 0x123 | F_PROBE);
	ASSERT_EQ(pt.calls, 4);
	rig_stop(&r);
}

static void test_feature_checked_first(void **state)
{
	uint8_t d[4] = { 0 };
	struct rig r;

	(void)state;
	start(&r);
	pt.answer = 0;
	/* Framing errors never reach the device. */
	ASSERT_ERR(feature_err(&r, 8, VUS_FEATURE_MIGRATION | F_GET | F_SET, NULL, 0), EINVAL);
	ASSERT_ERR(feature_err(&r, 8, VUS_FEATURE_MIGRATION, NULL, 0), EINVAL);
	ASSERT_ERR(feature_err(&r, 4, VUS_FEATURE_MIGRATION | F_GET, NULL, 0), EINVAL);
	ASSERT_ERR(feature_err(&r, 12, VUS_FEATURE_MIGRATION | F_PROBE, d, 4), EINVAL);
	ASSERT_ERR(feature_err(&r, 8, VUS_FEATURE_MIGRATION | (1u << 20) | F_GET, NULL, 0),
		   EINVAL);
	ASSERT_EQ(pt.calls, 0);
	/* A device answering more than the room it was given is an error. */
	pt.answer = 9;
	ASSERT_ERR(feature_err(&r, 16, VUS_FEATURE_MIGRATION | F_GET, NULL, 0), EIO);
	ASSERT_EQ(pt.cap, 8);
	rig_stop(&r);
}

static void test_mig_data(void **state)
{
	uint8_t p[8 + 16];
	struct raw_msg m;
	struct rig r;
	int i;

	(void)state;
	start(&r);
	rig_put_u32(p, 8 + 16);
	rig_put_u32(p + 4, 16);
	rig_call(&r, VUS_CMD_MIG_DATA_READ, p, 8, NULL, 0, &m);
	ASSERT_EQ(m.hdr.flags & VUS_F_ERROR, 0);
	ASSERT_EQ(pt.reads, 1);
	ASSERT_EQ(raw_u32(&m, 4), 5); /* the device's short read */
	ASSERT_EQ(m.len, 8 + 5);
	ASSERT_EQ(m.payload[8], 0x5c);
	raw_msg_free(&m);
	/* WRITE: the bytes reach the device; its errno comes back. */
	for (i = 0; i < 16; i++)
		p[8 + i] = (uint8_t)i;
	rig_put_u32(p, 8 + 16);
	rig_put_u32(p + 4, 16);
	rig_expect(&r, VUS_CMD_MIG_DATA_WRITE, p, sizeof(p), NULL, 0, 0);
	ASSERT_EQ(pt.written_len, 16);
	ASSERT_EQ(memcmp(pt.written, p + 8, 16), 0);
	rig_put_u32(p, 8 + 13);
	rig_put_u32(p + 4, 13);
	rig_expect(&r, VUS_CMD_MIG_DATA_WRITE, p, 8 + 13, NULL, 0, ENOSPC);
	/* A size the framing does not carry never reaches the device. */
	rig_put_u32(p + 4, 20);
	rig_expect(&r, VUS_CMD_MIG_DATA_WRITE, p, sizeof(p), NULL, 0, EINVAL);
	ASSERT_EQ(pt.writes, 2);
	rig_stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setup_checks),
		cmocka_unit_test(test_feature_forwarded),
		cmocka_unit_test(test_feature_checked_first),
		cmocka_unit_test(test_mig_data),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
