/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for isolation between tenants: two testdevs served by
 * one loop in one thread, as vusd serves its devices (docs/security.md).
 * The input drives device A's client; device B is a bystander with a
 * client of its own that holds a DMA map of its memfd, an INTx eventfd
 * and a twinless session for the whole run.
 *
 * Input: [setup: u8][fuzz_stream.h records for A's client]
 *   setup bits 0-4  0: no fault; 1..18: A answers the next command with
 *                   that number with an error instead of running it
 *                   (vus_dev_fault_add(), include/vus/fault.h); 31: A
 *                   drops its client after k + 1 commands
 *                   (vus_dev_fault_disconnect()); other values: none
 *   setup bits 5-7  k: the errno of the rule (fault_errnos[k])
 *
 * Each input is one session of A's client, as in fuzz_dispatch (in
 * memory unless FUZZ_SOCKETS=1; A reset with vus_dev_reset() when it
 * ends); B's client always talks over a real socket. Then B's client
 * plays a fixed conversation -- GET_INFO, GET_REGION_INFO, GET_IRQ_INFO,
 * REGION_READ of config space, registers, BAR1 and BAR2, and a testdev
 * DMA from BAR1 into B's mapped memfd -- whose answers are compared with
 * the first run's, byte for byte; and during A's input, after every
 * B_PING_EVERY records of A's, B's client reads B's ID register (b_ping()),
 * whatever state A's session is in. abort() when:
 *  - B's answers differ, or B does not answer within a bounded number of
 *    loop turns, during A's input or after it;
 *  - B's state differs from what it was after the previous input's
 *    conversation: statistics (every counter: B's traffic, its pings
 *    included, is B's only),
 *    IRQ state, migration state, DMA layout, client attached, config
 *    space and BAR1 as a local tool reads them;
 *  - B's memory differs from what B's own DMA put there, B's eventfd was
 *    signalled, or B's client socket has anything unasked for to read;
 *  - the process's fd table after A's session differs from before it (A's
 *    fds all released, B's all kept), or A's session outlives its client,
 *    or A does not reset.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vus/codec.h>
#include <vus/fault.h>

#include "fuzz_client.h"
#include "fuzz_memq.h"
#include "fuzz_stream.h"

/* A's server-side socket buffer: small, so replies often do not fit. */
#define SNDBUF 16384
/* B's guest memory: one fd-backed DMA map. */
#define B_MEM_SIZE 0x10000u
#define B_IOVA     0x40000000u
/* Where B's DMA lands in it, from BAR1 offset 0. */
#define B_DMA_OFF  0x1000u
#define B_DMA_LEN  0x1000u
/* The state snapshot reads this much of BAR1: the part B DMAs from and
 * the next page. */
#define B_BAR1_SNAP 0x2000u
/* B pings after every this many of A's records (b_ping()). */
#define B_PING_EVERY 8
/* Loop turns B may take to answer one message. */
#define B_TURNS 64
/* Largest reply of B's conversation (config space read), with slack. */
#define B_REPLY_MAX 8192u
#define B_LOG_MAX 65536u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int fault_errnos[8] = { EIO, EINVAL, ENOSPC, EAGAIN, ENOMEM, EFAULT, E2BIG,
				     EBUSY };

static struct fuzz_loop loop;
static struct vus_dev *dev_a, *dev_b;
/* A's bytes go through memory (fuzz_memq.h) unless FUZZ_SOCKETS=1; B's
 * always through the kernel. */
static bool mem;

/* B's client. */
static int b_sock = -1, b_efd = -1;
static uint8_t *b_mem;      /* its memfd, mapped */
static uint8_t b_image[B_MEM_SIZE]; /* what b_mem must hold */
static uint16_t b_id;

/* B's answers: the golden run and the current one. */
struct b_log {
	uint8_t bytes[B_LOG_MAX];
	size_t len;
};
static struct b_log golden, current;

/* What a local tool sees of B. */
struct b_state {
	struct vus_dev_stats stats;
	struct vus_dev_irq_desc irqs[VUS_PCI_NUM_IRQS];
	enum vus_mig_state mig;
	enum vus_dma_layout layout;
	bool attached;
	uint8_t config[256];
	uint8_t bar1[B_BAR1_SNAP];
};
static struct b_state b_after_conv, b_now;

static void quiet(void *opaque, enum vus_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static __attribute__((noreturn)) void fail(const char *what)
{
	fprintf(stderr, "fuzz_tenants: %s\n", what);
	abort();
}

/* ---- B's client ----------------------------------------------------- */

/* B's payloads are proto.h's structs as they lie in memory: the wire's
 * little-endian layout on the little-endian hosts this harness runs on
 * (a big-endian host would fail B's setup, not pass silently). */

static void b_send(uint16_t cmd, const void *payload, size_t len, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} cbuf;
	struct vus_hdr h = { .id = b_id++, .cmd = cmd, .size = (uint32_t)(VUS_HDR_SIZE + len) };
	uint8_t hdr[VUS_HDR_SIZE];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)payload, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	vus_hdr_encode(hdr, &h);
	fuzz_attach_fds(&msg, cbuf.buf, sizeof(cbuf), fds, nfds);
	/* B's messages are small and B reads every reply: the socket
	 * always has room. */
	if (sendmsg(b_sock, &msg, MSG_NOSIGNAL) != (ssize_t)(VUS_HDR_SIZE + len))
		fail("B's client: send failed");
}

