/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * QEMU's vfio-user-pci client, replayed byte for byte against a testdev.
 *
 * No QEMU binary is needed: this program builds every message the way
 * QEMU 10.x builds it (hw/vfio-user/proxy.c, device.c, container.c,
 * pci.c and the generic hw/vfio/pci.c it reuses) and checks every reply
 * the way QEMU checks it, in the order QEMU sends them, on one
 * connection (docs/qemu.md "Connect sequence"):
 *
 *   1  VERSION 0.0 with QEMU's capabilities
 *   2  DMA_MAPs of a memory transaction, sent "nowait"
 *   3  DEVICE_GET_INFO
 *   4  GET_REGION_INFO 0-5 and 7 (re-asked with the argsz the reply
 *      wants), sparse mmap of BAR2
 *   5  GET_IRQ_INFO(ERR)
 *   6  config space read, ROM and BAR sizing
 *   7  INTx enable with the KVM irqfd extras, IRQ info for MSI/MSI-X
 *   8  machine reset (QEMU's pre_reset / DEVICE_RESET / post_reset)
 *   9  steady state: stores through the BAR2 mmap, posted writes,
 *      WRITE_MULTI, INTx and its unmasking
 *  10  DMA through fd-backed and fd-less guest memory, in QEMU's
 *      DMA_READ/DMA_WRITE layout, with a vCPU access in between
 *  11  DMA_UNMAPs and UNMAP_ALL
 *  12  reconnect, device state kept
 *
 * The order is QEMU's code where docs/qemu.md summarises: after
 * DEVICE_RESET, vfio_pci_post_reset re-enables INTx before it zeroes the
 * BARs.
 *
 * QEMU's reply strictness is the core of it (docs/qemu.md, "Messages and
 * replies"): QEMU receives a reply into a buffer sized from its request (a
 * longer reply desynchronises the stream), matches replies by id (an
 * unknown id, e.g. a reply to a NO_REPLY command, is fatal) and accepts
 * fds only on GET_REGION_INFO. After every step the socket must be silent.
 *
 * Each step is its own cmocka test (see "one cmocka test per step" at the
 * end), so an early failure does not hide the later steps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "clock.h"
#include "efd.h"
#include "fdcount.h"
#include "pci_regs.h"
#include "raw.h"
#include "test_server.h"
#include "vus_test.h"

/*
 * QEMU's caps_json() for VERSION (Q-PROXY; docs/qemu.md "VERSION"), in
 * QEMU's JSON writer's spacing. The key order of a QDict is its hash
 * order, so a server must not depend on it; this is one QEMU 10.x order.
 */
static const char qemu_caps_json[] =
	"{\"capabilities\": {\"migration\": {\"pgsize\": 4096, \"max_bitmap_size\": 268435456}, "
	"\"max_msg_fds\": 16, \"max_data_xfer_size\": 1048576, \"pgsizes\": 4096, "
	"\"max_dma_maps\": 65535, \"write_multiple\": true}}";

/* QEMU's limits on what the server may announce (Q-PROTO). */
#define QEMU_MAX_MAX_FDS  16u
#define QEMU_MAX_MAX_XFER (64u << 20)
#define QEMU_DEF_PGSIZE   4096u
#define QEMU_DEF_MAP_MAX  65535u
#define QEMU_MAX_BITMAP   (256u << 20)
/* Anti-DoS limits of vfio_user_get_device_info (Q-DEV). */
#define QEMU_MAX_REGIONS  100u
#define QEMU_MAX_IRQS     50u

/* Config space registers: pci_regs.h. */

/* Guest memory layout, like a small PC (docs/qemu.md "Guest memory and DMA maps"). */
#define RAM_SIZE   0x200000u   /* the memfd backing guest RAM */
#define MAP_LOW    0x0ull      /* RAM below the VGA hole, fd offset 0 */
#define MAP_LOW_SZ 0xa0000ull
#define MAP_OROM   0xc0000ull  /* option ROM shadow: read-only, no fd */
#define MAP_OROM_SZ 0x20000ull
#define MAP_HIGH   0x100000ull /* RAM above 1 MiB, fd offset 0x100000 */
#define MAP_HIGH_SZ 0x100000ull
#define MAP_BIOS   0xfffc0000ull /* BIOS: read-only, no fd */
#define MAP_BIOS_SZ 0x40000ull
/* Hot-plugged anonymous RAM: no fd, reached by DMA_READ/WRITE only. */
#define GUEST_ANON   0x100000000ull
#define GUEST_ANON_SZ 0x100000ull
#define NR_MAPS 5

#define DMA_LEN 3001u /* odd on purpose: data offsets and sizes show */
#define QUIET_MS 25   /* "nothing pending" window after each step */

struct qemu {
	struct test_server srv;
	int fd;
	/* QEMU's process-wide id counter (vfio_user_request_msg): it keeps
	 * counting across connections. */
	uint16_t next_id;
	const char *step;   /* for failure messages */
	bool write_multi;
	uint32_t max_fds;
	struct vus_device_info info;
	struct vus_region_info reg[VUS_PCI_NUM_REGIONS];
	uint32_t err_count;
	/* BAR2's mmap'ed sparse areas */
	void *area_map[4];
	struct vus_sparse_area area[4];
	unsigned nr_areas;
	/* guest RAM: the memfd (fd-backed maps) and the anonymous part */
	int ram_fd;
	uint8_t *ram;
	uint8_t *anon;
	/* INTx: QEMU's interrupt eventfd and KVM's resample eventfd */
	int intx_efd;
	int resample_efd;
	uint32_t scratch;
};

/* ---- QEMU's message plumbing ---------------------------------------- */

/* vfio_user_request_msg(): next id, command type, caller's flags, error 0. */
static uint16_t q_hdr(struct qemu *q, void *msg, uint16_t cmd, uint32_t size, uint32_t flags)
{
	struct vus_hdr h = {
		.id = q->next_id++,
		.cmd = cmd,
		.size = size,
		.flags = (flags & ~VUS_F_TYPE_MASK) | VUS_F_TYPE_COMMAND,
	};

	memcpy(msg, &h, sizeof(h));
	return h.id;
}

static void q_send(struct qemu *q, const void *msg, uint32_t size, const int *fds,
		   unsigned nfds)
{
	ASSERT_OK(raw_send_bytes(q->fd, msg, size, fds, nfds));
}

/*
 * What QEMU requires of any reply it waits for: the id of a pending
 * request (else "unexpected reply"), type REPLY, no larger than its
 * receive buffer rsize (else "reply larger than recv buffer"). Beyond
 * QEMU: the command echoed, no stray flag bits, success.
 */
static void check_reply(const struct qemu *q, const struct raw_msg *m, uint16_t id,
			uint16_t cmd, uint32_t rsize)
{
	if (m->hdr.id != id || m->hdr.cmd != cmd || m->hdr.size > rsize ||
	    m->hdr.flags != VUS_F_TYPE_REPLY || m->hdr.error)
		fail_msg("step %s: got id=%u cmd=%u size=%u flags=%#x error=%u; want the reply "
			 "to id=%u cmd=%u, size <= %u, flags %#x, error 0", q->step, m->hdr.id,
			 m->hdr.cmd, m->hdr.size, m->hdr.flags, m->hdr.error, id, cmd, rsize,
			 VUS_F_TYPE_REPLY);
}

/* The next message must be the reply to id. */
static void q_reply(struct qemu *q, uint16_t id, uint16_t cmd, uint32_t rsize, struct raw_msg *m)
{
	ASSERT_OK(raw_recv(q->fd, m, 2000));
	check_reply(q, m, id, cmd, rsize);
}

/* vfio_user_send_wait(): send msg (header filled here) and wait for the
 * reply into a buffer of rsize bytes (0 = the request's own size). */
static void q_call(struct qemu *q, uint16_t cmd, void *msg, uint32_t size, const int *fds,
		   unsigned nfds, uint32_t rsize, struct raw_msg *m)
{
	uint16_t id = q_hdr(q, msg, cmd, size, 0);

	q_send(q, msg, size, fds, nfds);
	q_reply(q, id, cmd, rsize ? rsize : size, m);
}

