/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End to end: every command through the vus client against testdev
 * (register map in samples/testdev/testdev.h), one server per test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>

#include "efd.h"
#include "fdcount.h"
#include "fixture.h"
#include "pci_regs.h"
#include "test_server.h"
#include "vus_test.h"

/* ---- VERSION -------------------------------------------------------- */

static void version_plain(void **state)
{
	struct test_fx *f = *state;
	const struct vus_version_msg *v = vus_client_server_version(f->c);

	ASSERT_EQ(v->major, 0);
	ASSERT_EQ(v->minor, 0);
	assert_true(v->has_json);
	assert_true(v->caps.present & VUS_CAP_MAX_MSG_FDS);
	ASSERT_EQ(v->caps.max_msg_fds, 16);
	assert_true(v->caps.present & VUS_CAP_MAX_XFER);
	ASSERT_EQ(v->caps.max_data_xfer_size, 1048576);
	/* Not offered, so not in the reply (docs/protocol.md 3.1). */
	assert_false(v->caps.present & VUS_CAP_WRITE_MULTIPLE);
	assert_false(v->caps.present & VUS_CAP_TWIN_SOCKET);
	assert_false(v->caps.present & VUS_CAP_MIGRATION);
	assert_false(vus_client_twin_active(f->c));
}

static void version_minor_and_offers(void **state)
{
	struct test_fx *f = *state;
	struct vus_client_opts o = { .minor = 7, .write_multiple = true, .twin_socket = true };
	const struct vus_version_msg *v;
	struct vus_client *c;

	vus_client_close(f->c);
	f->c = NULL;
	ASSERT_OK(test_connect(&f->srv, &o, &c));
	f->c = c;
	v = vus_client_server_version(c);
	/* minor = min(client, 2) */
	ASSERT_EQ(v->minor, 2);
	assert_true(v->caps.present & VUS_CAP_WRITE_MULTIPLE);
	assert_true(v->caps.write_multiple);
	assert_true(v->caps.present & VUS_CAP_TWIN_SOCKET);
	assert_true(v->caps.twin_socket);
	ASSERT_EQ(v->caps.twin_fd_index, 0);
	assert_true(vus_client_twin_active(c));
	/* The connection is usable. */
	ASSERT_EQ(test_reg_read(c, TESTDEV_REG_ID), TESTDEV_ID);
}

static void version_qemu(void **state)
{
	struct test_fx *f = *state;
	struct vus_client_opts o = { .qemu_fingerprint = true };
	const struct vus_version_msg *v;

	vus_client_close(f->c);
	f->c = NULL;
	ASSERT_OK(test_connect(&f->srv, &o, &f->c));
	v = vus_client_server_version(f->c);
	ASSERT_EQ(v->major, 0);
	ASSERT_EQ(v->minor, 0);
	/* QEMU's request is long enough for the whole set. */
	assert_true(v->caps.present & VUS_CAP_MAX_MSG_FDS);
	ASSERT_EQ(v->caps.max_msg_fds, 16);
	ASSERT_EQ(v->caps.max_data_xfer_size, 1048576);
	assert_true(v->caps.present & VUS_CAP_MAX_DMA_MAPS);
	ASSERT_EQ(v->caps.max_dma_maps, 65535);
	assert_true(v->caps.present & VUS_CAP_PGSIZES);
	ASSERT_EQ(v->caps.pgsizes, 4096);
	assert_true(v->caps.present & VUS_CAP_WRITE_MULTIPLE);
	assert_true(v->caps.write_multiple);
	assert_false(v->caps.present & VUS_CAP_MIGRATION);
	assert_false(v->caps.present & VUS_CAP_TWIN_SOCKET);
}

/* ---- device, regions, irqs ------------------------------------------ */