/* Read exactly n bytes of B's reply, pumping the loop while it is not
 * there; fds that come with it are closed (region fds). */
static void b_read(uint8_t *p, size_t n, unsigned *turns)
{
	while (n > 0) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(8 * sizeof(int))];
		} ctl;
		struct iovec iov = { p, n };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				      .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *cm;
		ssize_t got = recvmsg(b_sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (got == 0 || (got < 0 && errno != EAGAIN))
			fail("B's client: the server hung up on B");
		if (got < 0) {
			if (++*turns > B_TURNS)
				fail("B's client: no answer from B (starved by A?)");
			fuzz_pump(&loop);
			continue;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t i, k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (i = 0; cm->cmsg_type == SCM_RIGHTS && i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
				close(f);
			}
		}
		p += got;
		n -= (size_t)got;
	}
}

/* One command of B's and its reply, appended to log (NULL: checked only
 * for success, for the setup). */
static void b_call(struct b_log *log, uint16_t cmd, const void *payload, size_t len,
		   const int *fds, unsigned nfds)
{
	uint8_t hdr[VUS_HDR_SIZE], body[B_REPLY_MAX];
	struct vus_hdr h;
	unsigned turns = 0;

	b_send(cmd, payload, len, fds, nfds);
	vus_dev_process(dev_b);
	fuzz_pump(&loop);
	b_read(hdr, sizeof(hdr), &turns);
	vus_hdr_decode(hdr, &h);
	if (h.size < VUS_HDR_SIZE ||
	    h.size - VUS_HDR_SIZE > sizeof(body))
		fail("B's client: malformed reply");
	b_read(body, h.size - VUS_HDR_SIZE, &turns);
	if (h.cmd != cmd || h.id != (uint16_t)(b_id - 1))
		fail("B's client: reply to another command");
	if (!log) {
		if (h.flags & VUS_F_ERROR)
			fail("B's setup: command refused");
		return;
	}
	if (log->len + sizeof(hdr) + h.size > sizeof(log->bytes))
		fail("B's conversation: log too small");
	memcpy(log->bytes + log->len, hdr, sizeof(hdr));
	memcpy(log->bytes + log->len + sizeof(hdr), body, h.size - VUS_HDR_SIZE);
	log->len += h.size;
}

static void b_region_read(struct b_log *log, uint32_t region, uint64_t off, uint32_t count)
{
	struct vus_region_access a = { .offset = off, .region = region, .count = count };

	b_call(log, VUS_CMD_REGION_READ, &a, sizeof(a), NULL, 0);
}

static void b_region_write(struct b_log *log, uint32_t region, uint64_t off, const void *p,
			   uint32_t count)
{
	uint8_t buf[sizeof(struct vus_region_access) + 256];
	struct vus_region_access a = { .offset = off, .region = region, .count = count };

	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), p, count);
	b_call(log, VUS_CMD_REGION_WRITE, buf, sizeof(a) + count, NULL, 0);
}

