/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sample configurations' config space in `lspci -x` / `-xxxx` dump
 * format, for test/lspci_golden.sh, which has pciutils' `lspci -F`
 * decode them and compares with test/golden/<name>.txt.
 *
 *   test_pci_dump --dump DIR   write DIR/<name>.dump for every sample
 *   test_pci_dump              check the samples build and that each dump
 *                              parses back to the bytes config space reads
 *
 * Dump format (what lspci -F reads, pciutils lib/dump.c): a "bb:dd.f"
 * line starts a device, then lines "off: xx xx ... xx" of 16 bytes, the
 * offset in hex (two digits below 0x100, three above, as lspci -xxxx
 * prints them).
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

#include <cmocka.h>

#include "dev_priv.h"
#include "testdev.h"
#include "vus_test.h"

struct sample {
	const char *name;
	const char *title;            /* the text after the slot */
	struct vus_dev *(*make)(void **keep);
};

static void cfg_wr(struct vus_dev *dev, unsigned off, unsigned len, uint32_t v)
{
	uint8_t b[4];

	vus_cfg_put(b, v, len);
	if (vus_region_access(dev, VUS_PCI_CONFIG_REGION, off, b, len, true))
		abort();
}

static int ok(int rc)
{
	if (rc < 0) {
		fprintf(stderr, "sample setup failed: %s\n", strerror(-rc));
		abort();
	}
	return rc;
}

/* A conventional NIC-like function without capabilities, as a guest
 * left it: BARs and ROM placed, decoding on, a master abort reported,
 * pin B on IRQ 11 and asserted. */
static struct vus_dev *make_plain(void **keep)
{
	static const struct vus_pci_id id = { .vendor = 0x1234, .device = 0x0001,
					      .subsys_vendor = 0x1234, .subsys = 0x0002,
					      .class_code = 0x020000, .revision = 1 };
	struct vus_dev *dev = vus_dev_new("plain");

	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	ok(vus_dev_set_pci_id(dev, &id));
	ok(vus_dev_set_intx_pin(dev, 2));
	ok(vus_dev_setup_region(dev, 0, 0x1000, VUS_REGION_RW, NULL, NULL));
	ok(vus_dev_setup_region(dev, 1, 64, VUS_REGION_RW | VUS_REGION_BAR_IO, NULL, NULL));
	ok(vus_dev_setup_region(dev, VUS_PCI_ROM_REGION, 0x8000, VUS_REGION_READ, NULL, NULL));
	ok(vus_config_init(dev));
	cfg_wr(dev, 0x04, 2, 0x0147);
	cfg_wr(dev, 0x10, 4, 0xfebf0000);
	cfg_wr(dev, 0x14, 4, 0x0000c040);
	cfg_wr(dev, 0x30, 4, 0xfeb80000);
	cfg_wr(dev, 0x3c, 1, 11);
	ok(vus_dev_config_set_status(dev, 0x06, 2, 0x2000));
	/* Its INTx line is asserted: Status shows Interrupt Status. */
	ok(vus_irq_intx_set_level(dev, true));
	*keep = NULL;
	return dev;
}

/* testdev as vusd serves it, before a guest touched it. */
static struct vus_dev *make_testdev(void **keep)
{
	struct testdev *td;

	ok(testdev_create("testdev", &td));
	vus_dev_set_log_level(testdev_dev(td), VUS_LOG_ERR);
	ok(vus_config_init(testdev_dev(td)));
	*keep = td;
	return testdev_dev(td);
}

/* testdev's PCI Express variant (vusd: testdev,pcie=on) after it
 * reported an Unsupported Request and a Receiver Error through AER. */
static struct vus_dev *make_testdev_pcie(void **keep)
{
	static const struct testdev_opts opts = { .pcie = true };
	struct testdev *td;