static void device_info(void **state)
{
	struct test_fx *f = *state;
	struct vus_device_info di;

	ASSERT_OK(vus_client_device_info(f->c, &di));
	ASSERT_EQ(di.argsz, 16);
	ASSERT_EQ(di.flags, VUS_DEVICE_FLAGS_PCI | VUS_DEVICE_FLAGS_RESET);
	ASSERT_EQ(di.num_regions, 9);
	ASSERT_EQ(di.num_irqs, 5);
}

static void region_info_all(void **state)
{
	struct test_fx *f = *state;
	struct vus_client_region r;
	void *p;
	size_t len;
	uint32_t i;

	/* BAR0: registers, trapped. */
	ASSERT_OK(vus_client_region_info(f->c, 0, &r));
	ASSERT_EQ(r.info.index, 0);
	ASSERT_EQ(r.info.size, TESTDEV_BAR0_SIZE);
	ASSERT_EQ(r.info.flags, VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE);
	ASSERT_EQ(r.info.argsz, 32);
	ASSERT_EQ(r.fd, -1);

	/* BAR1: RAM through callbacks, no mmap. */
	ASSERT_OK(vus_client_region_info(f->c, 1, &r));
	ASSERT_EQ(r.info.size, TESTDEV_BAR1_SIZE);
	ASSERT_EQ(r.info.flags, VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE);
	ASSERT_EQ(r.fd, -1);
	assert_false(r.caps.sparse);
	ASSERT_ERR(vus_client_region_mmap(&r, 0, &p, &len), -EINVAL);

	/* BAR2: memfd with two mmap-able areas around a trapped hole. */
	ASSERT_OK(vus_client_region_info(f->c, 2, &r));
	ASSERT_EQ(r.info.size, TESTDEV_BAR2_SIZE);
	ASSERT_EQ(r.info.flags, VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE |
				VUS_REGION_INFO_FLAG_MMAP | VUS_REGION_INFO_FLAG_CAPS);
	/* 32 + sparse cap with two areas (16 + 2 * 16) */
	ASSERT_EQ(r.info.argsz, 32 + 16 + 32);
	ASSERT_EQ(r.info.cap_offset, 32);
	ASSERT_NONNEG(r.fd);
	assert_true(r.caps.sparse);
	ASSERT_EQ(r.caps.nr_areas, 2);
	ASSERT_EQ(r.areas[0].offset, 0);
	ASSERT_EQ(r.areas[0].size, TESTDEV_BAR2_HOLE_OFF);
	ASSERT_EQ(r.areas[1].offset, TESTDEV_BAR2_HOLE_END);
	ASSERT_EQ(r.areas[1].size, TESTDEV_BAR2_SIZE - TESTDEV_BAR2_HOLE_END);
	assert_false(r.caps.has_type);
	close(r.fd);

	/* BAR3-5, ROM: not implemented. */
	for (i = 3; i <= 6; i++) {
		ASSERT_OK(vus_client_region_info(f->c, i, &r));
		ASSERT_EQ(r.info.index, i);
		ASSERT_EQ(r.info.size, 0);
		ASSERT_EQ(r.info.flags, 0);
		ASSERT_EQ(r.fd, -1);
	}

	/* Config space: read-write, 256 or 4096 bytes, not mmap-able. */
	ASSERT_OK(vus_client_region_info(f->c, 7, &r));
	assert_true(r.info.size == 256 || r.info.size == 4096);
	ASSERT_EQ(r.info.flags, VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE);
	ASSERT_EQ(r.fd, -1);

	/* VGA: none. */
	ASSERT_OK(vus_client_region_info(f->c, 8, &r));
	ASSERT_EQ(r.info.size, 0);
	ASSERT_EQ(r.info.flags, 0);

	/* Past the last region. */
	ASSERT_ERR(vus_client_region_info(f->c, 9, &r), -EINVAL);
}