static void b_reg_write(struct b_log *log, uint32_t reg, uint32_t v)
{
	b_region_write(log, 0, reg, &v, sizeof(v));
}

/* B's fixed conversation; idempotent but for DMA_COUNT, which it does
 * not read. */
static void b_conversation(struct b_log *log)
{
	static const uint32_t regions[] = { 0, 1, 2, VUS_PCI_CONFIG_REGION };
	static const uint32_t regs[] = {
		TESTDEV_REG_ID, TESTDEV_REG_SCRATCH, TESTDEV_REG_INVERT, TESTDEV_REG_IRQ_STATUS,
		TESTDEV_REG_DMA_LEN, TESTDEV_REG_DMA_STATUS, TESTDEV_REG_HOLE_HITS,
		TESTDEV_REG_RESETS,
	};
	struct vus_device_info di = { .argsz = sizeof(di) };
	unsigned i;

	log->len = 0;
	b_id = 0x100;
	b_call(log, VUS_CMD_DEVICE_GET_INFO, &di, sizeof(di), NULL, 0);
	for (i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
		struct vus_region_info ri = { .argsz = sizeof(ri), .index = regions[i] };

		b_call(log, VUS_CMD_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), NULL, 0);
	}
	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		struct vus_irq_info ii = { .argsz = sizeof(ii), .index = i };

		b_call(log, VUS_CMD_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), NULL, 0);
	}
	b_region_read(log, VUS_PCI_CONFIG_REGION, 0, 256);
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		b_region_read(log, 0, regs[i], 4);
	b_region_read(log, 1, 0, 4096);
	b_region_read(log, 2, 0, 4096);

	/* DMA from BAR1 into B's memory: it lands, and nowhere else. */
	memset(b_mem + B_DMA_OFF, 0, B_DMA_LEN);
	b_reg_write(log, TESTDEV_REG_DMA_SRC_LO, 0);
	b_reg_write(log, TESTDEV_REG_DMA_SRC_HI, 0);
	b_reg_write(log, TESTDEV_REG_DMA_DST_LO, B_IOVA + B_DMA_OFF);
	b_reg_write(log, TESTDEV_REG_DMA_DST_HI, 0);
	b_reg_write(log, TESTDEV_REG_DMA_LEN, B_DMA_LEN);
	b_reg_write(log, TESTDEV_REG_DMA_CMD, TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST);
	b_region_read(log, 0, TESTDEV_REG_DMA_STATUS, 4);
	if (memcmp(b_mem, b_image, B_MEM_SIZE))
		fail("B's memory is not what B's own DMA made it");
}

static void b_setup(void)
{
	struct vus_version_msg v = { .major = 0, .minor = 2 };
	uint8_t payload[512], bar1[256];
	struct vus_dma_map map = {
		.argsz = sizeof(map),
		.flags = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
		.addr = B_IOVA,
		.size = B_MEM_SIZE,
	};
	struct vus_irq_set irq = { sizeof(irq), VUS_IRQ_SET_DATA_EVENTFD |
				   VUS_IRQ_SET_ACTION_TRIGGER, VUS_PCI_INTX_IRQ, 0, 1 };
	ssize_t n;
	int sv[2], memfd;
	unsigned i, off;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    vus_dev_attach_fd(dev_b, sv[0]) < 0)
		fail("B: attach");
	b_sock = sv[1];
	memfd = memfd_create("fuzz-tenant-b", MFD_CLOEXEC);
	b_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (memfd < 0 || b_efd < 0 || ftruncate(memfd, B_MEM_SIZE) < 0)
		fail("B: memory");
	b_mem = mmap(NULL, B_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (b_mem == MAP_FAILED)
		fail("B: mmap");
	for (i = 0; i < B_MEM_SIZE; i++)
		b_mem[i] = (uint8_t)(i * 7 + 1);

	vus_caps_defaults(&v.caps);
	n = vus_version_encode(payload, sizeof(payload), &v);
	if (n < 0)
		fail("B: version");
	b_id = 0;
	b_call(NULL, VUS_CMD_VERSION, payload, (size_t)n, NULL, 0);
	b_call(NULL, VUS_CMD_DMA_MAP, &map, sizeof(map), &memfd, 1);
	close(memfd); /* the server holds its own */
	b_call(NULL, VUS_CMD_DEVICE_SET_IRQS, &irq, sizeof(irq), &b_efd, 1);
	/* Memory decoding and bus mastering on (testdev DMA needs the
	 * latter). */
	b_region_write(NULL, VUS_PCI_CONFIG_REGION, 0x04, "\x06\x00", 2);
	for (i = 0; i < sizeof(bar1); i++)
		bar1[i] = (uint8_t)(0xa5 ^ i);
	for (off = 0; off < B_DMA_LEN; off += sizeof(bar1))
		b_region_write(NULL, 1, off, bar1, sizeof(bar1));

	memcpy(b_image, b_mem, B_MEM_SIZE);
	for (off = 0; off < B_DMA_LEN; off += sizeof(bar1))
		memcpy(b_image + B_DMA_OFF + off, bar1, sizeof(bar1));
}