/* Nothing may be pending between QEMU's steps. */
static void q_quiet(struct qemu *q)
{
	struct raw_msg m;

	if (raw_nothing_within(q->fd, QUIET_MS))
		return;
	if (raw_recv(q->fd, &m, 100) < 0)
		fail_msg("step %s: the server closed or sent a partial message", q->step);
	fail_msg("step %s: unexpected message id=%u cmd=%u size=%u flags=%#x", q->step,
		 m.hdr.id, m.hdr.cmd, m.hdr.size, m.hdr.flags);
}

/* ---- region access (Q-DEV vfio_user_device_io_region_read/write) ----- */

static void q_region_read(struct qemu *q, uint32_t region, uint64_t off, void *data,
			  uint32_t count)
{
	struct vus_region_access ra = { .offset = off, .region = region, .count = count };
	uint8_t msg[VUS_HDR_SIZE + sizeof(ra)];
	struct raw_msg m;

	/* A 32-byte request; the reply lands in a 32 + count buffer. */
	memcpy(msg + VUS_HDR_SIZE, &ra, sizeof(ra));
	q_call(q, VUS_CMD_REGION_READ, msg, sizeof(msg), NULL, 0, sizeof(msg) + count, &m);
	ASSERT_EQ(m.nfds, 0);
	/* QEMU takes a short count; vus returns all of it, echoed. */
	ASSERT_EQ(m.len, sizeof(ra) + count);
	ASSERT_EQ(raw_u64(&m, 0), off);
	ASSERT_EQ(raw_u32(&m, 8), region);
	ASSERT_EQ(raw_u32(&m, 12), count);
	memcpy(data, m.payload + sizeof(ra), count);
	raw_msg_free(&m);
}

/* Build a REGION_WRITE of 32 + count bytes; returns its id. */
static uint16_t q_region_write_send(struct qemu *q, uint32_t region, uint64_t off,
				    const void *data, uint32_t count, bool post)
{
	struct vus_region_access ra = { .offset = off, .region = region, .count = count };
	uint32_t size = VUS_HDR_SIZE + sizeof(ra) + count;
	uint8_t *msg = malloc(size);
	uint16_t id;

	assert_non_null(msg);
	id = q_hdr(q, msg, VUS_CMD_REGION_WRITE, size, post ? VUS_F_NO_REPLY : 0);
	memcpy(msg + VUS_HDR_SIZE, &ra, sizeof(ra));
	memcpy(msg + VUS_HDR_SIZE + sizeof(ra), data, count);
	q_send(q, msg, size, NULL, 0);
	free(msg);
	return id;
}

/* A write reply: the 16-byte echo (docs/protocol.md 3.9), within 32 + count. */
static void check_write_reply(const struct raw_msg *m, uint32_t region, uint64_t off,
			      uint32_t count)
{
	ASSERT_EQ(m->nfds, 0);
	ASSERT_EQ(m->len, sizeof(struct vus_region_access));
	ASSERT_EQ(raw_u64(m, 0), off);
	ASSERT_EQ(raw_u32(m, 8), region);
	ASSERT_EQ(raw_u32(m, 12), count);
}

/* Posted writes (NO_REPLY) are sent and forgotten: vfio_user_send_async. */
static void q_region_write(struct qemu *q, uint32_t region, uint64_t off, const void *data,
			   uint32_t count, bool post)
{
	uint16_t id = q_region_write_send(q, region, off, data, count, post);
	struct raw_msg m;

	if (post)
		return;
	q_reply(q, id, VUS_CMD_REGION_WRITE, VUS_HDR_SIZE + 16 + count, &m);
	check_write_reply(&m, region, off, count);
	raw_msg_free(&m);
}

/* Config space is little-endian; QEMU converts (docs/qemu.md "Config space and BARs"). */
static uint32_t cfg_read(struct qemu *q, uint32_t off, uint32_t len)
{
	uint8_t b[4] = { 0 };

	q_region_read(q, VUS_PCI_CONFIG_REGION, off, b, len);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/* Config writes are never posted (docs/qemu.md "Config space and BARs"). */
static void cfg_write(struct qemu *q, uint32_t off, uint32_t val, uint32_t len)
{
	uint8_t b[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16),
			 (uint8_t)(val >> 24) };

	q_region_write(q, VUS_PCI_CONFIG_REGION, off, b, len, false);
}