static void irq_info_all(void **state)
{
	static const struct {
		uint32_t flags, count;
	} want[5] = {
		{ VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE | VUS_IRQ_INFO_AUTOMASKED, 1 },
		{ VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_NORESIZE, TESTDEV_MSI_VECTORS },
		{ VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE, TESTDEV_NR_VECTORS },
		{ VUS_IRQ_INFO_EVENTFD, 0 },
		/* REQ: one vector on every device, as kernel vfio-pci. */
		{ VUS_IRQ_INFO_EVENTFD, 1 },
	};
	struct test_fx *f = *state;
	struct vus_irq_info ii;
	uint32_t i;

	for (i = 0; i < 5; i++) {
		ASSERT_OK(vus_client_irq_info(f->c, i, &ii));
		ASSERT_EQ(ii.argsz, 16);
		ASSERT_EQ(ii.index, i);
		ASSERT_EQ(ii.flags, want[i].flags);
		ASSERT_EQ(ii.count, want[i].count);
	}
	ASSERT_ERR(vus_client_irq_info(f->c, 5, &ii), -EINVAL);
}

static void irq_intx(void **state)
{
	const uint32_t trig = VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER;
	const uint32_t unmask = VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK;
	struct test_fx *f = *state;
	int efd = efd_new();

	/* testdev has TESTDEV_MSI_VECTORS MSI vectors: one more is refused. */
	ASSERT_ERR(vus_client_set_irqs(f->c, VUS_PCI_MSI_IRQ, trig, TESTDEV_MSI_VECTORS, 1,
				       &efd, NULL), -EINVAL);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ, trig, 0, 1, &efd, NULL));

	test_reg_write(f->c, TESTDEV_REG_IRQ_RAISE, 0x1);
	assert_true(efd_wait(efd, 2000));
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_IRQ_STATUS), 0x1);

	/* INTx masked itself after firing: a second cause stays pending. */
	test_reg_write(f->c, TESTDEV_REG_IRQ_RAISE, 0x2);
	assert_false(efd_wait(efd, 200));
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_IRQ_STATUS), 0x3);

	/* UNMASK (what QEMU sends on EOI) delivers the pending interrupt. */
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ, unmask, 0, 1, NULL, NULL));
	assert_true(efd_wait(efd, 2000));

	test_reg_write(f->c, TESTDEV_REG_IRQ_ACK, 0x3);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_IRQ_STATUS), 0);

	/* De-assign (no fds), unmask: nothing reaches the old eventfd. */
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ, trig, 0, 1, NULL, NULL));
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ, unmask, 0, 1, NULL, NULL));
	test_reg_write(f->c, TESTDEV_REG_IRQ_RAISE, 0x4);
	assert_false(efd_wait(efd, 200));
	close(efd);
}

static void region_io_fds(void **state)
{
	struct test_fx *f = *state;
	struct vus_region_io_fds req = { .argsz = 16, .index = 2 }, rep;
	struct vus_hdr rh;
	size_t len = 0;
	int before = fdcount();

	ASSERT_OK(vus_client_raw(f->c, VUS_CMD_DEVICE_GET_REGION_IO_FDS, 0, &req,
				 sizeof(req), NULL, 0, &rh, &rep, sizeof(rep), &len));
	ASSERT_EQ(rh.cmd, VUS_CMD_DEVICE_GET_REGION_IO_FDS);
	ASSERT_EQ(rh.flags, VUS_F_TYPE_REPLY);
	ASSERT_EQ(len, 16);
	ASSERT_EQ(rep.argsz, 16);
	ASSERT_EQ(rep.index, 2);
	ASSERT_EQ(rep.count, 0);
	/* No fds came with it (the client closes any; none may appear). */
	ASSERT_EQ(fdcount(), before);

	req.index = 9;
	ASSERT_ERR(vus_client_raw(f->c, VUS_CMD_DEVICE_GET_REGION_IO_FDS, 0, &req,
				  sizeof(req), NULL, 0, &rh, NULL, 0, &len), -EINVAL);
	ASSERT_EQ(len, 0);
}

