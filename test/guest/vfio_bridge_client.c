/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest side of test/guest_vfio_bridge.sh: drives devices that vusd's
 * "vfio" type bridges from the guest kernel's vfio-pci, with the vus
 * client library (docs/vfio-bridge.md "Tests").
 *
 *   vfio_bridge_client edu SOCK N      QEMU's edu device: identity (message
 *                                      and mmap), factorial, MSI, INTx, DMA both
 *                                      ways through the IOMMU, read-only and
 *                                      unmapped windows blocked, a map
 *                                      without fd refused; N timed reads
 *   vfio_bridge_client edu-after SOCK  a second client finds bus master off;
 *                                      DEVICE_RESET of a function the kernel
 *                                      cannot reset: ENOTTY
 *   vfio_bridge_client hot-reset S0 S1 two functions of one group, one vusd;
 *                                      DEVICE_RESET by a hot reset of the bus
 *   vfio_bridge_client nvme SOCK       the tests' userspace NVMe driver
 *                                      (test/helpers/nvme_drv.h), unchanged;
 *                                      then DEVICE_RESET
 *   vfio_bridge_client direct BDF N [legacy|iommufd]
 *                                      N reads of the same register, N/4
 *                                      map/unmap pairs and N/2 MSIs through
 *                                      kernel VFIO directly (the container,
 *                                      or iommufd's IOAS): the baseline
 *
 * Prints "GUEST: FAIL ..." and exits 1 on the first failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>

#include "nvme_drv.h"
#include "vfio_priv.h"

#define FAIL(...)                                        \
	do {                                             \
		printf("GUEST: FAIL ");                  \
		printf(__VA_ARGS__);                     \
		printf("\n");                            \
		exit(1);                                 \
	} while (0)
#define CHECK(cond, ...)              \
	do {                          \
		if (!(cond))          \
			FAIL(__VA_ARGS__); \
	} while (0)

/* edu's registers (QEMU docs/specs/edu.rst) */
#define EDU_ID       0x00
#define EDU_LIVE     0x04
#define EDU_FACT     0x08
#define EDU_STATUS   0x20
#define EDU_IRQ_STAT 0x24
#define EDU_IRQ_RAIS 0x60
#define EDU_IRQ_ACK  0x64
#define EDU_DMA_SRC  0x80
#define EDU_DMA_DST  0x88
#define EDU_DMA_CNT  0x90
#define EDU_DMA_CMD  0x98
#define EDU_BUF      0x40000 /* edu's own 4 KiB DMA buffer */
#define EDU_DMA_TO_RAM 2u

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t rd(struct vus_client *c, uint32_t off)
{
	uint32_t v;
	int rc = vus_client_region_read(c, 0, off, &v, 4);

	CHECK(rc == 0, "BAR0 read %#x: %s", off, strerror(-rc));
	return v;
}

static void wr(struct vus_client *c, uint32_t off, uint32_t v)
{
	int rc = vus_client_region_write(c, 0, off, &v, 4);

	CHECK(rc == 0, "BAR0 write %#x: %s", off, strerror(-rc));
}

static uint16_t cfg16(struct vus_client *c, uint32_t off)
{
	uint16_t v;
	int rc = vus_client_region_read(c, VUS_PCI_CONFIG_REGION, off, &v, 2);

	CHECK(rc == 0, "config read %#x: %s", off, strerror(-rc));
	return v;
}

static void cfg16_write(struct vus_client *c, uint32_t off, uint16_t v)
{
	int rc = vus_client_region_write(c, VUS_PCI_CONFIG_REGION, off, &v, 2);

	CHECK(rc == 0, "config write %#x: %s", off, strerror(-rc));
}

/* Start an edu DMA and wait for it (edu runs it on a 100 ms timer). */
static void edu_dma(struct vus_client *c, uint32_t src, uint32_t dst, uint32_t cmd)
{
	int i;

	wr(c, EDU_DMA_SRC, src);
	wr(c, EDU_DMA_DST, dst);
	wr(c, EDU_DMA_CNT, 4096);
	wr(c, EDU_DMA_CMD, 1 | cmd);
	for (i = 0; i < 500 && (rd(c, EDU_DMA_CMD) & 1); i++)
		usleep(10000);
	CHECK(!(rd(c, EDU_DMA_CMD) & 1), "edu DMA %#x -> %#x did not finish", src, dst);
}

/* Interrupt latency: an MSI raised by a store into the mmapped BAR (no
 * message involved) until the eventfd is readable, n rounds after 10
 * untimed ones; the median in ns. The eventfd is whoever's the kernel signals: the client's through
 * the bridge, or a direct VFIO user's. */
static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t msi_latency(volatile uint32_t *bar, int efd, int n)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	int64_t t0, *ns, med;
	uint64_t one;
	int i;

	n = n > 0 ? n : 1;
	ns = calloc((size_t)n, sizeof(*ns));
	CHECK(ns, "calloc");
	/* Untimed rounds first: under TCG the first interrupts also pay for
	 * translating the guest kernel's interrupt path. */
	for (i = -10; i < n; i++) {
		t0 = now_ns();
		bar[EDU_IRQ_RAIS / 4] = 0x77;
		CHECK(poll(&pfd, 1, 5000) == 1, "no MSI within 5 s (timed round %d)", i);
		if (i >= 0)
			ns[i] = now_ns() - t0;
		CHECK(read(efd, &one, 8) == 8, "eventfd read");
		bar[EDU_IRQ_ACK / 4] = 0x77;
	}
	/* The median: a loaded host stalls the guest's vCPU now and then. */
	qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
	med = ns[n / 2];
	free(ns);
	return med;
}