static uint32_t bar0_read(struct qemu *q, uint32_t reg)
{
	uint8_t b[4];

	q_region_read(q, 0, reg, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/*
 * A guest's 32-bit MMIO write. QEMU posts memory-BAR writes unless a
 * region is mmap-able (docs/qemu.md "Posted writes"); testdev's BAR2 is, so a real
 * QEMU sends them synchronously; post = true plays a device without mmap.
 */
static void bar0_write(struct qemu *q, uint32_t reg, uint32_t val, bool post)
{
	uint8_t b[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16),
			 (uint8_t)(val >> 24) };

	q_region_write(q, 0, reg, b, 4, post);
}

/* ---- SET_IRQS (Q-DEV vfio_user_device_io_set_irqs) ------------------ */

/*
 * Every form QEMU sends is 36 bytes with argsz 20: DATA_NONE as
 * 16 + argsz, DATA_EVENTFD with the fds attached, not inline. The reply
 * buffer is the request (rsize 0); the reply is a bare header.
 */
static void q_set_irqs(struct qemu *q, uint32_t flags, uint32_t index, uint32_t start,
		       uint32_t count, const int *fds, unsigned nfds)
{
	struct vus_irq_set set = {
		.argsz = sizeof(set), .flags = flags, .index = index, .start = start,
		.count = count,
	};
	uint8_t msg[VUS_HDR_SIZE + sizeof(set)];
	struct raw_msg m;

	memcpy(msg + VUS_HDR_SIZE, &set, sizeof(set));
	q_call(q, VUS_CMD_DEVICE_SET_IRQS, msg, sizeof(msg), fds, nfds, 0, &m);
	ASSERT_EQ(m.hdr.size, VUS_HDR_SIZE);
	ASSERT_EQ(m.nfds, 0);
	raw_msg_free(&m);
}

static void q_irq_info(struct qemu *q, uint32_t index, struct vus_irq_info *out)
{
	struct vus_irq_info ii = { .argsz = sizeof(ii), .index = index };
	uint8_t msg[VUS_HDR_SIZE + sizeof(ii)];
	struct raw_msg m;

	memcpy(msg + VUS_HDR_SIZE, &ii, sizeof(ii));
	/* 32-byte request and reply buffer. */
	q_call(q, VUS_CMD_DEVICE_GET_IRQ_INFO, msg, sizeof(msg), NULL, 0, 0, &m);
	ASSERT_EQ(m.nfds, 0);
	ASSERT_EQ(m.len, sizeof(ii));
	memcpy(out, m.payload, sizeof(*out));
	ASSERT_EQ(out->argsz, sizeof(ii));
	ASSERT_EQ(out->index, index);
	raw_msg_free(&m);
}

/* ---- 1. VERSION (Q-PROXY vfio_user_validate_version) ----------------- */

static uint64_t json_uint(struct json_object *v)
{
	/* qnum_get_try_uint(): an integer >= 0, or the capability is
	 * "malformed" and the connection fails. */
	assert_true(json_object_is_type(v, json_type_int));
	ASSERT_NONNEG(json_object_get_int64(v));
	return (uint64_t)json_object_get_int64(v);
}

static void check_version_caps(struct qemu *q, const char *json)
{
	struct json_object *root = json_tokener_parse(json), *caps;
	bool have_fds = false, have_xfer = false;

	assert_non_null(root);
	assert_true(json_object_is_type(root, json_type_object));
	/* Only "capabilities" at the top: anything else is a "spurious
	 * capabilities" warning in QEMU. */
	ASSERT_EQ(json_object_object_length(root), 1);
	assert_true(json_object_object_get_ex(root, "capabilities", &caps));
	assert_true(json_object_is_type(caps, json_type_object));

	json_object_object_foreach(caps, key, val) {
		if (strcmp(key, "max_msg_fds") == 0) {
			q->max_fds = (uint32_t)json_uint(val);
			assert_true(q->max_fds <= QEMU_MAX_MAX_FDS);
			have_fds = true;
		} else if (strcmp(key, "max_data_xfer_size") == 0) {
			assert_true(json_uint(val) <= QEMU_MAX_MAX_XFER);
			have_xfer = true;
		} else if (strcmp(key, "pgsizes") == 0) {
			uint64_t pg = json_uint(val);

			/* No page size below 4 KiB; 0 trips QEMU's assert in
			 * vfio_user_setup (Q-CONT). */
			ASSERT_EQ(pg & (QEMU_DEF_PGSIZE - 1), 0);
			assert_true(pg != 0);
		} else if (strcmp(key, "max_dma_maps") == 0) {
			assert_true(json_uint(val) <= QEMU_DEF_MAP_MAX);
		} else if (strcmp(key, "write_multiple") == 0) {
			assert_true(json_object_is_type(val, json_type_boolean));
			q->write_multi = json_object_get_boolean(val);
		} else if (strcmp(key, "migration") == 0) {
			struct json_object *v;

			/* Not sent by vus (docs/protocol.md 3.1), but if present,
			 * QEMU checks it like this. */
			assert_true(json_object_is_type(val, json_type_object));
			if (json_object_object_get_ex(val, "pgsize", &v))
				ASSERT_EQ(json_uint(v) & (QEMU_DEF_PGSIZE - 1), 0);
			if (json_object_object_get_ex(val, "max_bitmap_size", &v))
				assert_true(json_uint(v) <= QEMU_MAX_BITMAP);
		} else {
			/* twin_socket was not offered; nothing else exists
			 * for QEMU ("spurious capabilities"). */
			fail_msg("unexpected capability \"%s\" in VERSION reply", key);
		}
	}
	/* Always explicit: QEMU assumes 8 fds when absent (docs/qemu.md,
	 * "Messages and replies"). */
	assert_true(have_fds);
	assert_true(have_xfer);
	json_object_put(root);
}

static void q_version(struct qemu *q)
{
	uint32_t jlen = sizeof(qemu_caps_json); /* NUL included */
	uint32_t size = VUS_HDR_SIZE + sizeof(struct vus_version) + jlen;
	uint8_t msg[VUS_HDR_SIZE + sizeof(struct vus_version) + sizeof(qemu_caps_json)];
	struct vus_version v = { .major = 0, .minor = 0 };
	const char *json;
	struct raw_msg m;
	size_t n;

	memcpy(msg + VUS_HDR_SIZE, &v, sizeof(v));
	memcpy(msg + VUS_HDR_SIZE + sizeof(v), qemu_caps_json, jlen);
	/* QEMU reuses its request buffer for the reply. */
	q_call(q, VUS_CMD_VERSION, msg, size, NULL, 0, 0, &m);
	ASSERT_EQ(m.nfds, 0);
	assert_true(m.len > sizeof(v));
	memcpy(&v, m.payload, sizeof(v));
	ASSERT_EQ(v.major, 0);
	ASSERT_EQ(v.minor, 0);
	/* "corrupt version reply" unless the last byte is NUL. */
	json = (const char *)m.payload + sizeof(v);
	n = m.len - sizeof(v);
	ASSERT_EQ(json[n - 1], '\0');
	/* One string, no embedded NUL cutting it short. */
	ASSERT_EQ(strlen(json), n - 1);
	check_version_caps(q, json);
	raw_msg_free(&m);
}

static void step1_version(struct qemu *q)
{
	q_version(q);
	/* vus offers what the client offered (docs/protocol.md 3.1). */
	assert_true(q->write_multi);
	ASSERT_EQ(q->max_fds, VUS_SERVER_MAX_MSG_FDS);
	q_quiet(q);
}

/* ---- 2. DMA_MAP in a memory transaction (Q-CONT vfio_user_dma_map) --- */

struct map_def {
	uint64_t iova, size, fd_offset;
	uint32_t flags;
	bool with_fd;
};

static const struct map_def boot_maps[] = {
	{ MAP_LOW, MAP_LOW_SZ, 0, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true },
	{ MAP_OROM, MAP_OROM_SZ, 0, VUS_DMA_MAP_FLAG_READ, false },
	{ MAP_HIGH, MAP_HIGH_SZ, MAP_HIGH, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true },
	{ MAP_BIOS, MAP_BIOS_SZ, 0, VUS_DMA_MAP_FLAG_READ, false },
};

/* A 48-byte DMA_MAP, argsz 32, fd attached only for fd-backed RAM. */
static uint16_t q_dma_map_send(struct qemu *q, const struct map_def *d)
{
	struct vus_dma_map dm = {
		.argsz = sizeof(dm), .flags = d->flags, .offset = d->with_fd ? d->fd_offset : 0,
		.addr = d->iova, .size = d->size,
	};
	uint8_t msg[VUS_HDR_SIZE + sizeof(dm)];
	uint16_t id = q_hdr(q, msg, VUS_CMD_DMA_MAP, sizeof(msg), 0);

	memcpy(msg + VUS_HDR_SIZE, &dm, sizeof(dm));
	q_send(q, msg, sizeof(msg), &q->ram_fd, d->with_fd ? 1 : 0);
	return id;
}

/* A DMA_MAP reply: into the 48-byte request buffer; vus sends a header. */
static void q_dma_map_reply(struct qemu *q, uint16_t id)
{
	struct raw_msg m;

	q_reply(q, id, VUS_CMD_DMA_MAP, VUS_HDR_SIZE + sizeof(struct vus_dma_map), &m);
	ASSERT_EQ(m.hdr.size, VUS_HDR_SIZE);
	ASSERT_EQ(m.nfds, 0);
	raw_msg_free(&m);
}

static void step2_dma_map(struct qemu *q)
{
	uint16_t ids[sizeof(boot_maps) / sizeof(boot_maps[0])];
	struct vus_dev_stats st;
	size_t i;

	/* listener_begin .. commit: every map "nowait", back to back; at
	 * commit QEMU waits for the last reply only (Q-PROXY
	 * vfio_user_wait_reqs). The earlier replies arrive meanwhile and
	 * are matched by id, in order (spec "Command Concurrency"). */
	for (i = 0; i < sizeof(boot_maps) / sizeof(boot_maps[0]); i++)
		ids[i] = q_dma_map_send(q, &boot_maps[i]);
	for (i = 0; i < sizeof(boot_maps) / sizeof(boot_maps[0]); i++)
		q_dma_map_reply(q, ids[i]);
	test_server_stats(&q->srv, &st);
	ASSERT_EQ(st.cur_maps, 4);
	q_quiet(q);
}

/* ---- 3. DEVICE_GET_INFO (Q-DEV vfio_user_get_device_info) ------------ */

static void step3_get_info(struct qemu *q)
{
	struct vus_device_info di = { .argsz = sizeof(di) };
	uint8_t msg[VUS_HDR_SIZE + sizeof(di)];
	struct raw_msg m;

	memcpy(msg + VUS_HDR_SIZE, &di, sizeof(di));
	q_call(q, VUS_CMD_DEVICE_GET_INFO, msg, sizeof(msg), NULL, 0, 0, &m);
	ASSERT_EQ(m.nfds, 0);
	ASSERT_EQ(m.len, sizeof(di));
	memcpy(&q->info, m.payload, sizeof(q->info));
	raw_msg_free(&m);

	ASSERT_EQ(q->info.argsz, sizeof(di));
	/* "this isn't a PCI device" otherwise; RESET makes QEMU reset it. */
	assert_true(q->info.flags & VUS_DEVICE_FLAGS_PCI);
	assert_true(q->info.flags & VUS_DEVICE_FLAGS_RESET);
	/* Index 7 (config) and 2 (MSI-X) must exist (docs/qemu.md "Device requirements"). */
	assert_true(q->info.num_regions >= 8 && q->info.num_regions <= QEMU_MAX_REGIONS);
	assert_true(q->info.num_irqs >= 3 && q->info.num_irqs <= QEMU_MAX_IRQS);
	q_quiet(q);
}

/* ---- 4. GET_REGION_INFO (Q-DEV, hw/vfio/device.c, hw/vfio/region.c) -- */

/*
 * Find the sparse-mmap capability in a region-info reply the way QEMU
 * walks the chain (vfio_get_region_info_cap), with bounds QEMU trusts the
 * server to keep: every header inside argsz and the chain moving forward
 * (a loop would hang QEMU).
 */
static void parse_sparse(struct qemu *q, const struct raw_msg *m, const struct vus_region_info *ri)
{
	uint32_t off = ri->cap_offset;
	unsigned hops = 0;

	q->nr_areas = 0;
	while (off) {
		struct vus_cap_hdr h;

		assert_true(++hops <= 16);
		assert_true(off >= sizeof(*ri));
		assert_true(off + sizeof(h) <= ri->argsz && off + sizeof(h) <= m->len);
		memcpy(&h, m->payload + off, sizeof(h));
		if (h.id == VUS_REGION_INFO_CAP_SPARSE_MMAP) {
			uint32_t n = raw_u32(m, off + 8), i;

			ASSERT_EQ(h.version, 1);
			assert_true(n >= 1 && n <= 4);
			assert_true(off + 16 + 16 * n <= ri->argsz && off + 16 + 16 * n <= m->len);
			for (i = 0; i < n; i++) {
				struct vus_sparse_area a;

				memcpy(&a, m->payload + off + 16 + 16 * i, sizeof(a));
				/* Inside the region, host-page aligned
				 * (docs/qemu.md "mmap and sparse areas"). */
				assert_true(a.size > 0);
				assert_true(a.offset <= ri->size && a.size <= ri->size - a.offset);
				ASSERT_EQ(a.offset % 4096, 0);
				ASSERT_EQ(a.size % 4096, 0);
				q->area[q->nr_areas++] = a;
			}
		}
		assert_true(h.next == 0 || h.next > off);
		off = h.next;
	}
}

/* vfio_region_mmap(): each area MAP_SHARED at region.offset + area.offset. */
static void map_areas(struct qemu *q, int fd, const struct vus_region_info *ri)
{
	unsigned i;

	for (i = 0; i < q->nr_areas; i++) {
		void *p = mmap(NULL, q->area[i].size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			       (off_t)(ri->offset + q->area[i].offset));

		assert_true(p != MAP_FAILED);
		q->area_map[i] = p;
	}
}

/* A guest store through the mapping is what REGION_READ sees. */
static void check_areas(struct qemu *q, uint32_t index)
{
	unsigned i;

	for (i = 0; i < q->nr_areas; i++) {
		uint32_t pat = 0xa5a50000u | i, back = 0;
		uint8_t *p = q->area_map[i];
		uint64_t last = q->area[i].size - 4;

		memcpy(p, &pat, 4);
		memcpy(p + last, &pat, 4);
		q_region_read(q, index, q->area[i].offset, &back, 4);
		ASSERT_EQ(back, pat);
		back = 0;
		q_region_read(q, index, q->area[i].offset + last, &back, 4);
		ASSERT_EQ(back, pat);
	}
}

static void q_region_info(struct qemu *q, uint32_t index)
{
	uint32_t argsz = sizeof(struct vus_region_info);
	struct vus_region_info *ri = &q->reg[index];
	unsigned asks;

	for (asks = 1;; asks++) {
		struct vus_region_info req = { .argsz = argsz, .index = index };
		uint8_t msg[VUS_HDR_SIZE + sizeof(req)];
		struct raw_msg m;

		/* The request is always 48 bytes; argsz is the reply room
		 * and the reply buffer is 16 + argsz. */
		memcpy(msg + VUS_HDR_SIZE, &req, sizeof(req));
		q_call(q, VUS_CMD_DEVICE_GET_REGION_INFO, msg, sizeof(msg), NULL, 0,
		       VUS_HDR_SIZE + argsz, &m);
		assert_true(m.len >= sizeof(*ri));
		memcpy(ri, m.payload, sizeof(*ri));
		ASSERT_EQ(ri->index, index);
		/* At most the one fd QEMU passes room for, only with MMAP,
		 * and only in the full reply (a short one keeps the MMAP flag
		 * as kernel VFIO does, without caps or fd). */
		assert_true(m.nfds <= 1);
		ASSERT_EQ(m.nfds == 1, !!(ri->flags & VUS_REGION_INFO_FLAG_MMAP) &&
					       ri->argsz <= argsz);
		/* QEMU 10.2 refuses CAPS with a cap_offset below 32. */
		assert_true(!(ri->flags & VUS_REGION_INFO_FLAG_CAPS) || ri->cap_offset >= 32);

		if (ri->argsz > argsz) {
			/* Too small: QEMU closes the fd of the short reply
			 * and asks again with the size the server wants. */
			ASSERT_EQ(asks, 1);
			assert_true(ri->argsz <= 4096);
			argsz = ri->argsz;
			raw_msg_free(&m);
			continue;
		}
		if (ri->flags & VUS_REGION_INFO_FLAG_CAPS)
			assert_true(ri->cap_offset >= sizeof(*ri) && ri->cap_offset <= ri->argsz);
		else
			ASSERT_EQ(ri->argsz, sizeof(*ri));
		if (index == 2) {
			assert_true(ri->flags & VUS_REGION_INFO_FLAG_CAPS);
			parse_sparse(q, &m, ri);
			ASSERT_EQ(q->nr_areas, 2);
			map_areas(q, m.fds[0], ri);
		}
		raw_msg_free(&m);
		break;
	}
}

static void step4_region_info(struct qemu *q)
{
	static const uint32_t order[] = { 0, 1, 2, 3, 4, 5, VUS_PCI_CONFIG_REGION };
	const uint32_t rw = VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE;
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		q_region_info(q, order[i]);

	/* testdev (testdev.h): BAR0 4 KiB, BAR1 1 MiB, BAR2 64 KiB mmap-able
	 * in two areas, no BAR3-5, conventional config space. */
	ASSERT_EQ(q->reg[0].size, TESTDEV_BAR0_SIZE);
	ASSERT_EQ(q->reg[0].flags, rw);
	ASSERT_EQ(q->reg[1].size, TESTDEV_BAR1_SIZE);
	ASSERT_EQ(q->reg[1].flags, rw);
	ASSERT_EQ(q->reg[2].size, TESTDEV_BAR2_SIZE);
	ASSERT_EQ(q->reg[2].flags,
		  rw | VUS_REGION_INFO_FLAG_MMAP | VUS_REGION_INFO_FLAG_CAPS);
	ASSERT_EQ(q->area[0].offset, 0);
	ASSERT_EQ(q->area[0].size, TESTDEV_BAR2_HOLE_OFF);
	ASSERT_EQ(q->area[1].offset, TESTDEV_BAR2_HOLE_END);
	ASSERT_EQ(q->area[1].size, TESTDEV_BAR2_SIZE - TESTDEV_BAR2_HOLE_END);
	for (i = 3; i <= 5; i++) {
		ASSERT_EQ(q->reg[i].size, 0);
		ASSERT_EQ(q->reg[i].flags, 0);
	}
	assert_true(q->reg[VUS_PCI_CONFIG_REGION].size == 256 ||
		    q->reg[VUS_PCI_CONFIG_REGION].size == 4096);
	ASSERT_EQ(q->reg[VUS_PCI_CONFIG_REGION].flags, rw);
	/* BARs must be powers of two for QEMU's PCI core. */
	for (i = 0; i <= 5; i++)
		ASSERT_EQ(q->reg[i].size & (q->reg[i].size - 1), 0);
	q_quiet(q);
}

/* ---- 5. GET_IRQ_INFO(ERR) -------------------------------------------- */

static void step5_err_info(struct qemu *q)
{
	struct vus_irq_info ii;

	q_irq_info(q, VUS_PCI_ERR_IRQ, &ii);
	q->err_count = ii.count;
	assert_true(ii.count <= 1);
	if (ii.count)
		assert_true(ii.flags & VUS_IRQ_INFO_EVENTFD);
	q_quiet(q);
}

/* ---- 6. config space (Q-VPCI vfio_pci_config_setup, size_rom, bars) --- */

static void check_bar(struct qemu *q, unsigned i)
{
	uint32_t off = CFG_BAR0 + 4 * i;
	uint32_t bar = cfg_read(q, off, 4), sized, want;
	uint64_t size = q->reg[i].size;

	if (bar & 0x1) {
		/* I/O: bit 1 reserved, size within the 256-byte I/O limit. */
		ASSERT_EQ(bar & 0x2, 0);
		assert_true(size >= 4 && size <= 256);
	} else {
		uint32_t type = (bar >> 1) & 0x3;

		/* 32-bit (0) or 64-bit (2); a 64-bit BAR's upper half is
		 * the next region, which reports size 0. */
		assert_true(type == 0 || type == 2);
		if (type == 2) {
			assert_true(i < 5);
			ASSERT_EQ(q->reg[i + 1].size, 0);
		}
		assert_true(size >= 16);
	}

	/* Sizing: all ones, read back the size mask, restore. */
	cfg_write(q, off, 0xffffffffu, 4);
	sized = cfg_read(q, off, 4);
	cfg_write(q, off, bar, 4);
	want = (uint32_t)~(size - 1);
	if (bar & 0x1)
		ASSERT_EQ(sized, (want & ~0x3u) | (bar & 0x3u));
	else
		ASSERT_EQ(sized, (want & ~0xfu) | (bar & 0xfu));
	ASSERT_EQ(cfg_read(q, off, 4), bar);
}

static void step6_config(struct qemu *q)
{
	uint32_t count = q->reg[VUS_PCI_CONFIG_REGION].size >= 4096 ? 4096 : 256;
	uint8_t *cfg = malloc(count);
	uint32_t orig, rom;
	uint16_t status;
	unsigned i;

	assert_non_null(cfg);
	/* One REGION_READ of the whole of it. */
	q_region_read(q, VUS_PCI_CONFIG_REGION, 0, cfg, count);
	ASSERT_EQ(cfg[CFG_VENDOR] | cfg[CFG_VENDOR + 1] << 8, TESTDEV_VENDOR);
	ASSERT_EQ(cfg[CFG_DEVICE] | cfg[CFG_DEVICE + 1] << 8, TESTDEV_DEVICE);
	ASSERT_EQ(cfg[CFG_CLASS] | cfg[CFG_CLASS + 1] << 8 | cfg[CFG_CLASS + 2] << 16,
		  TESTDEV_CLASS);
	/* Type 0 layout; QEMU owns bit 7 (multifunction). */
	ASSERT_EQ(cfg[CFG_HDR_TYPE] & 0x7f, 0);
	status = (uint16_t)(cfg[CFG_STATUS] | cfg[CFG_STATUS + 1] << 8);
	/* QEMU walks capabilities only with the Capabilities List bit. */
	if (status & STATUS_CAP_LIST)
		assert_true(cfg[CFG_CAP_PTR] >= 0x40);
	ASSERT_EQ(cfg[CFG_INT_PIN], 1);
	free(cfg);

	/* vfio_pci_size_rom(): read, write the ROM address mask, read,
	 * write back. Reading 0 means "no ROM" (testdev has none). */
	orig = cfg_read(q, CFG_ROM, 4);
	cfg_write(q, CFG_ROM, ROM_ADDR_MASK, 4);
	rom = cfg_read(q, CFG_ROM, 4);
	cfg_write(q, CFG_ROM, orig, 4);
	ASSERT_EQ(rom, 0);
	ASSERT_EQ(orig, 0);

	/* vfio_bar_prepare(): each implemented BAR register. */
	for (i = 0; i <= 5; i++)
		if (q->reg[i].size)
			check_bar(q, i);
	/* testdev's BARs are 32-bit non-prefetchable memory. */
	for (i = 0; i <= 2; i++)
		ASSERT_EQ(cfg_read(q, CFG_BAR0 + 4 * i, 4) & 0xfu, 0);
	q_quiet(q);
}

/* ---- 7. INTx enable (Q-VPCI vfio_intx_enable, vfio_intx_enable_kvm) --- */

static void intx_enable(struct qemu *q)
{
	const uint32_t kvm_mask = VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK;
	const uint32_t unmask = VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK;

	/* The pin, a 1-byte config read (not emulated by QEMU). */
	ASSERT_EQ(cfg_read(q, CFG_INT_PIN, 1), 1);
	q->intx_efd = efd_new();
	q_set_irqs(q, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, VUS_PCI_INTX_IRQ,
		   0, 1, &q->intx_efd, 1);
	/* With KVM irqfd + resample: mask, give the resample fd, unmask. */
	q_set_irqs(q, kvm_mask, VUS_PCI_INTX_IRQ, 0, 1, NULL, 0);
	q->resample_efd = efd_new();
	q_set_irqs(q, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_UNMASK, VUS_PCI_INTX_IRQ, 0,
		   1, &q->resample_efd, 1);
	q_set_irqs(q, unmask, VUS_PCI_INTX_IRQ, 0, 1, NULL, 0);
}

/* vfio_intx_disable() with KVM acceleration, as at pre_reset. */
static void intx_disable(struct qemu *q)
{
	q_set_irqs(q, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK, VUS_PCI_INTX_IRQ, 0, 1,
		   NULL, 0);
	/* QEMU closes its resample notifier; "if we've missed an event,
	 * let it re-fire through QEMU". */
	close(q->resample_efd);
	q->resample_efd = -1;
	q_set_irqs(q, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, VUS_PCI_INTX_IRQ, 0, 1,
		   NULL, 0);
	/* vfio_device_irq_disable(): count 0 disables the index. */
	q_set_irqs(q, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER, VUS_PCI_INTX_IRQ, 0, 0,
		   NULL, 0);
	close(q->intx_efd);
	q->intx_efd = -1;
}

static void step7_interrupts(struct qemu *q)
{
	struct vus_irq_info ii;

	q_irq_info(q, VUS_PCI_INTX_IRQ, &ii);
	ASSERT_EQ(ii.count, 1);
	ASSERT_EQ(ii.flags, VUS_IRQ_INFO_EVENTFD | VUS_IRQ_INFO_MASKABLE |
			    VUS_IRQ_INFO_AUTOMASKED);
	/* vfio_pci_interrupt_setup() reads the pin, then enables INTx. */
	ASSERT_EQ(cfg_read(q, CFG_INT_PIN, 1), 1);
	intx_enable(q);
	ASSERT_EQ(efd_wait(q->intx_efd, 0), 0);

	q_irq_info(q, VUS_PCI_MSI_IRQ, &ii);
	assert_true(ii.flags & VUS_IRQ_INFO_EVENTFD);
	ASSERT_EQ(ii.count, TESTDEV_MSI_VECTORS);
	q_irq_info(q, VUS_PCI_MSIX_IRQ, &ii);
	assert_true(ii.flags & VUS_IRQ_INFO_EVENTFD);
	ASSERT_EQ(ii.count, TESTDEV_NR_VECTORS);

	/* vfio_pci_register_err_notifier(): only with one ERR vector. */
	if (q->err_count == 1) {
		int efd = efd_new();

		q_set_irqs(q, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
			   VUS_PCI_ERR_IRQ, 0, 1, &efd, 1);
		close(efd);
	} else {
		print_message("ERR count %u: QEMU sends no ERR SET_IRQS\n", q->err_count);
	}
	q_quiet(q);
}

/* ---- 8. machine reset (Q-UPCI vfio_user_pci_reset) ------------------- */

static void step8_reset(struct qemu *q)
{
	struct vus_dev_stats st0, st;
	uint8_t msg[VUS_HDR_SIZE];
	struct raw_msg m;
	uint64_t resets0;
	uint32_t cmd;
	unsigned i;

	/* The guest had enabled decoding, bus mastering and SERR#. */
	cfg_write(q, CFG_COMMAND, CMD_MEMORY | CMD_MASTER | CMD_SERR, 2);
	test_server_stats(&q->srv, &st0);
	resets0 = vus_dev_stat_cmd(q->srv.dev, VUS_CMD_DEVICE_RESET);

	/* vfio_pci_pre_reset(): interrupts off, then stop DMA and decoding
	 * with a 2-byte COMMAND read-modify-write. */
	intx_disable(q);
	cmd = cfg_read(q, CFG_COMMAND, 2);
	ASSERT_EQ(cmd, CMD_MEMORY | CMD_MASTER | CMD_SERR);
	cmd &= ~(CMD_IO | CMD_MEMORY | CMD_MASTER | CMD_INTX_DIS);
	cfg_write(q, CFG_COMMAND, cmd, 2);
	ASSERT_EQ(cfg_read(q, CFG_COMMAND, 2), CMD_SERR);

	/* vfio_user_device_reset(): a bare header; QEMU's reply buffer is
	 * exactly 16 bytes (docs/qemu.md "Machine reset"). */
	q_call(q, VUS_CMD_DEVICE_RESET, msg, sizeof(msg), NULL, 0, 0, &m);
	ASSERT_EQ(m.hdr.size, VUS_HDR_SIZE);
	ASSERT_EQ(m.nfds, 0);
	raw_msg_free(&m);

	/* vfio_pci_post_reset(): INTx back on, then 0 into each BAR
	 * register. */
	intx_enable(q);
	for (i = 0; i <= 5; i++)
		cfg_write(q, CFG_BAR0 + 4 * i, 0, 4);
	for (i = 0; i <= 5; i++)
		if (q->reg[i].size)
			ASSERT_EQ(cfg_read(q, CFG_BAR0 + 4 * i, 4) & ~0xfu, 0);

	/* The reset reached the device, cleared what pre_reset left in
	 * COMMAND (docs/protocol.md 3.10), and nothing failed. */
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_RESETS), 1);
	ASSERT_EQ(cfg_read(q, CFG_COMMAND, 2), 0);
	test_server_stats(&q->srv, &st);
	ASSERT_EQ(st.errors, st0.errors);
	ASSERT_EQ(vus_dev_stat_cmd(q->srv.dev, VUS_CMD_DEVICE_RESET), resets0 + 1);
	q_quiet(q);
}

