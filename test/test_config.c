/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI config space through region 7 accesses, as QEMU makes them
 * (docs/qemu.md, "Config space and BARs"): BAR type bits, sizing by
 * all-ones and restore, the ROM BAR with and without a ROM, read-only
 * fields, the command register, RW1C status bits, unaligned and multi-byte
 * accesses, 4096-byte space, reset to power-on values.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dev_priv.h"
#include "pci_regs.h"
#include "vus_test.h"

static const struct vus_pci_id test_id = {
	.vendor = 0x4e58, .device = 0x0001,
	.subsys_vendor = 0x1af4, .subsys = 0x1100,
	.class_code = 0x010802, /* NVMe: base 01, sub 08, prog-if 02 */
	.revision = 0x03,
};

static uint32_t rd(struct vus_dev *dev, uint64_t off, uint32_t len)
{
	uint8_t b[4] = { 0 };
	uint32_t v = 0, i;

	ASSERT_OK(vus_region_access(dev, VUS_PCI_CONFIG_REGION, off, b, len, false));
	for (i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void wr(struct vus_dev *dev, uint64_t off, uint32_t len, uint32_t v)
{
	uint8_t b[4];
	uint32_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	ASSERT_OK(vus_region_access(dev, VUS_PCI_CONFIG_REGION, off, b, len, true));
}

/* BAR0 I/O 256, BAR1 mem32 4K, BAR2/3 mem64 prefetch 8 GiB,
 * BAR4 mem32 prefetch 64K, BAR5 none; no ROM; pin INTA. */
static struct vus_dev *make_dev(uint64_t rom_size, size_t cfg_size)
{
	struct vus_dev *dev = vus_dev_new("cfg");

	assert_non_null(dev);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	ASSERT_OK(vus_dev_set_pci_id(dev, &test_id));
	ASSERT_OK(vus_dev_set_config_size(dev, cfg_size));
	ASSERT_OK(vus_dev_setup_region(dev, 0, 256, VUS_REGION_RW | VUS_REGION_BAR_IO,
				       NULL, NULL));
	ASSERT_OK(vus_dev_setup_region(dev, 1, 4096, VUS_REGION_RW, NULL, NULL));
	ASSERT_OK(vus_dev_setup_region(dev, 2, 8ull << 30, VUS_REGION_RW |
				       VUS_REGION_BAR_MEM64 | VUS_REGION_BAR_PREFETCH,
				       NULL, NULL));
	ASSERT_OK(vus_dev_setup_region(dev, 4, 65536, VUS_REGION_RW |
				       VUS_REGION_BAR_PREFETCH, NULL, NULL));
	if (rom_size)
		ASSERT_OK(vus_dev_setup_region(dev, VUS_PCI_ROM_REGION, rom_size,
					       VUS_REGION_READ, NULL, NULL));
	ASSERT_OK(vus_dev_set_intx_pin(dev, 1));
	ASSERT_OK(vus_config_init(dev));
	return dev;
}

static void test_header_fields(void **state)
{
	struct vus_dev *dev = make_dev(0, 256);

	ASSERT_EQ(rd(dev, 0x00, 2), 0x4e58);
	ASSERT_EQ(rd(dev, 0x02, 2), 0x0001);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 2), 0);
	/* No capabilities: status bit 4 clear, pointer 0. */
	ASSERT_EQ(rd(dev, CFG_STATUS, 2), 0);
	ASSERT_EQ(rd(dev, CFG_CAP_PTR, 1), 0);
	ASSERT_EQ(rd(dev, 0x08, 4), 0x01080203);
	ASSERT_EQ(rd(dev, CFG_HDR_TYPE, 1), 0);
	ASSERT_EQ(rd(dev, 0x2c, 4), 0x11001af4);
	ASSERT_EQ(rd(dev, CFG_INT_PIN, 1), 1);
	ASSERT_EQ(dev->regions[VUS_PCI_CONFIG_REGION].size, 256);
	vus_dev_free(dev);
}