static int connect_to(const char *sock, struct vus_client **c)
{
	/* 30 s per reply, not QEMU's 5: a TCG guest on a loaded host stalls
	 * for seconds now and then. */
	struct vus_client_opts o = { .timeout_ms = 30000 };
	int rc = vus_client_connect(sock, &o, c);

	CHECK(rc == 0, "connect %s: %s", sock, strerror(-rc));
	return 0;
}

static void edu(const char *sock, int n)
{
	struct vus_client_region r0;
	struct vus_device_info info;
	struct vus_irq_info ii;
	struct vus_client *c;
	uint8_t *a, *ro, *b, pat[4096], pat2[4096];
	uint64_t one;
	void *map;
	size_t maplen;
	struct pollfd pfd;
	int64_t t0, t_msg, t_mmap;
	volatile uint32_t sink = 0;
	int efd, rfd, rc, i;
	uint32_t v;

	connect_to(sock, &c);
	CHECK(vus_client_device_info(c, &info) == 0, "DEVICE_GET_INFO");
	CHECK(info.num_regions >= 9 && info.num_irqs >= 2, "regions %u irqs %u",
	      info.num_regions, info.num_irqs);

	/* BAR0 offered mmap-able: the fd is the kernel's VFIO device fd. */
	rc = vus_client_region_info(c, 0, &r0);
	CHECK(rc == 0, "region 0 info: %s", strerror(-rc));
	CHECK(r0.info.size == 1 << 20, "BAR0 size %llu", (unsigned long long)r0.info.size);
	CHECK((r0.info.flags & VUS_REGION_INFO_FLAG_MMAP) && r0.fd >= 0,
	      "BAR0 not mmap-able (flags %#x fd %d)", r0.info.flags, r0.fd);
	rc = vus_client_region_mmap(&r0, 0, &map, &maplen);
	CHECK(rc == 0, "mmap BAR0: %s", strerror(-rc));
	v = *(volatile uint32_t *)map;
	CHECK(v == 0x010000ed, "identity through mmap %#x", v);
	v = rd(c, EDU_ID);
	CHECK(v == 0x010000ed, "identity through REGION_READ %#x", v);
	CHECK(cfg16(c, 0) == 0x1234 && cfg16(c, 2) == 0x11e8, "config ids %04x:%04x",
	      cfg16(c, 0), cfg16(c, 2));
	printf("GUEST: edu identity %#x by message and by mmap\n", v);

	wr(c, EDU_LIVE, 0x12345678);
	CHECK(rd(c, EDU_LIVE) == ~0x12345678u, "liveness %#x", rd(c, EDU_LIVE));
	wr(c, EDU_FACT, 10);
	for (i = 0; i < 100 && (rd(c, EDU_STATUS) & 1); i++)
		usleep(1000);
	CHECK(rd(c, EDU_FACT) == 3628800, "10! = %u", rd(c, EDU_FACT));
	printf("GUEST: edu factorial 10! = %u\n", rd(c, EDU_FACT));

	/* Memory + bus master, through the kernel's config virtualisation. */
	cfg16_write(c, 4, cfg16(c, 4) | 0x6);
	CHECK((cfg16(c, 4) & 0x6) == 0x6, "command %#x", cfg16(c, 4));

	/* MSI: the eventfd goes to VFIO_DEVICE_SET_IRQS; the kernel signals it. */
	rc = vus_client_irq_info(c, VUS_PCI_MSI_IRQ, &ii);
	CHECK(rc == 0 && ii.count >= 1, "MSI info: %d count %u", rc, ii.count);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = vus_client_set_irqs(c, VUS_PCI_MSI_IRQ,
				 VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1, &efd,
				 NULL);
	CHECK(rc == 0, "SET_IRQS MSI: %s", strerror(-rc));
	wr(c, EDU_IRQ_RAIS, 0x5a);
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	CHECK(poll(&pfd, 1, 5000) == 1, "no MSI within 5 s");
	CHECK(read(efd, &one, 8) == 8, "eventfd read");
	CHECK(rd(c, EDU_IRQ_STAT) == 0x5a, "irq status %#x", rd(c, EDU_IRQ_STAT));
	wr(c, EDU_IRQ_ACK, 0x5a);
	printf("GUEST: edu MSI delivered to the client's eventfd\n");
	printf("GUEST: bridge_irq_ns %lld\n", (long long)msi_latency(map, efd, n / 2));

	/* INTx with the kernel's auto-mask, twice: UNMASK through SET_IRQS. */
	rc = vus_client_set_irqs(c, VUS_PCI_MSI_IRQ,
				 VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL, NULL);
	CHECK(rc == 0, "MSI off: %s", strerror(-rc));
	rc = vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				 VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1, &efd,
				 NULL);
	CHECK(rc == 0, "SET_IRQS INTx: %s", strerror(-rc));
	for (i = 0; i < 2; i++) {
		wr(c, EDU_IRQ_RAIS, 0x11);
		CHECK(poll(&pfd, 1, 5000) == 1, "no INTx within 5 s (round %d)", i);
		CHECK(read(efd, &one, 8) == 8, "eventfd read");
		wr(c, EDU_IRQ_ACK, 0x11);
		rc = vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
					 VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL,
					 NULL);
		CHECK(rc == 0, "INTx UNMASK: %s", strerror(-rc));
	}
	/* The resample eventfd: the kernel unmasks when the client signals it. */
	rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				 VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, &rfd,
				 NULL);
	CHECK(rc == 0, "SET_IRQS INTx resample: %s", strerror(-rc));
	for (i = 0; i < 2; i++) {
		wr(c, EDU_IRQ_RAIS, 0x22);
		CHECK(poll(&pfd, 1, 5000) == 1, "no INTx within 5 s (resample round %d)", i);
		CHECK(read(efd, &one, 8) == 8, "eventfd read");
		wr(c, EDU_IRQ_ACK, 0x22);
		one = 1;
		CHECK(write(rfd, &one, 8) == 8, "resample write");
	}
	/* MASK holds the line back; UNMASK lets the still-high line through. */
	rc = vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				 VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK, 0, 1, NULL, NULL);
	CHECK(rc == 0, "INTx MASK: %s", strerror(-rc));
	wr(c, EDU_IRQ_RAIS, 0x44);
	CHECK(poll(&pfd, 1, 300) == 0, "INTx delivered while masked");
	rc = vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				 VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL, NULL);
	CHECK(rc == 0, "INTx UNMASK: %s", strerror(-rc));
	CHECK(poll(&pfd, 1, 5000) == 1, "masked INTx not delivered on unmask");
	CHECK(read(efd, &one, 8) == 8, "eventfd read");
	wr(c, EDU_IRQ_ACK, 0x44);
	rc = vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				 VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL, NULL);
	CHECK(rc == 0, "INTx off: %s", strerror(-rc));
	close(rfd);
	printf("GUEST: edu INTx delivered 5 times (auto-masked; unmasked by SET_IRQS, then by "
	       "the resample eventfd; held while masked by SET_IRQS MASK)\n");

	/* DMA through the IOMMU: RAM -> edu -> RAM. */
	rc = vus_client_dma_map(c, 0x100000, 8192, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
				true, (void **)&a);
	CHECK(rc == 0, "DMA_MAP A: %s", strerror(-rc));
	for (i = 0; i < 4096; i++) {
		pat[i] = (uint8_t)(i * 7 + 3);
		pat2[i] = (uint8_t)(i * 13 + 1);
	}
	memcpy(a, pat, 4096);
	memset(a + 4096, 0, 4096);
	edu_dma(c, 0x100000, EDU_BUF, 0);
	edu_dma(c, EDU_BUF, 0x101000, EDU_DMA_TO_RAM);
	CHECK(memcmp(a + 4096, pat, 4096) == 0, "DMA round trip: data differs");
	printf("GUEST: edu DMA RAM -> device -> RAM through the IOMMU: 4096 bytes verified\n");

	/* A read-only window stays read-only in the IOMMU. */
	rc = vus_client_dma_map(c, 0x200000, 4096, VUS_DMA_MAP_FLAG_READ, true, (void **)&ro);
	CHECK(rc == 0, "DMA_MAP read-only: %s", strerror(-rc));
	edu_dma(c, EDU_BUF, 0x200000, EDU_DMA_TO_RAM);
	for (i = 0; i < 4096 && !ro[i]; i++)
		;
	CHECK(i == 4096, "device wrote into a read-only window");
	printf("GUEST: device write into a read-only window blocked\n");

	/* A window unmapped is gone from the IOMMU. */
	rc = vus_client_dma_map(c, 0x300000, 4096, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
				true, (void **)&b);
	CHECK(rc == 0, "DMA_MAP B: %s", strerror(-rc));
	memcpy(b, pat2, 4096);
	rc = vus_client_dma_unmap(c, 0x300000, 4096, 0);
	CHECK(rc == 0, "DMA_UNMAP B: %s", strerror(-rc));
	edu_dma(c, 0x300000, EDU_BUF, 0);
	memset(a + 4096, 0, 4096);
	edu_dma(c, EDU_BUF, 0x101000, EDU_DMA_TO_RAM);
	CHECK(memcmp(a + 4096, pat2, 4096) != 0, "device read an unmapped window");
	printf("GUEST: device read of an unmapped window blocked\n");

	/* A real device cannot DMA through messages. */
	rc = vus_client_dma_map(c, 0x400000, 4096, VUS_DMA_MAP_FLAG_READ, false, (void **)&b);
	CHECK(rc == -ENOTSUP, "DMA_MAP without fd: %d, expected -ENOTSUP", rc);
	printf("GUEST: DMA_MAP without fd refused (ENOTSUP)\n");

	/* Cost of a register read: REGION_READ through vusd, and mmap. */
	t0 = now_ns();
	for (i = 0; i < n; i++)
		sink += rd(c, EDU_ID);
	t_msg = (now_ns() - t0) / n;
	t0 = now_ns();
	for (i = 0; i < n; i++)
		sink += *(volatile uint32_t *)map;
	t_mmap = (now_ns() - t0) / n;
	printf("GUEST: bridge_ns %lld mmap_ns %lld (%u)\n", (long long)t_msg, (long long)t_mmap,
	       sink & 1);
	/* DMA_MAP + DMA_UNMAP of 4 KiB (the client's memfd set-up included). */
	t0 = now_ns();
	for (i = 0; i < n / 4; i++) {
		rc = vus_client_dma_map(c, 0x500000, 4096, VUS_DMA_MAP_FLAG_READ, true,
					(void **)&b);
		CHECK(rc == 0, "DMA_MAP (timed): %s", strerror(-rc));
		rc = vus_client_dma_unmap(c, 0x500000, 4096, 0);
		CHECK(rc == 0, "DMA_UNMAP (timed): %s", strerror(-rc));
	}
	printf("GUEST: bridge_map_ns %lld\n", (long long)((now_ns() - t0) / (n / 4 > 0 ? n / 4 : 1)));
	munmap(map, maplen);
	close(r0.fd);
	close(efd);
	vus_client_close(c);
}