/* ---- 9. steady state -------------------------------------------------- */

/* QEMU's REGION_WRITE_MULTI: always NO_REPLY, <= 200 writes of <= 8 bytes
 * (Q-PROXY vfio_user_create_multi/add_multi/flush_multi). */
static void q_write_multi(struct qemu *q, const struct vus_write_multi_entry *w, uint32_t n)
{
	uint32_t size = VUS_HDR_SIZE + 8 + n * (uint32_t)sizeof(*w);
	uint8_t *msg = malloc(size);
	uint64_t cnt = n;

	assert_non_null(msg);
	assert_true(n <= VUS_WRITE_MULTI_MAX);
	q_hdr(q, msg, VUS_CMD_REGION_WRITE_MULTI, size, VUS_F_NO_REPLY);
	memcpy(msg + VUS_HDR_SIZE, &cnt, sizeof(cnt));
	memcpy(msg + VUS_HDR_SIZE + 8, w, n * sizeof(*w));
	q_send(q, msg, size, NULL, 0);
	free(msg);
}

static void steady_posted(struct qemu *q)
{
	struct vus_write_multi_entry w[VUS_WRITE_MULTI_MAX];
	uint32_t i, v, last_scratch = 0, last_invert = 0;

	/* Posted writes never get a reply; the read after them is answered
	 * only after they were applied (spec "Command Concurrency"). */
	for (i = 0; i < 16; i++)
		bar0_write(q, TESTDEV_REG_SCRATCH, 0x1000u + i, true);
	q_quiet(q);
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_SCRATCH), 0x1000u + 15);

	/* 200 batched 4-byte writes alternating SCRATCH and INVERT. */
	memset(w, 0, sizeof(w));
	for (i = 0; i < VUS_WRITE_MULTI_MAX; i++) {
		v = 0x5000000u + i * 7;
		w[i].offset = i % 2 ? TESTDEV_REG_INVERT : TESTDEV_REG_SCRATCH;
		w[i].region = 0;
		w[i].count = 4;
		memcpy(w[i].data, &v, 4);
		if (i % 2)
			last_invert = v;
		else
			last_scratch = v;
	}
	assert_true(q->write_multi);
	q_write_multi(q, w, VUS_WRITE_MULTI_MAX);
	q_quiet(q);
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_SCRATCH), last_scratch);
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_INVERT), ~last_invert);

	q->scratch = 0x600dcafeu;
	bar0_write(q, TESTDEV_REG_SCRATCH, q->scratch, true);
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_SCRATCH), q->scratch);
	q_quiet(q);
}