	ok(testdev_create_opts("testdev", &opts, &td));
	vus_dev_set_log_level(testdev_dev(td), VUS_LOG_ERR);
	ok(vus_config_init(testdev_dev(td)));
	ok(vus_dev_report_aer(testdev_dev(td), VUS_AER_UNCOR_UNSUP_REQ, VUS_AER_COR_RECEIVER));
	*keep = td;
	return testdev_dev(td);
}

/* A PCI Express endpoint with every capability vus builds, MSI
 * programmed and MSI-X enabled with the function masked. */
static struct vus_dev *make_pcie(void **keep)
{
	static const struct vus_pci_id id = { .vendor = 0x1234, .device = 0x11e0,
					      .subsys_vendor = 0x1234, .subsys = 0x0100,
					      .class_code = 0x010802, .revision = 3 };
	static const struct vus_msix_layout lay = { .table_bar = 4, .table_offset = 0,
						    .pba_bar = 4, .pba_offset = 0x1000 };
	static const struct vus_pcie_cfg pcie = { .type = VUS_PCIE_ENDPOINT, .max_payload = 1,
						  .link_speed = 3, .link_width = 4, .flr = true };
	static const uint8_t vsec[8] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };
	struct vus_dev *dev = vus_dev_new("pcie");
	int msi, msix, e;

	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	ok(vus_dev_set_pci_id(dev, &id));
	ok(vus_dev_set_config_size(dev, 4096));
	ok(vus_dev_set_intx_pin(dev, 1));
	ok(vus_dev_setup_region(dev, 0, 0x4000, VUS_REGION_RW | VUS_REGION_BAR_MEM64, NULL, NULL));
	ok(vus_dev_setup_region(dev, 2, 1ull << 32, VUS_REGION_RW | VUS_REGION_BAR_MEM64 |
				VUS_REGION_BAR_PREFETCH, NULL, NULL));
	ok(vus_dev_setup_region(dev, VUS_PCI_ROM_REGION, 0x20000, VUS_REGION_READ, NULL, NULL));
	ok(vus_dev_add_cap_pm(dev, VUS_CAP_OFFSET_AUTO, VUS_PM_NO_SOFT_RESET));
	msi = ok(vus_dev_add_cap_msi(dev, VUS_CAP_OFFSET_AUTO, 8,
				     VUS_MSI_64BIT | VUS_MSI_PER_VECTOR_MASK));
	e = ok(vus_dev_add_cap_pcie(dev, 0x70, &pcie));
	msix = ok(vus_dev_add_cap_msix(dev, VUS_CAP_OFFSET_AUTO, 64, &lay));
	ok(vus_dev_add_cap_vendor(dev, VUS_CAP_OFFSET_AUTO, 12, "vus-data", NULL, NULL));
	ok(vus_dev_add_ext_cap_dsn(dev, VUS_CAP_OFFSET_AUTO, 0x0011223344556677ull));
	ok(vus_dev_add_ext_cap_vendor(dev, 0x140, 0x0042, 1, 16, vsec, NULL, NULL));
	ok(vus_config_init(dev));
	/* What a guest driver leaves behind. */
	cfg_wr(dev, 0x04, 2, 0x0406);
	cfg_wr(dev, 0x10, 4, 0xfe000004);
	cfg_wr(dev, 0x18, 4, 0x0000000c);
	cfg_wr(dev, 0x1c, 4, 0x00000008);
	cfg_wr(dev, msi + 4, 4, 0xfee00000);
	cfg_wr(dev, msi + 0xc, 2, 0x4022);
	cfg_wr(dev, msi + 0x10, 4, 0x0000000c);
	cfg_wr(dev, msi + 2, 2, 0x0031);
	cfg_wr(dev, msix + 2, 2, 0xc000);
	cfg_wr(dev, e + 8, 2, 0x2830);
	ok(vus_dev_config_set_status(dev, (uint16_t)(e + 0x0a), 2, 0x0001));
	*keep = NULL;
	return dev;
}