/*
 * B asks while A's session is in whatever state its input left it (mid
 * migration, output queue full, a flood of maps): a REGION_READ of the
 * ID register, answered within B_TURNS loop turns with the right value.
 * Its traffic is added to what B's statistics may differ by.
 */
static struct b_log ping_log;
static struct vus_dev_stats ping_delta;

static void stats_add_delta(struct vus_dev_stats *acc, const struct vus_dev_stats *before,
			    const struct vus_dev_stats *after)
{
	acc->errors += after->errors - before->errors;
	acc->bytes_in += after->bytes_in - before->bytes_in;
	acc->bytes_out += after->bytes_out - before->bytes_out;
	acc->irqs += after->irqs - before->irqs;
	acc->dma_maps += after->dma_maps - before->dma_maps;
	acc->dma_unmaps += after->dma_unmaps - before->dma_unmaps;
	acc->dma_msgs += after->dma_msgs - before->dma_msgs;
	acc->clients += after->clients - before->clients;
}

static void b_ping(void *opaque, unsigned record)
{
	struct vus_dev_stats before, after;
	struct vus_hdr h;
	uint32_t id;

	(void)opaque;
	if (record % B_PING_EVERY != B_PING_EVERY - 1)
		return;
	vus_dev_get_stats(dev_b, &before);
	ping_log.len = 0;
	b_region_read(&ping_log, 0, TESTDEV_REG_ID, 4);
	vus_hdr_decode(ping_log.bytes, &h);
	memcpy(&id, ping_log.bytes + VUS_HDR_SIZE + sizeof(struct vus_region_access), sizeof(id));
	if ((h.flags & VUS_F_ERROR) || h.size != VUS_HDR_SIZE + sizeof(struct vus_region_access) + 4 ||
	    id != TESTDEV_ID)
		fail("B's ping during A's input: wrong answer");
	vus_dev_get_stats(dev_b, &after);
	stats_add_delta(&ping_delta, &before, &after);
}

/* ---- B's state, as a local tool sees it ------------------------------ */

static void b_snapshot(struct b_state *s)
{
	unsigned i, off;

	memset(s, 0, sizeof(*s));
	vus_dev_get_stats(dev_b, &s->stats);
	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		if (vus_dev_irq_desc(dev_b, i, &s->irqs[i]) < 0)
			fail("B: irq_desc");
	}
	s->mig = vus_dev_mig_state(dev_b);
	s->layout = vus_dev_dma_layout(dev_b);
	s->attached = vus_dev_client_attached(dev_b);
	if (vus_dev_access_region(dev_b, VUS_PCI_CONFIG_REGION, 0, s->config,
				  sizeof(s->config), false) < 0)
		fail("B: config read");
	for (off = 0; off < B_BAR1_SNAP; off += 0x1000) {
		if (vus_dev_access_region(dev_b, 1, off, s->bar1 + off, 0x1000, false) < 0)
			fail("B: BAR1 read");
	}
}