/* INTx is auto-masked after each signal (docs/qemu.md "Interrupts"). */
static void steady_intx(struct qemu *q)
{
	const uint32_t unmask = VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK;

	ASSERT_EQ(bar0_read(q, TESTDEV_REG_IRQ_STATUS), 0);
	bar0_write(q, TESTDEV_REG_IRQ_RAISE, 0x1, false);
	ASSERT_EQ(efd_wait(q->intx_efd, 2000), 1);

	/* Masked now: a second cause waits for the unmask. */
	bar0_write(q, TESTDEV_REG_IRQ_RAISE, 0x2, false);
	ASSERT_EQ(efd_wait(q->intx_efd, 50), 0);
	/* The guest's EOI without KVM: SET_IRQS UNMASK start 0 count 1. */
	q_set_irqs(q, unmask, VUS_PCI_INTX_IRQ, 0, 1, NULL, 0);
	ASSERT_EQ(efd_wait(q->intx_efd, 2000), 1);

	/* Masked again; with KVM the EOI arrives on the resample eventfd. */
	bar0_write(q, TESTDEV_REG_IRQ_RAISE, 0x4, false);
	ASSERT_EQ(efd_wait(q->intx_efd, 50), 0);
	efd_signal(q->resample_efd);
	ASSERT_EQ(efd_wait(q->intx_efd, 2000), 1);
	/* INTx is a level: no cause acknowledged yet, so the line is still
	 * asserted and an EOI delivers it again (vus_irq_intx_set_level). */
	efd_signal(q->resample_efd);
	ASSERT_EQ(efd_wait(q->intx_efd, 2000), 1);

	ASSERT_EQ(bar0_read(q, TESTDEV_REG_IRQ_STATUS), 0x7);
	bar0_write(q, TESTDEV_REG_IRQ_ACK, 0x7, false);
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_IRQ_STATUS), 0);
	/* Acknowledged: the line is low, an EOI delivers nothing. */
	efd_signal(q->resample_efd);
	ASSERT_EQ(efd_wait(q->intx_efd, 50), 0);
	/* The last resample unmasked the line: the next cause fires. */
	bar0_write(q, TESTDEV_REG_IRQ_RAISE, 0x8, false);
	assert_true(efd_wait(q->intx_efd, 2000) > 0);
	/* A guest's handler acknowledges the cause, then EOIs. */
	bar0_write(q, TESTDEV_REG_IRQ_ACK, 0x8, false);
	q_set_irqs(q, unmask, VUS_PCI_INTX_IRQ, 0, 1, NULL, 0);
	ASSERT_EQ(efd_wait(q->intx_efd, 20), 0);
	q_quiet(q);
}