/* A second client: the first one's disconnect turned bus master off. */
static void edu_after(const char *sock)
{
	struct vus_client *c;
	int rc;

	connect_to(sock, &c);
	CHECK(!(cfg16(c, 4) & 0x4), "bus master still on after the client left (%#x)",
	      cfg16(c, 4));
	CHECK(rd(c, EDU_ID) == 0x010000ed, "identity after reconnect");
	printf("GUEST: after disconnect: bus master off, device still served\n");
	/* edu on the root bus: no FLR, no PM reset, no slot or bus to reset. */
	rc = vus_client_reset(c);
	CHECK(rc == -ENOTTY, "DEVICE_RESET of a function with no reset: %d, expected -ENOTTY", rc);
	printf("GUEST: DEVICE_RESET of edu on the root bus: ENOTTY (the kernel has no reset)\n");

	/* Migration is absent, as kernel VFIO says for vfio-pci without a
	 * migration driver: every feature answers the kernel's ENOTTY. */
	{
		uint8_t out[64];
		size_t got;
		uint32_t n;
		enum vus_mig_state st;
		static const uint32_t features[] = {
			VUS_FEATURE_MIGRATION | VUS_DEVICE_FEATURE_GET,
			VUS_FEATURE_MIGRATION | VUS_DEVICE_FEATURE_PROBE,
			VUS_FEATURE_DMA_LOGGING_START | VUS_DEVICE_FEATURE_PROBE |
				VUS_DEVICE_FEATURE_SET,
			VUS_FEATURE_DMA_LOGGING_STOP | VUS_DEVICE_FEATURE_SET,
		};

		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
			rc = vus_client_device_feature(c, features[i], NULL, 0, out, sizeof(out),
						       &got);
			CHECK(rc == -ENOTTY, "DEVICE_FEATURE %#x: %d, expected -ENOTTY", features[i],
			      rc);
		}
		rc = vus_client_mig_get_state(c, &st);
		CHECK(rc == -ENOTTY, "MIG_DEVICE_STATE GET: %d, expected -ENOTTY", rc);
		rc = vus_client_mig_set_state(c, VUS_MIG_STATE_STOP);
		CHECK(rc == -ENOTTY, "MIG_DEVICE_STATE SET STOP: %d, expected -ENOTTY", rc);
		rc = vus_client_mig_data_read(c, out, sizeof(out), &n);
		CHECK(rc == -EINVAL, "MIG_DATA_READ: %d, expected -EINVAL", rc);
		/* A feature vfio-pci itself answers (the SR-IOV VF token, 0):
		 * ENOTTY too on a function that is no PF. */
		rc = vus_client_device_feature(c, 0 | VUS_DEVICE_FEATURE_PROBE | VUS_DEVICE_FEATURE_SET,
					       NULL, 0, out, sizeof(out), &got);
		CHECK(rc == -ENOTTY, "DEVICE_FEATURE VF token probe: %d", rc);
		CHECK(rd(c, EDU_ID) == 0x010000ed, "identity after the feature requests");
	}
	printf("GUEST: migration absent, as the kernel says: DEVICE_FEATURE MIGRATION, "
	       "MIG_DEVICE_STATE, DMA_LOGGING ENOTTY; MIG_DATA_READ EINVAL\n");
	vus_client_close(c);
}