static void test_bar_types(void **state)
{
	struct vus_dev *dev = make_dev(0, 256);

	ASSERT_EQ(rd(dev, 0x10, 4), 0x1);       /* I/O */
	ASSERT_EQ(rd(dev, 0x14, 4), 0x0);       /* 32-bit memory */
	ASSERT_EQ(rd(dev, 0x18, 4), 0xc);       /* 64-bit, prefetchable */
	ASSERT_EQ(rd(dev, 0x1c, 4), 0x0);       /* its upper half */
	ASSERT_EQ(rd(dev, 0x20, 4), 0x8);       /* 32-bit prefetchable */
	ASSERT_EQ(rd(dev, 0x24, 4), 0x0);       /* unimplemented */
	vus_dev_free(dev);
}

/* QEMU's sequence: read, write all-ones, read the mask, write back. */
static uint32_t size_bar(struct vus_dev *dev, uint64_t off)
{
	uint32_t orig = rd(dev, off, 4), mask;

	wr(dev, off, 4, 0xffffffff);
	mask = rd(dev, off, 4);
	wr(dev, off, 4, orig);
	ASSERT_EQ(rd(dev, off, 4), orig);
	return mask;
}

static void test_bar_sizing(void **state)
{
	struct vus_dev *dev = make_dev(0, 256);

	ASSERT_EQ(size_bar(dev, 0x10), 0xffffff01);  /* 256 bytes of I/O */
	ASSERT_EQ(size_bar(dev, 0x14), 0xfffff000);  /* 4 KiB */
	/* 8 GiB: the low register has no address bits left. */
	ASSERT_EQ(size_bar(dev, 0x18), 0x0000000c);
	ASSERT_EQ(size_bar(dev, 0x1c), 0xfffffffe);
	ASSERT_EQ(size_bar(dev, 0x20), 0xffff0008);
	ASSERT_EQ(size_bar(dev, 0x24), 0);

	/* An address sticks, minus the bits below the size. */
	wr(dev, 0x14, 4, 0xfebf1234);
	ASSERT_EQ(rd(dev, 0x14, 4), 0xfebf1000);
	wr(dev, 0x10, 4, 0x0000c0ff);
	ASSERT_EQ(rd(dev, 0x10, 4), 0x0000c001);
	/* After reset QEMU writes 0 to every BAR (docs/qemu.md "Machine reset"). */
	wr(dev, 0x14, 4, 0);
	ASSERT_EQ(rd(dev, 0x14, 4), 0);
	vus_dev_free(dev);
}

static void test_rom_bar(void **state)
{
	struct vus_dev *dev = make_dev(0, 256);

	/* No ROM: reads 0 whatever is written, which QEMU reads as none. */
	wr(dev, 0x30, 4, 0xfffff800);
	ASSERT_EQ(rd(dev, 0x30, 4), 0);
	wr(dev, 0x30, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, 0x30, 4), 0);
	vus_dev_free(dev);

	dev = make_dev(64 * 1024, 256);
	ASSERT_EQ(rd(dev, 0x30, 4), 0);
	wr(dev, 0x30, 4, 0xfffff800);
	ASSERT_EQ(rd(dev, 0x30, 4), 0xffff0000);
	wr(dev, 0x30, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, 0x30, 4), 0xffff0001);  /* enable bit is writable */
	wr(dev, 0x30, 4, 0);
	ASSERT_EQ(rd(dev, 0x30, 4), 0);
	vus_dev_free(dev);

	/* A ROM below 2 KiB still decodes 2 KiB. */
	dev = make_dev(1024, 256);
	wr(dev, 0x30, 4, 0xfffff800);
	ASSERT_EQ(rd(dev, 0x30, 4), 0xfffff800);
	vus_dev_free(dev);
}

static void test_read_only_fields(void **state)
{
	struct vus_dev *dev = make_dev(0, 256);
	static const uint8_t ro[] = { 0x00, 0x01, 0x02, 0x03, 0x06, 0x07, 0x08, 0x09, 0x0a,
				      0x0b, 0x0e, 0x2c, 0x2d, 0x2e, 0x2f, 0x34, 0x3d };
	uint8_t before[256], after[256];
	size_t i;

	ASSERT_OK(vus_region_access(dev, 7, 0, before, 256, false));
	for (i = 0; i < sizeof(ro); i++)
		wr(dev, ro[i], 1, 0xa5);
	wr(dev, 0x00, 4, 0xffffffff);
	ASSERT_OK(vus_region_access(dev, 7, 0, after, 256, false));
	for (i = 0; i < sizeof(ro); i++)
		ASSERT_EQ(after[ro[i]], before[ro[i]]);
	/* Undefined registers are read-only zero: the write is accepted. */
	wr(dev, 0x40, 4, 0xffffffff);
	wr(dev, 0xfc, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, 0x40, 4), 0);
	ASSERT_EQ(rd(dev, 0xfc, 4), 0);
	vus_dev_free(dev);
}