static void step9_steady(struct qemu *q)
{
	/* Guest stores through BAR2's mmap'ed areas (mapped in step 4). */
	check_areas(q, 2);
	steady_posted(q);
	steady_intx(q);
}

/* ---- 10. DMA (Q-UPCI vfio_user_dma_read/write) ----------------------- */

/*
 * Read messages until the reply to id arrives; a server request (DMA)
 * may come before it and is kept in *req. Any other message fails.
 */
static void q_reply_or_request(struct qemu *q, uint16_t id, uint16_t cmd, uint32_t rsize,
			       struct raw_msg *reply, struct raw_msg *req, bool *have_req)
{
	for (;;) {
		struct raw_msg m;

		ASSERT_OK(raw_recv(q->fd, &m, 2000));
		if ((m.hdr.flags & VUS_F_TYPE_MASK) == VUS_F_TYPE_COMMAND) {
			assert_false(*have_req);
			*req = m;
			*have_req = true;
			continue;
		}
		check_reply(q, &m, id, cmd, rsize);
		*reply = m;
		return;
	}
}

/* Program testdev's engine with QEMU's (synchronous, since BAR2 is
 * mmap-able) MMIO writes, the last one starting it. The DMA request the
 * start triggers may overtake the write's reply: both are collected. */
static void dma_start(struct qemu *q, uint64_t src, uint64_t dst, uint32_t len, uint32_t cmd,
		      struct raw_msg *req, bool *have_req)
{
	uint32_t c = cmd | TESTDEV_DMA_START;
	struct raw_msg m;
	uint16_t id;

	*have_req = false;
	bar0_write(q, TESTDEV_REG_DMA_SRC_LO, (uint32_t)src, false);
	bar0_write(q, TESTDEV_REG_DMA_SRC_HI, (uint32_t)(src >> 32), false);
	bar0_write(q, TESTDEV_REG_DMA_DST_LO, (uint32_t)dst, false);
	bar0_write(q, TESTDEV_REG_DMA_DST_HI, (uint32_t)(dst >> 32), false);
	bar0_write(q, TESTDEV_REG_DMA_LEN, len, false);
	id = q_region_write_send(q, 0, TESTDEV_REG_DMA_CMD, &c, 4, false);
	q_reply_or_request(q, id, VUS_CMD_REGION_WRITE, VUS_HDR_SIZE + 16 + 4, &m, req,
			   have_req);
	check_write_reply(&m, 0, TESTDEV_REG_DMA_CMD, 4);
	raw_msg_free(&m);
}