/*
 * Two functions of one IOMMU group (edu at 00.0 and 00.1 behind a PCIe
 * root port, a multifunction device without ACS) served by one vusd; the
 * function has no function reset (a bus reset would hit its sibling), so
 * DEVICE_RESET is a hot reset of the root port's bus with the one group.
 */
static void hot_reset(const char *sock0, const char *sock1)
{
	struct vus_client *c0, *c1;
	int rc;

	connect_to(sock0, &c0);
	connect_to(sock1, &c1);
	CHECK(rd(c0, EDU_ID) == 0x010000ed && rd(c1, EDU_ID) == 0x010000ed, "identity");
	wr(c0, EDU_LIVE, 0x1111);
	wr(c1, EDU_LIVE, 0x2222);
	CHECK(rd(c0, EDU_LIVE) == ~0x1111u && rd(c1, EDU_LIVE) == ~0x2222u,
	      "the two functions are not distinct");
	printf("GUEST: two functions of one group served by one vusd\n");
	rc = vus_client_reset(c0);
	CHECK(rc == 0, "DEVICE_RESET (hot reset): %s", strerror(-rc));
	CHECK(rd(c0, EDU_ID) == 0x010000ed && rd(c1, EDU_ID) == 0x010000ed,
	      "identity after the hot reset");
	CHECK(cfg16(c0, 0) == 0x1234, "config after the hot reset");
	printf("GUEST: DEVICE_RESET by hot reset of the bus: both functions still served\n");
	vus_client_close(c0);
	vus_client_close(c1);
}