static const struct sample samples[] = {
	{ "plain", "Ethernet controller: Device 1234:0001", make_plain },
	{ "testdev", "Unclassified device: Device 1234:7e57", make_testdev },
	{ "testdev_pcie", "Unclassified device: Device 1234:7e58", make_testdev_pcie },
	{ "pcie", "Non-Volatile memory controller: Device 1234:11e0", make_pcie },
};
#define NR_SAMPLES (sizeof(samples) / sizeof(samples[0]))

static void release(struct vus_dev *dev, void *keep)
{
	if (keep)
		testdev_free(keep);
	else
		vus_dev_free(dev);
}

static int dump(FILE *f, const struct sample *s, struct vus_dev *dev)
{
	uint32_t size = (uint32_t)dev->cfg.size, i;
	uint8_t b[4096];
	int rc;

	rc = vus_region_access(dev, VUS_PCI_CONFIG_REGION, 0, b, size, false);
	if (rc)
		return rc;
	fprintf(f, "00:00.0 %s\n", s->title);
	for (i = 0; i < size; i++) {
		if (i % 16 == 0)
			fprintf(f, "%02x:", i);
		fprintf(f, " %02x", b[i]);
		if (i % 16 == 15)
			fputc('\n', f);
	}
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

static int dump_all(const char *dir)
{
	char path[4096];
	size_t i;

	for (i = 0; i < NR_SAMPLES; i++) {
		void *keep;
		struct vus_dev *dev = samples[i].make(&keep);
		FILE *f;
		int rc;

		snprintf(path, sizeof(path), "%s/%s.dump", dir, samples[i].name);
		f = fopen(path, "w");
		if (!f) {
			perror(path);
			release(dev, keep);
			return 1;
		}
		rc = dump(f, &samples[i], dev);
		if (fclose(f) || rc) {
			fprintf(stderr, "%s: write failed\n", path);
			release(dev, keep);
			return 1;
		}
		release(dev, keep);
	}
	return 0;
}

/* Parse a dump back: the bytes, and how many there were. */
static size_t parse(const char *text, uint8_t *out, size_t cap)
{
	const char *line = strchr(text, '\n');
	size_t n = 0;

	assert_non_null(line);
	assert_memory_equal(text, "00:00.0 ", 8);
	for (line++; *line && *line != '\n'; line = strchr(line, '\n') + 1) {
		unsigned off, v, i;
		int used;

		ASSERT_EQ(sscanf(line, "%x:%n", &off, &used), 1);
		ASSERT_EQ(off, n);
		line += used;
		for (i = 0; i < 16; i++) {
			ASSERT_EQ(sscanf(line, " %2x%n", &v, &used), 1);
			assert_true(n < cap);
			out[n++] = (uint8_t)v;
			line += used;
		}
		ASSERT_EQ(*line, '\n');
	}
	return n;
}

static void test_dumps_parse_back(void **state)
{
	size_t i;

	for (i = 0; i < NR_SAMPLES; i++) {
		void *keep;
		struct vus_dev *dev = samples[i].make(&keep);
		uint8_t want[4096], got[4096];
		char *text = NULL;
		size_t len = 0, n;
		FILE *f = open_memstream(&text, &len);

		assert_non_null(f);
		ASSERT_OK(dump(f, &samples[i], dev));
		ASSERT_OK(fclose(f));
		n = parse(text, got, sizeof(got));
		assert_true(n == 256 || n == 4096);
		ASSERT_OK(vus_region_access(dev, VUS_PCI_CONFIG_REGION, 0, want, (uint32_t)n,
					    false));
		assert_memory_equal(want, got, n);
		/* Offsets above 0xff print as three digits, like lspci -xxxx. */
		if (n == 4096)
			assert_non_null(strstr(text, "\nff0: "));
		free(text);
		release(dev, keep);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dumps_parse_back),
	};

	if (argc == 3 && !strcmp(argv[1], "--dump"))
		return dump_all(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--dump DIR]\n", argv[0]);
		return 2;
	}
	return VUS_RUN_TESTS(tests, NULL, NULL);
}