static void device_reset(void **state)
{
	struct test_fx *f = *state;
	uint32_t resets = test_reg_read(f->c, TESTDEV_REG_RESETS);

	test_reg_write(f->c, TESTDEV_REG_SCRATCH, 0x12345678);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_SCRATCH), 0x12345678);
	ASSERT_OK(vus_client_reset(f->c));
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_RESETS), resets + 1);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_SCRATCH), 0);
	ASSERT_OK(vus_client_reset(f->c));
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_RESETS), resets + 2);
}

static void config_space(void **state)
{
	struct test_fx *f = *state;
	uint8_t cfg[64];
	uint16_t v16;
	uint32_t class_code;

	ASSERT_OK(vus_client_region_read(f->c, VUS_PCI_CONFIG_REGION, 0, cfg, sizeof(cfg)));
	memcpy(&v16, cfg + 0x00, 2);
	ASSERT_EQ(v16, TESTDEV_VENDOR);
	memcpy(&v16, cfg + 0x02, 2);
	ASSERT_EQ(v16, TESTDEV_DEVICE);
	class_code = (uint32_t)cfg[0x0b] << 16 | (uint32_t)cfg[0x0a] << 8 | cfg[0x09];
	ASSERT_EQ(class_code, TESTDEV_CLASS);
	memcpy(&v16, cfg + 0x2c, 2);
	ASSERT_EQ(v16, TESTDEV_VENDOR);
	memcpy(&v16, cfg + 0x2e, 2);
	ASSERT_EQ(v16, TESTDEV_DEVICE);
	/* Single-byte read of the interrupt pin: INTA. */
	ASSERT_OK(vus_client_region_read(f->c, VUS_PCI_CONFIG_REGION, CFG_INT_PIN, cfg, 1));
	ASSERT_EQ(cfg[0], 1);
	/* Past the end of config space. */
	ASSERT_ERR(vus_client_region_read(f->c, VUS_PCI_CONFIG_REGION, 4096, cfg, 4),
		   -EINVAL);
}

static void bar0_registers(void **state)
{
	struct test_fx *f = *state;
	uint16_t half = 0;

	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_ID), TESTDEV_ID);
	test_reg_write(f->c, TESTDEV_REG_INVERT, 0x00ff00ffu);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_INVERT), 0xff00ff00u);
	/* testdev takes 4-byte accesses only; its errno reaches us. */
	ASSERT_ERR(vus_client_region_read(f->c, 0, 0, &half, 2), -EINVAL);
	/* Out of the region. */
	ASSERT_ERR(vus_client_region_read(f->c, 0, TESTDEV_BAR0_SIZE, &half, 2), -EINVAL);
	/* Count 0 succeeds (docs/protocol.md 3.9). */
	ASSERT_OK(vus_client_region_read(f->c, 0, 0, NULL, 0));
}

static void bar2_mmap(void **state)
{
	struct test_fx *f = *state;
	struct vus_client_region r;
	uint8_t *a0, *a1, buf[64];
	size_t l0, l1;
	uint32_t hits;
	unsigned i;

	ASSERT_OK(vus_client_region_info(f->c, 2, &r));
	ASSERT_OK(vus_client_region_mmap(&r, 0, (void **)&a0, &l0));
	ASSERT_EQ(l0, TESTDEV_BAR2_HOLE_OFF);
	ASSERT_OK(vus_client_region_mmap(&r, 1, (void **)&a1, &l1));
	ASSERT_EQ(l1, TESTDEV_BAR2_SIZE - TESTDEV_BAR2_HOLE_END);
	ASSERT_ERR(vus_client_region_mmap(&r, 2, (void **)&a1, &l1), -EINVAL);

	/* Writes through the mapping are seen by REGION_READ. */
	for (i = 0; i < sizeof(buf); i++)
		a0[0x100 + i] = (uint8_t)(i * 7 + 1);
	memset(buf, 0, sizeof(buf));
	ASSERT_OK(vus_client_region_read(f->c, 2, 0x100, buf, sizeof(buf)));
	assert_memory_equal(buf, a0 + 0x100, sizeof(buf));

	/* REGION_WRITE is seen through the second area's mapping. */
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xa5 ^ i);
	ASSERT_OK(vus_client_region_write(f->c, 2, TESTDEV_BAR2_HOLE_END + 0x10, buf,
					  sizeof(buf)));
	assert_memory_equal(a1 + 0x10, buf, sizeof(buf));

	/* The hole is trapped and counted. */
	hits = test_reg_read(f->c, TESTDEV_REG_HOLE_HITS);
	ASSERT_OK(vus_client_region_write(f->c, 2, TESTDEV_BAR2_HOLE_OFF, buf, 8));
	ASSERT_OK(vus_client_region_read(f->c, 2, TESTDEV_BAR2_HOLE_OFF, buf + 8, 8));
	assert_memory_equal(buf, buf + 8, 8);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_HOLE_HITS), hits + 2);

	munmap(a0, l0);
	munmap(a1, l1);
	close(r.fd);
}