static void test_command_register(void **state)
{
	struct vus_dev *dev = make_dev(0, 256);

	wr(dev, CFG_COMMAND, 2, 0xffff);
	/* I/O, memory, bus master, parity, SERR, INTx disable. */
	ASSERT_EQ(rd(dev, CFG_COMMAND, 2), 0x0547);
	ASSERT_EQ(rd(dev, CFG_STATUS, 2), 0);
	wr(dev, CFG_COMMAND, 2, 0x0006);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 2), 0x0006);
	/* A dword write at 0x04 also hits Status, which ignores it. */
	wr(dev, CFG_COMMAND, 4, 0xffff0400);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 4), 0x00000400);
	/* Interrupt line is read/write, the pin next to it is not. */
	wr(dev, 0x3c, 2, 0xff0b);
	ASSERT_EQ(rd(dev, 0x3c, 2), 0x010b);
	vus_dev_free(dev);
}

static void test_status_rw1c(void **state)
{
	struct vus_dev *dev = vus_dev_new("cfg");

	/* Nothing to set before config space exists. */
	assert_non_null(dev);
	ASSERT_ERR(vus_dev_config_set_status(dev, CFG_STATUS, 2, 0x2000), -ENODEV);
	vus_dev_free(dev);

	dev = make_dev(0, 256);
	/* The device reports errors; only RW1C bits may be set. */
	ASSERT_OK(vus_dev_config_set_status(dev, CFG_STATUS, 2, 0x2100));
	ASSERT_OK(vus_dev_config_set_status(dev, 0x07, 1, 0x80));
	ASSERT_ERR(vus_dev_config_set_status(dev, CFG_STATUS, 2, 0x0010), -EINVAL);
	ASSERT_ERR(vus_dev_config_set_status(dev, CFG_STATUS, 2, 0x0008), -EINVAL);
	ASSERT_ERR(vus_dev_config_set_status(dev, CFG_COMMAND, 2, 0x0001), -EINVAL);
	ASSERT_ERR(vus_dev_config_set_status(dev, 0x07, 2, 0x2000), -EINVAL);
	ASSERT_ERR(vus_dev_config_set_status(dev, CFG_STATUS, 3, 0x2000), -EINVAL);
	ASSERT_ERR(vus_dev_config_set_status(dev, 0xfe, 4, 0), -EINVAL);
	ASSERT_EQ(rd(dev, CFG_STATUS, 2), 0xa100);
	/* Writing 0 clears nothing; a 1 clears that bit only. */
	wr(dev, CFG_STATUS, 2, 0x0000);
	ASSERT_EQ(rd(dev, CFG_STATUS, 2), 0xa100);
	wr(dev, CFG_STATUS, 2, 0x2000);
	ASSERT_EQ(rd(dev, CFG_STATUS, 2), 0x8100);
	/* A dword write of Command + Status, as a guest's RMW does: the
	 * Status half clears what it sets. */
	wr(dev, CFG_COMMAND, 4, 0x81000006);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 4), 0x00000006);
	vus_dev_free(dev);
}

static void test_reset_to_power_on(void **state)
{
	struct vus_dev *dev = make_dev(64 * 1024, 256);
	uint8_t before[256], after[256];

	ASSERT_OK(vus_region_access(dev, 7, 0, before, 256, false));
	wr(dev, CFG_COMMAND, 2, 0x0547);
	wr(dev, 0x0c, 1, 0x10);
	wr(dev, 0x14, 4, 0xfebf0000);
	wr(dev, 0x30, 4, 0xfffe0001);
	wr(dev, 0x3c, 1, 0x0b);
	ASSERT_OK(vus_dev_config_set_status(dev, CFG_STATUS, 2, 0x4000));
	vus_config_reset(dev);
	ASSERT_OK(vus_region_access(dev, 7, 0, after, 256, false));
	assert_memory_equal(before, after, 256);
	vus_dev_free(dev);
}