/* Poll DMA_STATUS (as a driver would) until the engine is idle. */
static void dma_wait_idle(struct qemu *q, uint32_t count0)
{
	int64_t deadline = test_now_ms() + 3000;
	uint32_t st;

	for (;;) {
		st = bar0_read(q, TESTDEV_REG_DMA_STATUS);
		if (!(st & TESTDEV_DMA_BUSY))
			break;
		assert_true(test_now_ms() < deadline);
		test_sleep_ms(1);
	}
	ASSERT_EQ(st & TESTDEV_DMA_ERROR, 0);
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_DMA_COUNT), count0 + 1);
}

/* A vCPU's MMIO read while the server's DMA request is unanswered: QEMU
 * holds the BQL waiting for it, so the server must answer it without
 * waiting for the DMA reply (docs/qemu.md "Server requests while a vCPU waits"). */
static void vcpu_read_during_dma(struct qemu *q)
{
	uint32_t st = bar0_read(q, TESTDEV_REG_DMA_STATUS);

	assert_true(st & TESTDEV_DMA_BUSY);
}

static uint8_t *anon_at(struct qemu *q, uint64_t addr, uint32_t count)
{
	assert_true(addr >= GUEST_ANON && addr - GUEST_ANON <= GUEST_ANON_SZ &&
		    count <= GUEST_ANON_SZ - (addr - GUEST_ANON));
	return q->anon + (addr - GUEST_ANON);
}

/* The server's DMA_WRITE in QEMU's layout: 32 + count bytes, u32 count at
 * payload 8, data at message byte 28. QEMU writes guest memory and
 * answers with a bare header (vfio_user_send_reply(.., sizeof(hdr))). */
static void serve_dma_write(struct qemu *q, struct raw_msg *req, uint64_t iova, uint32_t len)
{
	struct vus_hdr h = req->hdr;
	uint8_t msg[VUS_HDR_SIZE];

	ASSERT_EQ(req->hdr.cmd, VUS_CMD_DMA_WRITE);
	ASSERT_EQ(req->hdr.flags, VUS_F_TYPE_COMMAND);
	ASSERT_EQ(req->hdr.error, 0);
	ASSERT_EQ(req->nfds, 0);
	ASSERT_EQ(req->hdr.size, VUS_HDR_SIZE + VUS_DMA_RW_QEMU_FIXED + len);
	ASSERT_EQ(raw_u64(req, 0), iova);
	ASSERT_EQ(raw_u32(req, 8), len);
	memcpy(anon_at(q, iova, len), req->payload + VUS_DMA_RW_QEMU_DATA_OFF, len);

	h.flags = VUS_F_TYPE_REPLY;
	h.size = VUS_HDR_SIZE;
	memcpy(msg, &h, sizeof(h));
	q_send(q, msg, sizeof(msg), NULL, 0);
	raw_msg_free(req);
}

/* The server's DMA_READ: at least the 32-byte VFIOUserDMARW. QEMU copies
 * those 32 bytes into a 32 + count reply and reads guest memory into it
 * at byte 28 (vfio_user_dma_read). */
static void serve_dma_read(struct qemu *q, struct raw_msg *req, uint64_t iova, uint32_t len)
{
	uint32_t size = VUS_HDR_SIZE + VUS_DMA_RW_QEMU_FIXED + len;
	uint8_t *msg = calloc(1, size);
	struct vus_hdr h = req->hdr;

	assert_non_null(msg);
	ASSERT_EQ(req->hdr.cmd, VUS_CMD_DMA_READ);
	ASSERT_EQ(req->hdr.flags, VUS_F_TYPE_COMMAND);
	ASSERT_EQ(req->hdr.error, 0);
	ASSERT_EQ(req->nfds, 0);
	assert_true(req->hdr.size >= VUS_HDR_SIZE + VUS_DMA_RW_QEMU_FIXED);
	ASSERT_EQ(raw_u64(req, 0), iova);
	ASSERT_EQ(raw_u32(req, 8), len);

	h.flags = VUS_F_TYPE_REPLY;
	h.size = size;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + VUS_HDR_SIZE, req->payload, VUS_DMA_RW_QEMU_FIXED);
	memcpy(msg + VUS_HDR_SIZE + VUS_DMA_RW_QEMU_DATA_OFF, anon_at(q, iova, len), len);
	q_send(q, msg, size, NULL, 0);
	free(msg);
	raw_msg_free(req);
}

/* Hot-plugged anonymous RAM: one map in its own memory transaction. */
static void map_anon(struct qemu *q)
{
	static const struct map_def anon = {
		GUEST_ANON, GUEST_ANON_SZ, 0, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
	};

	q_dma_map_reply(q, q_dma_map_send(q, &anon));
}

static void pattern(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 7));
}

static void step10_dma(struct qemu *q)
{
	const uint64_t ram_src = MAP_HIGH + 0x345, ram_dst = MAP_LOW + 0x10007;
	const uint64_t anon_dst = GUEST_ANON + 0x1001, anon_src = GUEST_ANON + 0x80003;
	const uint32_t bar1_a = 0x2000, bar1_b = 0x9000;
	uint8_t a[DMA_LEN], b[DMA_LEN];
	struct vus_dev_stats st0, st;
	struct raw_msg req;
	bool have_req;
	uint32_t n;

	map_anon(q);
	test_server_stats(&q->srv, &st0);

	/* fd-backed RAM -> BAR1: the server copies itself, no message. */
	pattern(a, sizeof(a), 0x21);
	memcpy(q->ram + ram_src, a, sizeof(a));
	n = bar0_read(q, TESTDEV_REG_DMA_COUNT);
	dma_start(q, ram_src, bar1_a, DMA_LEN, 0, &req, &have_req);
	assert_false(have_req);
	dma_wait_idle(q, n);
	q_quiet(q);

	/* BAR1 -> fd-less RAM: DMA_WRITE on the main socket. */
	n = bar0_read(q, TESTDEV_REG_DMA_COUNT);
	dma_start(q, bar1_a, anon_dst, DMA_LEN, TESTDEV_DMA_TO_HOST, &req, &have_req);
	if (!have_req)
		ASSERT_OK(raw_recv(q->fd, &req, 2000));
	vcpu_read_during_dma(q);
	serve_dma_write(q, &req, anon_dst, DMA_LEN);
	dma_wait_idle(q, n);
	assert_memory_equal(anon_at(q, anon_dst, DMA_LEN), a, DMA_LEN);
	q_quiet(q);

	/* fd-less RAM -> BAR1: DMA_READ on the main socket. */
	pattern(b, sizeof(b), 0x99);
	memcpy(anon_at(q, anon_src, DMA_LEN), b, DMA_LEN);
	n = bar0_read(q, TESTDEV_REG_DMA_COUNT);
	dma_start(q, anon_src, bar1_b, DMA_LEN, 0, &req, &have_req);
	if (!have_req)
		ASSERT_OK(raw_recv(q->fd, &req, 2000));
	vcpu_read_during_dma(q);
	serve_dma_read(q, &req, anon_src, DMA_LEN);
	dma_wait_idle(q, n);
	q_quiet(q);

	/* BAR1 -> fd-backed RAM: what DMA_READ brought in, unshifted. */
	n = bar0_read(q, TESTDEV_REG_DMA_COUNT);
	dma_start(q, bar1_b, ram_dst, DMA_LEN, TESTDEV_DMA_TO_HOST, &req, &have_req);
	assert_false(have_req);
	dma_wait_idle(q, n);
	assert_memory_equal(q->ram + ram_dst, b, DMA_LEN);
	ASSERT_EQ(q->ram[ram_dst - 1], 0);
	ASSERT_EQ(q->ram[ram_dst + DMA_LEN], 0);

	test_server_stats(&q->srv, &st);
	ASSERT_EQ(st.dma_msgs, st0.dma_msgs + 2);
	ASSERT_EQ(st.errors, st0.errors);
	q_quiet(q);
}

/* ---- 11. DMA_UNMAP (Q-CONT vfio_user_dma_unmap) ---------------------- */