static void b_check_quiet(void)
{
	uint64_t v;
	char c;

	if (read(b_efd, &v, sizeof(v)) >= 0)
		fail("B's interrupt fired during A's input");
	if (recv(b_sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN)
		fail("B's client got something it did not ask for");
	if (memcmp(b_mem, b_image, B_MEM_SIZE))
		fail("B's memory changed during A's input");
}

/* Name the first reply that differs from the golden run's, then fail. */
static __attribute__((noreturn)) void answers_differ(void)
{
	size_t off = 0;

	while (off + VUS_HDR_SIZE <= golden.len && off + VUS_HDR_SIZE <= current.len) {
		struct vus_hdr g, c;

		vus_hdr_decode(golden.bytes + off, &g);
		vus_hdr_decode(current.bytes + off, &c);
		if (g.size != c.size || g.size < VUS_HDR_SIZE || off + g.size > golden.len ||
		    memcmp(golden.bytes + off, current.bytes + off, g.size)) {
			fprintf(stderr, "fuzz_tenants: B's reply %#x (command %u) differs: "
				"%u bytes, flags %#x, error %u; was %u bytes, flags %#x, "
				"error %u\n", c.id, c.cmd, c.size, c.flags, c.error, g.size,
				g.flags, g.error);
			break;
		}
		off += g.size;
	}
	fail("B's answers changed");
}

/* ---- libFuzzer ------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct testdev *ta, *tb;

	(void)argc;
	(void)argv;
	fuzz_fd_init();
	mem = fuzz_memq_setup();
	/* Never freed: the devices live as long as the process. */
	dev_a = fuzz_dev_new(&ta);
	dev_b = fuzz_dev_new(&tb);
	if (!dev_a || !dev_b)
		fail("devices");
	/* TRACE for A: its messages also go through the trace formatters. */
	vus_dev_set_log(dev_a, quiet, NULL, VUS_LOG_TRACE);
	vus_dev_set_log(dev_b, quiet, NULL, VUS_LOG_ERR);
	loop.devs[0] = dev_a;
	loop.devs[1] = dev_b;
	loop.n = 2;
	b_setup();
	/* The first run leaves the DMA registers as every later run finds
	 * them; the second is the reference. */
	b_conversation(&golden);
	b_conversation(&golden);
	b_snapshot(&b_after_conv);
	/* The fd table every input must leave as it found it. */
	fuzz_fd_check("fuzz_tenants");
	return 0;
}

static void a_faults(uint8_t setup)
{
	unsigned cmd = setup & 0x1f, k = setup >> 5;

	if (cmd >= 1 && cmd <= VUS_CMD_MAX) {
		struct vus_fault_rule r = { .cmd = (uint16_t)cmd, .error = fault_errnos[k],
					    .count = 1 };

		if (vus_dev_fault_add(dev_a, &r) < 0)
			fail("A: fault_add");
	} else if (cmd == 31 && vus_dev_fault_disconnect(dev_a, k + 1) < 0) {
		fail("A: fault_disconnect");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_client c = { .loop = &loop, .dev = dev_a, .sndbuf = SNDBUF, .mem = mem,
				 .after_record = b_ping };
	int err;

	memset(&ping_delta, 0, sizeof(ping_delta));
	if (fuzz_client_open(&c) < 0)
		fail("A: attach");
	if (size > 0) {
		a_faults(data[0]);
		fuzz_client_feed(&c, data + 1, size - 1);
	}
	if (!fuzz_client_close(&c))
		fail("A's session outlived its client");
	vus_dev_fault_clear(dev_a);
	err = vus_dev_reset(dev_a);
	if (err)
		fail("A: reset failed");
	fuzz_fd_check("fuzz_tenants");

	b_check_quiet();
	b_snapshot(&b_now);
	/* B's pings are the only traffic B's counters may show. */
	stats_add_delta(&b_after_conv.stats, &(struct vus_dev_stats){ 0 }, &ping_delta);
	if (memcmp(&b_now, &b_after_conv, sizeof(b_now)))
		fail("B's state changed during A's input");
	b_conversation(&current);
	if (current.len != golden.len || memcmp(current.bytes, golden.bytes, golden.len))
		answers_differ();
	b_snapshot(&b_after_conv);
	return 0;
}