static void nvme(const char *sock)
{
	struct nvme_drv_transport tr;
	struct nvme_drv_opts o = { .irq = true };
	struct nvme_drv *d;
	struct vus_client *c;
	uint8_t *id, *wbuf, *rbuf;
	uint64_t wiova, riova;
	int rc, i;

	connect_to(sock, &c);
	/* The kernel lets QEMU's nvme BAR with the MSI-X table be mapped
	 * whole (MSIX_MAPPABLE): the capability comes through. */
	{
		struct vus_client_region r;
		int bar = -1;

		for (i = 0; i < 6 && bar < 0; i++) {
			rc = vus_client_region_info(c, (uint32_t)i, &r);
			CHECK(rc == 0, "region %d info: %s", i, strerror(-rc));
			if (r.caps.msix_mappable)
				bar = i;
			if (r.fd >= 0)
				close(r.fd);
		}
		CHECK(bar >= 0, "no BAR with the MSIX_MAPPABLE capability");
		printf("GUEST: nvme BAR%d carries MSIX_MAPPABLE, as the kernel reports it\n", bar);
	}
	/* GET_IRQ_INFO flags are the kernel's: vfio-pci's MSI-X is not
	 * maskable (the library's own flags would say MASKABLE). */
	{
		struct vus_irq_info ii;

		rc = vus_client_irq_info(c, VUS_PCI_MSIX_IRQ, &ii);
		CHECK(rc == 0, "MSI-X info: %s", strerror(-rc));
		CHECK((ii.flags & VUS_IRQ_INFO_EVENTFD) && !(ii.flags & VUS_IRQ_INFO_MASKABLE),
		      "MSI-X flags %#x are not vfio-pci's", ii.flags);
		printf("GUEST: nvme MSI-X GET_IRQ_INFO flags %#x (%u vectors), the kernel's\n",
		       ii.flags, ii.count);
	}
	rc = nvme_drv_client_transport(c, NULL, &tr);
	CHECK(rc == 0, "nvme transport: %s", strerror(-rc));
	rc = nvme_drv_open(&tr, &o, &d);
	CHECK(rc == 0, "nvme_drv_open: %s", strerror(-rc));
	id = (uint8_t *)nvme_drv_id_ctrl(d);
	CHECK(id[0] == 0x36 && id[1] == 0x1b, "Identify VID %02x%02x, expected QEMU's 1b36",
	      id[1], id[0]);
	printf("GUEST: nvme identify: model '%.16s', %u MSI-X vectors\n", (char *)id + 24,
	       nvme_drv_nvec(d));
	rc = nvme_drv_create_qpair(d, 1, 32);
	CHECK(rc == 0, "create I/O queue pair: %d", rc);
	wbuf = nvme_drv_alloc(d, 65536, &wiova);
	rbuf = nvme_drv_alloc(d, 65536, &riova);
	CHECK(wbuf && rbuf, "arena full");
	for (i = 0; i < 65536; i++)
		wbuf[i] = (uint8_t)(i * 31 + (i >> 9));
	rc = nvme_drv_rw(d, 1, NVD_CMD_WRITE, 1, 8, 128, wiova, 65536, NVME_DRV_PRP);
	CHECK(rc == 0, "write: status %d", rc);
	rc = nvme_drv_rw(d, 1, NVD_CMD_READ, 1, 8, 128, riova, 65536, NVME_DRV_PRP);
	CHECK(rc == 0, "read: status %d", rc);
	CHECK(memcmp(wbuf, rbuf, 65536) == 0, "read data differs from written");
	rc = nvme_drv_delete_qpair(d, 1);
	CHECK(rc == 0, "delete queue pair: %d", rc);
	printf("GUEST: nvme write/read 64 KiB through an I/O queue pair, MSI-X: data verified\n");
	nvme_drv_close(d);

	/* DEVICE_RESET is the kernel's function reset (QEMU's nvme has FLR):
	 * the controller comes back disabled. */
	rc = vus_client_reset(c);
	CHECK(rc == 0, "DEVICE_RESET: %s", strerror(-rc));
	{
		uint32_t cc = 1, csts = 1;

		CHECK(vus_client_region_read(c, 0, NVD_REG_CC, &cc, 4) == 0 &&
		      vus_client_region_read(c, 0, NVD_REG_CSTS, &csts, 4) == 0, "CC/CSTS");
		CHECK(!(cc & NVD_CC_EN) && !(csts & NVD_CSTS_RDY), "after reset CC %#x CSTS %#x",
		      cc, csts);
	}
	printf("GUEST: nvme DEVICE_RESET: controller disabled\n");
	vus_client_close(c);
}