static void test_unaligned_and_multibyte(void **state)
{
	struct vus_dev *dev = make_dev(0, 256);
	uint8_t buf[64], all[256];

	/* 3 bytes across vendor and device ID. */
	ASSERT_EQ(rd(dev, 0x01, 3), 0x00014e);
	/* 2 bytes straddling the BAR1 register's first two bytes: the
	 * low 12 bits are below the 4 KiB size. */
	wr(dev, 0x15, 2, 0xffff);
	ASSERT_EQ(rd(dev, 0x14, 4), 0x00fff000);
	/* One byte in the middle of a BAR. */
	wr(dev, 0x16, 1, 0xab);
	ASSERT_EQ(rd(dev, 0x14, 4), 0x00abf000);
	/* A 64-byte write of all-ones over the whole header equals every
	 * mask, type bits kept. */
	memset(buf, 0xff, sizeof(buf));
	ASSERT_OK(vus_region_access(dev, 7, 0, buf, sizeof(buf), true));
	ASSERT_EQ(rd(dev, 0x00, 4), 0x00014e58);
	ASSERT_EQ(rd(dev, CFG_COMMAND, 4), 0x00000547);
	ASSERT_EQ(rd(dev, 0x0c, 1), 0xff);
	ASSERT_EQ(rd(dev, 0x10, 4), 0xffffff01);
	ASSERT_EQ(rd(dev, 0x18, 4), 0x0000000c);
	ASSERT_EQ(rd(dev, 0x1c, 4), 0xfffffffe);
	ASSERT_EQ(rd(dev, 0x3c, 4), 0x000001ff);
	/* The whole space in one read, as QEMU does at realize. */
	ASSERT_OK(vus_region_access(dev, 7, 0, all, 256, false));
	ASSERT_EQ(all[0x10], 0x01);
	/* Out of bounds, and an offset + count that would wrap. */
	ASSERT_ERR(vus_region_access(dev, 7, 255, buf, 2, false), -EINVAL);
	ASSERT_ERR(vus_region_access(dev, 7, UINT64_MAX, buf, 2, true), -EINVAL);
	ASSERT_ERR(vus_config_access(dev, 256, buf, 1, false), -EINVAL);
	vus_dev_free(dev);
}

static void test_extended_config(void **state)
{
	struct vus_dev *dev = make_dev(0, 4096);
	uint8_t big[4096];

	ASSERT_EQ(dev->regions[VUS_PCI_CONFIG_REGION].size, 4096);
	ASSERT_EQ(rd(dev, 0x00, 2), 0x4e58);
	/* No extended capabilities: the first dword at 0x100 is 0. */
	ASSERT_EQ(rd(dev, 0x100, 4), 0);
	wr(dev, 0x100, 4, 0xffffffff);
	ASSERT_EQ(rd(dev, 0x100, 4), 0);
	wr(dev, 0xffd, 3, 0xffffff);
	ASSERT_EQ(rd(dev, 0xffc, 4), 0);
	ASSERT_OK(vus_region_access(dev, 7, 0, big, sizeof(big), false));
	ASSERT_ERR(vus_region_access(dev, 7, 4095, big, 2, false), -EINVAL);
	vus_dev_free(dev);
}

static void test_config_setup_rules(void **state)
{
	struct vus_dev *dev = vus_dev_new("cfg");

	assert_non_null(dev);
	ASSERT_ERR(vus_dev_set_config_size(dev, 512), -EINVAL);
	ASSERT_ERR(vus_dev_set_intx_pin(dev, 5), -EINVAL);
	ASSERT_OK(vus_config_init(dev));
	/* Built: the layout is frozen. */
	ASSERT_ERR(vus_dev_set_config_size(dev, 4096), -EBUSY);
	ASSERT_ERR(vus_dev_set_pci_id(dev, &test_id), -EBUSY);
	/* Init again keeps the state. */
	wr(dev, 0x3c, 1, 0x0a);
	ASSERT_OK(vus_config_init(dev));
	ASSERT_EQ(rd(dev, 0x3c, 1), 0x0a);
	vus_dev_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_bar_types),
		cmocka_unit_test(test_bar_sizing),
		cmocka_unit_test(test_rom_bar),
		cmocka_unit_test(test_read_only_fields),
		cmocka_unit_test(test_command_register),
		cmocka_unit_test(test_status_rw1c),
		cmocka_unit_test(test_reset_to_power_on),
		cmocka_unit_test(test_unaligned_and_multibyte),
		cmocka_unit_test(test_extended_config),
		cmocka_unit_test(test_config_setup_rules),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