static void write_multi(void **state)
{
	struct test_fx *f = *state;
	struct vus_client_opts o = { .write_multiple = true };
	struct vus_write_multi_entry e[2] = {
		{ .offset = TESTDEV_REG_SCRATCH, .region = 0, .count = 4 },
		{ .offset = TESTDEV_REG_INVERT, .region = 0, .count = 4 },
	};
	uint32_t v1 = 0xcafe0001, v2 = 0x0f0f0f0f;

	memcpy(e[0].data, &v1, 4);
	memcpy(e[1].data, &v2, 4);
	/* Not offered on this connection. */
	ASSERT_ERR(vus_client_region_write_multi(f->c, e, 2), -ENOTSUP);
	vus_client_close(f->c);
	f->c = NULL;
	ASSERT_OK(test_connect(&f->srv, &o, &f->c));
	ASSERT_OK(vus_client_region_write_multi(f->c, e, 2));
	/* Processed in order before the read (spec "Command Concurrency"). */
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_SCRATCH), v1);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_INVERT), ~v2);
}

/* ---- migration ------------------------------------------------------ */

#define MIG_CHUNK (64u * 1024u)

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void migration(void **state)
{
	struct test_fx *f = *state;
	struct test_server dst;
	struct vus_client *c2;
	enum vus_mig_state st;
	uint8_t *bar1 = malloc(TESTDEV_BAR1_SIZE), *back = malloc(TESTDEV_BAR1_SIZE);
	uint8_t bar2[256], bar2_back[256];
	uint8_t *stream = NULL;
	size_t len = 0, cap = 0, off;
	uint64_t mflags = 0;
	size_t out_len = 0;
	uint32_t got;

	assert_non_null(bar1);
	assert_non_null(back);
	fill(bar1, TESTDEV_BAR1_SIZE, 42);
	fill(bar2, sizeof(bar2), 7);

	/* Source: some state to carry over. */
	test_reg_write(f->c, TESTDEV_REG_SCRATCH, 0xfeedbeef);
	ASSERT_OK(vus_client_region_write(f->c, 1, 0, bar1, TESTDEV_BAR1_SIZE));
	ASSERT_OK(vus_client_region_write(f->c, 2, 0x9000, bar2, sizeof(bar2)));

	ASSERT_OK(vus_client_device_feature(f->c, VUS_FEATURE_MIGRATION |
					    VUS_DEVICE_FEATURE_GET, NULL, 0, &mflags,
					    sizeof(mflags), &out_len));
	ASSERT_EQ(out_len, 8);
	ASSERT_EQ(mflags, VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);
	ASSERT_OK(vus_client_mig_get_state(f->c, &st));
	ASSERT_EQ(st, VUS_MIG_STATE_RUNNING);
	/* No data outside the saving states. */
	ASSERT_ERR(vus_client_mig_data_read(f->c, bar2_back, 16, &got), -EINVAL);

	/* RUNNING -> STOP_COPY (walks through STOP). */
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP_COPY));
	ASSERT_OK(vus_client_mig_get_state(f->c, &st));
	ASSERT_EQ(st, VUS_MIG_STATE_STOP_COPY);
	do {
		if (cap - len < MIG_CHUNK) {
			cap = cap ? cap * 2 : 4 * MIG_CHUNK;
			stream = realloc(stream, cap);
			assert_non_null(stream);
		}
		ASSERT_OK(vus_client_mig_data_read(f->c, stream + len, MIG_CHUNK, &got));
		assert_true(got <= MIG_CHUNK);
		len += got;
	} while (got == MIG_CHUNK);
	/* Registers, BAR1 and BAR2 at least. */
	assert_true(len > TESTDEV_BAR1_SIZE + TESTDEV_BAR2_SIZE);
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP));
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_RUNNING));

	/* Destination: a second testdev. */
	ASSERT_OK(test_server_start(&dst, NULL));
	ASSERT_OK(test_connect(&dst, NULL, &c2));
	ASSERT_EQ(test_reg_read(c2, TESTDEV_REG_SCRATCH), 0);
	/* Writes only in RESUMING. */
	ASSERT_ERR(vus_client_mig_data_write(c2, stream, 16), -EINVAL);
	ASSERT_OK(vus_client_mig_set_state(c2, VUS_MIG_STATE_RESUMING));
	for (off = 0; off < len; off += MIG_CHUNK) {
		uint32_t n = len - off < MIG_CHUNK ? (uint32_t)(len - off) : MIG_CHUNK;

		ASSERT_OK(vus_client_mig_data_write(c2, stream + off, n));
	}
	ASSERT_OK(vus_client_mig_set_state(c2, VUS_MIG_STATE_STOP));
	ASSERT_OK(vus_client_mig_set_state(c2, VUS_MIG_STATE_RUNNING));
	ASSERT_OK(vus_client_mig_get_state(c2, &st));
	ASSERT_EQ(st, VUS_MIG_STATE_RUNNING);

	ASSERT_EQ(test_reg_read(c2, TESTDEV_REG_SCRATCH), 0xfeedbeef);
	ASSERT_OK(vus_client_region_read(c2, 1, 0, back, TESTDEV_BAR1_SIZE));
	assert_memory_equal(back, bar1, TESTDEV_BAR1_SIZE);
	ASSERT_OK(vus_client_region_read(c2, 2, 0x9000, bar2_back, sizeof(bar2_back)));
	assert_memory_equal(bar2_back, bar2, sizeof(bar2));

	vus_client_close(c2);
	test_server_stop(&dst);
	free(stream);
	free(bar1);
	free(back);
}