static uint16_t q_dma_unmap_send(struct qemu *q, uint32_t flags, uint64_t iova, uint64_t size)
{
	struct vus_dma_unmap du = { .argsz = sizeof(du), .flags = flags, .addr = iova,
				    .size = size };
	uint8_t msg[VUS_HDR_SIZE + sizeof(du)];
	uint16_t id = q_hdr(q, msg, VUS_CMD_DMA_UNMAP, sizeof(msg), 0);

	memcpy(msg + VUS_HDR_SIZE, &du, sizeof(du));
	q_send(q, msg, sizeof(msg), NULL, 0);
	return id;
}

/* Into the 40-byte request buffer: 16 (header) or 40 (echo) bytes. */
static void q_dma_unmap_reply(struct qemu *q, uint16_t id)
{
	struct raw_msg m;

	q_reply(q, id, VUS_CMD_DMA_UNMAP, VUS_HDR_SIZE + sizeof(struct vus_dma_unmap), &m);
	assert_true(m.hdr.size == VUS_HDR_SIZE ||
		    m.hdr.size == VUS_HDR_SIZE + sizeof(struct vus_dma_unmap));
	ASSERT_EQ(m.nfds, 0);
	raw_msg_free(&m);
}

static void step11_dma_unmap(struct qemu *q)
{
	uint16_t ids[NR_MAPS];
	size_t i, nb = sizeof(boot_maps) / sizeof(boot_maps[0]);

	/* One memory transaction removing every section, "nowait". */
	for (i = 0; i < nb; i++)
		ids[i] = q_dma_unmap_send(q, 0, boot_maps[i].iova, boot_maps[i].size);
	ids[nb] = q_dma_unmap_send(q, 0, GUEST_ANON, GUEST_ANON_SZ);
	for (i = 0; i <= nb; i++)
		q_dma_unmap_reply(q, ids[i]);
	assert_true(test_server_wait_maps(&q->srv, 0, 1000));

	/* A section covering the whole address space went away. */
	q_dma_unmap_reply(q, q_dma_unmap_send(q, VUS_DMA_UNMAP_FLAG_ALL, 0, 0));
	q_quiet(q);
}

/* ---- 12. reconnect ---------------------------------------------------- */

static void step12_reconnect(struct qemu *q)
{
	int64_t deadline = test_now_ms() + 3000;
	struct vus_dev_stats st;

	close(q->fd);
	q->fd = -1;
	/* The server refuses (accepts and closes) while it still tears the
	 * old session down; a new QEMU would simply fail, we retry. */
	for (;;) {
		test_server_stats(&q->srv, &st);
		if (st.clients == 1 && !vus_dev_client_attached(q->srv.dev))
			break;
		assert_true(test_now_ms() < deadline);
		test_sleep_ms(2);
	}
	q->fd = raw_connect(q->srv.path);
	assert_true(q->fd >= 0);
	q_version(q);
	/* Device state survives the lost connection (spec "Socket
	 * Disconnection Behavior"). */
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_SCRATCH), q->scratch);
	ASSERT_EQ(bar0_read(q, TESTDEV_REG_RESETS), 1);
	test_server_stats(&q->srv, &st);
	ASSERT_EQ(st.clients, 2);
	ASSERT_EQ(st.errors, 0);
	q_quiet(q);
}

/* ---- the sequence ----------------------------------------------------- */

static void setup_guest_ram(struct qemu *q)
{
	q->ram_fd = memfd_new(RAM_SIZE);
	q->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, q->ram_fd, 0);
	assert_true(q->ram != MAP_FAILED);
	q->anon = calloc(1, GUEST_ANON_SZ);
	assert_non_null(q->anon);
}

static void teardown_qemu(struct qemu *q)
{
	unsigned i;

	if (q->fd >= 0)
		close(q->fd);
	test_server_stop(&q->srv);
	for (i = 0; i < q->nr_areas; i++)
		munmap(q->area_map[i], q->area[i].size);
	if (q->intx_efd >= 0)
		close(q->intx_efd);
	if (q->resample_efd >= 0)
		close(q->resample_efd);
	if (q->ram && q->ram != MAP_FAILED)
		munmap(q->ram, RAM_SIZE);
	if (q->ram_fd >= 0)
		close(q->ram_fd);
	free(q->anon);
}

/*
 * One cmocka test per step, so that a failing step does not hide the
 * others. Each step's fixture starts a fresh testdev and a fresh
 * connection and runs, in QEMU's order, the earlier steps whose state the
 * step needs (needs: a bit per step); a failure there is reported as
 * the test's, labelled "precondition <step>". Step 12 needs every
 * earlier step: it is the whole sequence on one connection, as QEMU runs
 * it, before it reconnects.
 */
struct step {
	const char *name;
	void (*run)(struct qemu *q);
	unsigned needs; /* bit n-1: step n */
};

#define S(n) (1u << ((n) - 1))

static const struct step steps[] = {
	{ "1 VERSION", step1_version, 0 },
	{ "2 DMA_MAP", step2_dma_map, S(1) },
	{ "3 GET_INFO", step3_get_info, S(1) },
	{ "4 REGION_INFO", step4_region_info, S(1) },
	{ "5 IRQ_INFO(ERR)", step5_err_info, S(1) },
	/* BAR sizes from GET_REGION_INFO */
	{ "6 config space", step6_config, S(1) | S(4) },
	/* the ERR vector count */
	{ "7 INTx enable", step7_interrupts, S(1) | S(5) },
	/* BAR sizes, INTx on (pre_reset turns it off) */
	{ "8 reset", step8_reset, S(1) | S(4) | S(5) | S(7) },
	/* write_multiple, BAR2's mmap, INTx on */
	{ "9 steady state", step9_steady, S(1) | S(4) | S(5) | S(7) },
	/* guest RAM mapped */
	{ "10 DMA", step10_dma, S(1) | S(2) },
	/* the boot maps and the hot-plugged one */
	{ "11 DMA_UNMAP", step11_dma_unmap, S(1) | S(2) | S(10) },
	/* everything: the device state a reconnecting QEMU finds */
	{ "12 reconnect", step12_reconnect, S(12) - 1 },
};

struct fixture {
	struct qemu q;
	const struct step *step;
	int fds0;
	bool done; /* run_step returned: else it failed in q.step */
	char label[64]; /* q.step of a precondition */
};

/* A fresh testdev, guest RAM and QEMU's connection. */
static int fresh_testdev(void **state)
{
	const struct step *step = *state;
	struct fixture *f = calloc(1, sizeof(*f));
	struct qemu *q;

	assert_non_null(f);
	f->step = step;
	f->fds0 = fdcount();
	ASSERT_NONNEG(f->fds0);
	*state = f;
	q = &f->q;
	q->intx_efd = q->resample_efd = q->ram_fd = q->fd = -1;
	setup_guest_ram(q);
	ASSERT_OK(test_server_start(&q->srv, NULL));
	q->fd = raw_connect(q->srv.path);
	ASSERT_NONNEG(q->fd);
	return 0;
}

/* The earlier steps the step needs, in QEMU's order, then the step. */
static void run_step(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (!(f->step->needs & (1u << i)))
			continue;
		snprintf(f->label, sizeof(f->label), "precondition %s", steps[i].name);
		f->q.step = f->label;
		steps[i].run(&f->q);
	}
	f->q.step = f->step->name;
	f->step->run(&f->q);
	f->done = true;
}

static int finish(void **state)
{
	struct fixture *f = *state;
	int fds0 = f->fds0;

	if (!f->done && f->q.step)
		print_error("the failure above is in step %s\n", f->q.step);
	teardown_qemu(&f->q);
	free(f);
	/* Every fd the server took from us (memfd, eventfds) is closed. */
	assert_true(fdcount_wait(fds0, 1000));
	return 0;
}

#define STEP(i)                                                                        \
	{ .name = steps[(i) - 1].name, .test_func = run_step, .setup_func = fresh_testdev,   \
	  .teardown_func = finish, .initial_state = (void *)&steps[(i) - 1] }

int main(void)
{
	const struct CMUnitTest tests[] = {
		STEP(1), STEP(2), STEP(3), STEP(4), STEP(5), STEP(6),
		STEP(7), STEP(8), STEP(9), STEP(10), STEP(11), STEP(12),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