/* The baseline: the same register read through kernel VFIO directly. */
static void direct(const char *bdf, int n, const char *mode)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = 0 };
	struct vfio_bridge b = { .name = "direct",
				 .iommu_mode = strcmp(mode, "iommufd") == 0 ? VFIO_BRIDGE_IOMMUFD
									    : VFIO_BRIDGE_IOMMU_LEGACY };
	char err[1024];
	int64_t t0;
	uint32_t v, sink = 0;
	int rc, i;

	rc = vfio_bridge_open_fds(&b, bdf, err, sizeof(err));
	CHECK(rc == 0, "%s", err);
	CHECK(ioctl(b.device, VFIO_DEVICE_GET_REGION_INFO, &ri) == 0, "region info");
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		CHECK(pread(b.device, &v, 4, (off_t)ri.offset) == 4, "pread");
		sink += v;
	}
	printf("GUEST: direct_ns %lld (%u)\n", (long long)((now_ns() - t0) / n), sink & 1);
	/* MAP + UNMAP of 4 KiB of anonymous memory: VFIO_IOMMU_MAP_DMA, or
	 * IOMMU_IOAS_MAP with iommufd. */
	{
		struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .iova = 0x500000,
			.size = 4096, .flags = VFIO_DMA_MAP_FLAG_READ };
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 0x500000,
			.size = 4096 };
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		CHECK(p != MAP_FAILED, "mmap");
		memset(p, 1, 4096);
		m.vaddr = (uintptr_t)p;
		struct iommu_ioas_map im = { .size = sizeof(im), .iova = 0x500000, .length = 4096,
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE,
			.ioas_id = vfio_bridge_ioas(&b), .user_va = (uintptr_t)p };
		struct iommu_ioas_unmap iu = { .size = sizeof(iu), .iova = 0x500000,
			.length = 4096, .ioas_id = vfio_bridge_ioas(&b) };

		t0 = now_ns();
		for (i = 0; i < n / 4 && b.iommufd >= 0; i++) {
			CHECK(ioctl(b.iommufd, IOMMU_IOAS_MAP, &im) == 0, "IOAS_MAP: %s",
			      strerror(errno));
			CHECK(ioctl(b.iommufd, IOMMU_IOAS_UNMAP, &iu) == 0, "IOAS_UNMAP: %s",
			      strerror(errno));
		}
		for (i = 0; i < n / 4 && b.iommufd < 0; i++) {
			CHECK(ioctl(b.container, VFIO_IOMMU_MAP_DMA, &m) == 0, "MAP_DMA: %s",
			      strerror(errno));
			CHECK(ioctl(b.container, VFIO_IOMMU_UNMAP_DMA, &u) == 0, "UNMAP_DMA: %s",
			      strerror(errno));
		}
		printf("GUEST: direct_map_ns %lld\n",
		       (long long)((now_ns() - t0) / (n / 4 > 0 ? n / 4 : 1)));
		munmap(p, 4096);
	}
	/* MSI latency with the eventfd given to VFIO_DEVICE_SET_IRQS directly. */
	{
		/* The header and its one eventfd in one buffer: a union, as a
		 * struct with vfio_irq_set (it ends in a flexible array) inside is
		 * a GNU extension (clang -Werror refuses it). */
		union {
			struct vfio_irq_set s;
			uint8_t raw[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
		} set = { .s = { .argsz = sizeof(set), .index = VFIO_PCI_MSI_IRQ_INDEX,
				 .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				 .count = 1 } };
		int32_t efd;
		struct vfio_region_info cfg = { .argsz = sizeof(cfg),
						.index = VFIO_PCI_CONFIG_REGION_INDEX };
		uint16_t cmd;
		void *bar;

		CHECK(ioctl(b.device, VFIO_DEVICE_GET_REGION_INFO, &cfg) == 0, "config info");
		CHECK(pread(b.device, &cmd, 2, (off_t)cfg.offset + 4) == 2, "command read");
		cmd |= 0x6;
		CHECK(pwrite(b.device, &cmd, 2, (off_t)cfg.offset + 4) == 2, "command write");
		efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		CHECK(efd >= 0, "eventfd");
		memcpy(set.s.data, &efd, sizeof(efd));
		CHECK(ioctl(b.device, VFIO_DEVICE_SET_IRQS, &set) == 0, "SET_IRQS MSI: %s",
		      strerror(errno));
		bar = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, b.device,
			   (off_t)ri.offset);
		CHECK(bar != MAP_FAILED, "mmap BAR0: %s", strerror(errno));
		printf("GUEST: direct_irq_ns %lld\n", (long long)msi_latency(bar, efd, n / 2));
		set.s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
		set.s.count = 0;
		set.s.argsz = sizeof(set.s);
		CHECK(ioctl(b.device, VFIO_DEVICE_SET_IRQS, &set.s) == 0, "MSI off: %s",
		      strerror(errno));
		cmd &= (uint16_t)~0x6;
		CHECK(pwrite(b.device, &cmd, 2, (off_t)cfg.offset + 4) == 2, "command write");
		munmap(bar, ri.size);
		close(efd);
	}
	vfio_bridge_close_fds(&b);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "edu") == 0)
		edu(argv[2], atoi(argv[3]) > 0 ? atoi(argv[3]) : 1);
	else if (argc >= 3 && strcmp(argv[1], "edu-after") == 0)
		edu_after(argv[2]);
	else if (argc >= 4 && strcmp(argv[1], "hot-reset") == 0)
		hot_reset(argv[2], argv[3]);
	else if (argc >= 3 && strcmp(argv[1], "nvme") == 0)
		nvme(argv[2]);
	else if (argc >= 4 && strcmp(argv[1], "direct") == 0)
		direct(argv[2], atoi(argv[3]) > 0 ? atoi(argv[3]) : 1, argc >= 5 ? argv[4] : "legacy");
	else {
		fprintf(stderr, "usage: %s edu SOCK N | edu-after SOCK | hot-reset SOCK0 SOCK1 | nvme SOCK | "
			"direct BDF N [legacy|iommufd]\n",
			argv[0]);
		return 2;
	}
	return 0;
}