static void feature_errors(void **state)
{
	const uint32_t probe = VUS_FEATURE_MIG_DEVICE_STATE | VUS_DEVICE_FEATURE_PROBE |
			       VUS_DEVICE_FEATURE_SET;
	struct test_fx *f = *state;
	uint64_t v;

	/* Unknown feature: ENOTTY, the kernel ioctl's convention
	 * (docs/protocol.md 3.12). */
	ASSERT_ERR(vus_client_device_feature(f->c, 0x55 | VUS_DEVICE_FEATURE_GET, NULL, 0,
					     &v, sizeof(v), NULL), -ENOTTY);
	/* Unknown state. */
	ASSERT_ERR(vus_client_mig_set_state(f->c, (enum vus_mig_state)99), -EINVAL);
	/* PROBE of a supported operation echoes and succeeds. */
	ASSERT_OK(vus_client_device_feature(f->c, probe, NULL, 0, NULL, 0, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_fx_client, test_fx_teardown)
		T(version_plain),
		T(version_minor_and_offers),
		T(version_qemu),
		T(device_info),
		T(region_info_all),
		T(irq_info_all),
		T(irq_intx),
		T(region_io_fds),
		T(device_reset),
		T(config_space),
		T(bar0_registers),
		T(bar2_mmap),
		T(write_multi),
		T(migration),
		T(feature_errors),
#undef T
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
