/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Seed recorder for the fuzzers: real conversations -- the client library
 * driving a testdev the way the end-to-end tests do -- pass through a
 * relay that records every message, and become seeds:
 *
 *   OUTDIR/dispatch/<scenario>       the client's side of the conversation,
 *                                    as fuzz_dispatch records (fuzz_stream.h)
 *   OUTDIR/codec/<scenario>-<n>      each distinct message of either side up
 *                                    to 8 KiB, as fuzz_codec input
 *   OUTDIR/tenants/<scenario>[-<fault>]  the dispatch stream behind
 *                                    fuzz_tenants' setup byte: no fault, and
 *                                    for some scenarios a fault on device A
 *   OUTDIR/{dispatch,tenants}/dma-shrink  the dma scenario with its memfds
 *                                    shrunk under the server's maps
 *
 * The relay uses the library's own transport (vus_conn), so fds travel
 * with their message's header both ways. Twin-socket traffic bypasses the
 * relay (the socket is the client's and the server's); it is not recorded.
 *
 * Usage: vus-fuzz-record OUTDIR     (the fuzz-seeds target runs it on
 *                                    fuzz/corpus)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>

#include "fuzz_stream.h"
#include "transport.h"

#define CODEC_SEED_MAX 8192u
#define MAX_SEEDS      512u

struct seed {
	uint64_t hash;
	size_t len;
	uint8_t *bytes;
	const char *scenario;
};

/* Codec seeds of every scenario (a message seen twice is kept once). */
static struct seed seeds[MAX_SEEDS];
static unsigned nseeds;

struct relay {
	struct vus_conn cli, srv;  /* toward the client, toward the server */
	uint8_t *stream;           /* fuzz_dispatch records of the client's side */
	size_t len, cap;
	const char *scenario;
};

static __attribute__((noreturn)) void die(const char *what, int err)
{
	fprintf(stderr, "vus-fuzz-record: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void append(struct relay *r, const void *p, size_t n)
{
	if (r->len + n > r->cap) {
		size_t cap = (r->len + n) * 2;
		uint8_t *nb = realloc(r->stream, cap);

		if (!nb)
			die("memory", ENOMEM);
		r->stream = nb;
		r->cap = cap;
	}
	memcpy(r->stream + r->len, p, n);
	r->len += n;
}

/* FNV-1a: tells identical messages apart cheaply. */
static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static void record(struct relay *r, const struct vus_rx_msg *m, bool from_client)
{
	uint8_t hdr[VUS_HDR_SIZE];
	size_t total = VUS_HDR_SIZE + m->v.len, off = 0;
	uint8_t *msg = malloc(1 + total);
	uint64_t h;
	unsigned i;

	if (!msg)
		die("memory", ENOMEM);
	vus_hdr_encode(hdr, &m->v.hdr);
	msg[0] = (uint8_t)m->v.nfds;
	memcpy(msg + 1, hdr, sizeof(hdr));
	if (m->v.len)
		memcpy(msg + 1 + VUS_HDR_SIZE, m->v.payload, m->v.len);

	if (from_client) {
		/* fds on the record with the header; DMA_MAP takes memory. */
		while (off < total) {
			size_t n = total - off < FUZZ_REC_MAX ? total - off : FUZZ_REC_MAX;
			uint8_t rec[FUZZ_REC_HDR] = { 0, (uint8_t)n, (uint8_t)(n >> 8) };

			if (off == 0) {
				rec[0] = (uint8_t)(m->v.nfds < 3 ? m->v.nfds : 3);
				if (m->v.hdr.cmd == VUS_CMD_DMA_MAP)
					rec[0] |= FUZZ_CTL_MEMFD;
			}
			append(r, rec, sizeof(rec));
			append(r, msg + 1 + off, n);
			off += n;
		}
	}

	/* Distinct shapes only: the id alone does not make a new seed. */
	msg[1] = msg[2] = 0;
	h = fnv(msg, 1 + total);
	for (i = 0; i < nseeds && seeds[i].hash != h; i++)
		;
	if (total <= CODEC_SEED_MAX && i == nseeds && nseeds < MAX_SEEDS) {
		seeds[nseeds++] = (struct seed){ .hash = h, .len = 1 + total, .bytes = msg,
						 .scenario = r->scenario };
		return;
	}
	free(msg);
}

/* Move every whole message waiting on from to to; -errno when from closed. */
static int relay_some(struct relay *r, struct vus_conn *from, struct vus_conn *to,
		      bool from_client)
{
	for (;;) {
		struct vus_rx_msg m;
		struct vus_hdr h;
		struct iovec iov;
		int rc = vus_conn_recv(from, &m);

		if (rc <= 0)
			return rc;
		record(r, &m, from_client);
		h = m.v.hdr;
		iov = (struct iovec){ (void *)m.v.payload, m.v.len };
		rc = vus_conn_send(to, &h, &iov, m.v.len ? 1 : 0, m.fds, m.v.nfds);
		vus_rx_msg_close_fds(&m);
		if (rc < 0)
			return rc;
	}
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;

	for (;;) {
		struct pollfd p[2] = { { r->cli.fd, POLLIN, 0 }, { r->srv.fd, POLLIN, 0 } };
		int rc;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		rc = relay_some(r, &r->cli, &r->srv, true);
		if (rc == 0)
			rc = relay_some(r, &r->srv, &r->cli, false);
		if (rc < 0)
			return NULL; /* one side left: the conversation is over */
	}
}

/* ---- the server ---------------------------------------------------------- */

struct server {
	struct testdev *td;
	struct vus_dev *dev;
	pthread_t thread;
};

static void *server_main(void *arg)
{
	struct server *s = arg;

	vus_dev_run(s->dev);
	return NULL;
}

/* ---- scenarios ----------------------------------------------------------- */

#define IOVA_FD   0x100000u
#define IOVA_NOFD 0x200000u
#define MAP_SIZE  0x10000u

static uint32_t reg_read(struct vus_client *c, uint32_t reg)
{
	uint32_t v = 0;

	vus_client_region_read(c, 0, reg, &v, sizeof(v));
	return v;
}

static void reg_write(struct vus_client *c, uint32_t reg, uint32_t v)
{
	vus_client_region_write(c, 0, reg, &v, sizeof(v));
}

/* One testdev DMA, serving the server's DMA_READ/WRITE while it runs. */
static void testdev_dma(struct vus_client *c, uint64_t src, uint64_t dst, uint32_t len,
			bool to_host)
{
	int i;

	reg_write(c, TESTDEV_REG_DMA_SRC_LO, (uint32_t)src);
	reg_write(c, TESTDEV_REG_DMA_SRC_HI, (uint32_t)(src >> 32));
	reg_write(c, TESTDEV_REG_DMA_DST_LO, (uint32_t)dst);
	reg_write(c, TESTDEV_REG_DMA_DST_HI, (uint32_t)(dst >> 32));
	reg_write(c, TESTDEV_REG_DMA_LEN, len);
	reg_write(c, TESTDEV_REG_DMA_CMD,
		  TESTDEV_DMA_START | TESTDEV_DMA_IRQ | (to_host ? TESTDEV_DMA_TO_HOST : 0));
	for (i = 0; i < 500 && (reg_read(c, TESTDEV_REG_DMA_STATUS) & TESTDEV_DMA_BUSY); i++)
		vus_client_process(c, 10);
}

static void sc_spec(struct vus_client *c)
{
	struct vus_device_info di;
	struct vus_irq_info ii;
	uint8_t buf[256];
	uint32_t i;

	vus_client_device_info(c, &di);
	for (i = 0; i < 10; i++) {
		struct vus_client_region r;

		if (vus_client_region_info(c, i, &r) == 0 && r.fd >= 0)
			close(r.fd);
	}
	for (i = 0; i < 6; i++)
		vus_client_irq_info(c, i, &ii);
	reg_read(c, TESTDEV_REG_ID);
	reg_write(c, TESTDEV_REG_SCRATCH, 0x12345678);
	reg_read(c, TESTDEV_REG_SCRATCH);
	reg_write(c, TESTDEV_REG_INVERT, 0xff00ff00);
	reg_read(c, TESTDEV_REG_INVERT);
	/* Config space: header reads, BAR0 sizing as a guest does it. */
	for (i = 0; i < 64; i += 4)
		vus_client_region_read(c, VUS_PCI_CONFIG_REGION, i, buf, 4);
	memset(buf, 0xff, 4);
	vus_client_region_write(c, VUS_PCI_CONFIG_REGION, 0x10, buf, 4);
	vus_client_region_read(c, VUS_PCI_CONFIG_REGION, 0x10, buf, 4);
	memset(buf, 0, 4);
	vus_client_region_write(c, VUS_PCI_CONFIG_REGION, 0x10, buf, 4);
	vus_client_region_write(c, VUS_PCI_CONFIG_REGION, 0x04, "\x06\x00", 2);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	vus_client_region_write(c, 1, 0x100, buf, sizeof(buf));
	vus_client_region_read(c, 1, 0x100, buf, sizeof(buf));
	vus_client_region_read(c, 2, TESTDEV_BAR2_HOLE_OFF, buf, 8);
	vus_client_region_write(c, 2, TESTDEV_BAR2_HOLE_OFF, buf, 8);
	reg_read(c, TESTDEV_REG_HOLE_HITS);
	vus_client_region_write_posted(c, 0, TESTDEV_REG_SCRATCH, buf, 4);
	vus_client_reset(c);
	reg_read(c, TESTDEV_REG_RESETS);
}

static void sc_dma(struct vus_client *c)
{
	void *fd_mem = NULL, *mem = NULL;

	vus_client_dma_map(c, IOVA_FD, MAP_SIZE, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
			   true, &fd_mem);
	vus_client_dma_map(c, IOVA_NOFD, MAP_SIZE, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
			   false, &mem);
	if (mem)
		memset(mem, 0x5a, MAP_SIZE);
	testdev_dma(c, IOVA_FD, 0, 4096, false);
	testdev_dma(c, 0, IOVA_FD + 4096, 4096, true);
	testdev_dma(c, IOVA_NOFD, 0x1000, 3000, false);
	testdev_dma(c, 0x1000, IOVA_NOFD + 0x2000, 3000, true);
	reg_read(c, TESTDEV_REG_DMA_COUNT);
	reg_write(c, TESTDEV_REG_IRQ_ACK, TESTDEV_IRQ_DMA);
	vus_client_dma_unmap(c, IOVA_FD, MAP_SIZE, 0);
	vus_client_dma_unmap(c, IOVA_NOFD, MAP_SIZE, 0);
	vus_client_dma_unmap(c, 0, 0, VUS_DMA_UNMAP_FLAG_ALL);
}

static void sc_irq(struct vus_client *c)
{
	int efd = eventfd(0, EFD_CLOEXEC), rfd = eventfd(0, EFD_CLOEXEC);
	uint8_t one = 1;

	vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
			    VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1, &efd, NULL);
	vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
			    VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, &rfd, NULL);
	reg_write(c, TESTDEV_REG_IRQ_RAISE, 1);
	vus_client_set_irqs(c, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK,
			    0, 1, NULL, NULL);
	vus_client_set_irqs(c, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_BOOL | VUS_IRQ_SET_ACTION_MASK,
			    0, 1, NULL, &one);
	vus_client_set_irqs(c, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER,
			    0, 1, NULL, NULL);
	reg_write(c, TESTDEV_REG_IRQ_ACK, 1);
	vus_client_set_irqs(c, VUS_PCI_MSI_IRQ, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
			    0, 1, &efd, NULL);
	vus_client_set_irqs(c, VUS_PCI_ERR_IRQ, VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
			    0, 1, &efd, NULL);
	vus_client_set_irqs(c, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER,
			    0, 0, NULL, NULL);
	close(efd);
	close(rfd);
}

static void sc_qemu(struct vus_client *c)
{
	struct vus_write_multi_entry e[3];
	void *mem = NULL;
	unsigned i;

	memset(e, 0, sizeof(e));
	for (i = 0; i < 3; i++) {
		e[i].region = 0;
		e[i].offset = TESTDEV_REG_SCRATCH;
		e[i].count = 4;
		e[i].data[0] = (uint8_t)i;
	}
	vus_client_region_write_multi(c, e, 3);
	reg_read(c, TESTDEV_REG_SCRATCH);
	vus_client_dma_map(c, IOVA_NOFD, MAP_SIZE, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
			   false, &mem);
	testdev_dma(c, IOVA_NOFD, 0, 2048, false);
	testdev_dma(c, 0, IOVA_NOFD + 2048, 2048, true);
	vus_client_dma_unmap(c, 0, 0, VUS_DMA_UNMAP_FLAG_ALL);
}

static void sc_twin(struct vus_client *c)
{
	void *mem = NULL;

	vus_client_dma_map(c, IOVA_NOFD, MAP_SIZE, VUS_DMA_MAP_FLAG_READ, false, &mem);
	testdev_dma(c, IOVA_NOFD, 0, 1024, false);
	reg_read(c, TESTDEV_REG_DMA_STATUS);
}

static void sc_migration(struct vus_client *c)
{
	uint8_t buf[4096], out[64];
	struct {
		struct vus_feature_dma_logging_control ctl;
		struct vus_dma_logging_range range;
	} start = { { 4096, 1, 0 }, { IOVA_FD, MAP_SIZE } };
	struct vus_feature_dma_logging_report rep = { IOVA_FD, MAP_SIZE, 4096 };
	enum vus_mig_state st;
	void *fd_mem = NULL;
	size_t out_len;
	uint32_t got = 0;
	int i;

	vus_client_dma_map(c, IOVA_FD, MAP_SIZE, VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
			   true, &fd_mem);
	vus_client_device_feature(c, VUS_FEATURE_MIGRATION | VUS_DEVICE_FEATURE_PROBE, NULL, 0,
				  NULL, 0, &out_len);
	vus_client_device_feature(c, VUS_FEATURE_MIGRATION | VUS_DEVICE_FEATURE_GET, NULL, 0, out,
				  sizeof(out), &out_len);
	vus_client_device_feature(c, VUS_FEATURE_DMA_LOGGING_START | VUS_DEVICE_FEATURE_SET,
				  &start, sizeof(start), NULL, 0, &out_len);
	testdev_dma(c, 0, IOVA_FD, 8192, true);
	vus_client_device_feature(c, VUS_FEATURE_DMA_LOGGING_REPORT | VUS_DEVICE_FEATURE_GET, &rep,
				  sizeof(rep), out, sizeof(out), &out_len);
	vus_client_mig_get_state(c, &st);
	vus_client_mig_set_state(c, VUS_MIG_STATE_PRE_COPY);
	vus_client_mig_data_read(c, buf, sizeof(buf), &got);
	vus_client_mig_set_state(c, VUS_MIG_STATE_STOP_COPY);
	for (i = 0; i < 4; i++)
		vus_client_mig_data_read(c, buf, sizeof(buf), &got);
	vus_client_mig_set_state(c, VUS_MIG_STATE_STOP);
	vus_client_mig_set_state(c, VUS_MIG_STATE_RESUMING);
	vus_client_mig_data_write(c, buf, got);
	vus_client_mig_set_state(c, VUS_MIG_STATE_RUNNING);
	vus_client_device_feature(c, VUS_FEATURE_DMA_LOGGING_STOP | VUS_DEVICE_FEATURE_SET, NULL, 0,
				  NULL, 0, &out_len);
	vus_client_mig_set_state(c, VUS_MIG_STATE_ERROR);
}

/* Messages a conforming client would not send, as seeds for the paths
 * that answer them. */
static void sc_edges(struct vus_client *c)
{
	static const uint16_t cmds[] = { 0, 11, 14, 19, 0xffff, VUS_CMD_VERSION };
	struct vus_hdr rh;
	uint8_t p[64] = { 8 }, reply[64];
	size_t rlen;
	unsigned i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		vus_client_raw(c, cmds[i], 0, p, 16, NULL, 0, &rh, reply, sizeof(reply), &rlen);
	vus_client_raw(c, VUS_CMD_DEVICE_GET_INFO, 0, p, 8, NULL, 0, &rh, reply, sizeof(reply),
		       &rlen);
	vus_client_raw(c, VUS_CMD_DEVICE_RESET, 0, p, 4, NULL, 0, &rh, reply, sizeof(reply),
		       &rlen);
	vus_client_raw(c, VUS_CMD_REGION_READ, VUS_F_NO_REPLY, p, 16, NULL, 0, &rh, reply,
		       sizeof(reply), &rlen);
	vus_client_raw(c, VUS_CMD_DMA_UNMAP, 0, p, 24, NULL, 0, &rh, reply, sizeof(reply), &rlen);
	reg_read(c, TESTDEV_REG_ID);
}

/* A 64-bit address space mapped sparsely, without fds, as a VMM with
 * memory far apart maps it: huge maps, many small ones, one ending at the
 * top of the space; dirty logging over more than the log may hold; DMA
 * into the sparse part. */
static void sc_sparse(struct vus_client *c)
{
	struct {
		struct vus_feature_dma_logging_control ctl;
		struct vus_dma_logging_range range;
	} start = { { 4096, 1, 0 }, { 1ull << 40, 1ull << 40 } };
	struct vus_dma_map m = { .argsz = sizeof(m),
				 .flags = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE };
	struct vus_hdr rh;
	uint8_t reply[64];
	size_t rlen;
	unsigned i;

	m.addr = 1ull << 40;
	m.size = 1ull << 40;
	vus_client_raw(c, VUS_CMD_DMA_MAP, 0, &m, sizeof(m), NULL, 0, &rh, reply, sizeof(reply),
		       &rlen);
	for (i = 1; i < 17; i++) {
		m.addr = (uint64_t)i << 36;
		m.size = 1u << 20;
		vus_client_raw(c, VUS_CMD_DMA_MAP, 0, &m, sizeof(m), NULL, 0, &rh, reply,
			       sizeof(reply), &rlen);
	}
	m.addr = 0xfffff00000000000ull;
	m.size = 0x100000000000ull;
	vus_client_raw(c, VUS_CMD_DMA_MAP, 0, &m, sizeof(m), NULL, 0, &rh, reply, sizeof(reply),
		       &rlen);
	vus_client_device_feature(c, VUS_FEATURE_DMA_LOGGING_START | VUS_DEVICE_FEATURE_SET,
				  &start, sizeof(start), NULL, 0, &rlen);
	start.range.length = 1u << 20;
	vus_client_device_feature(c, VUS_FEATURE_DMA_LOGGING_START | VUS_DEVICE_FEATURE_SET,
				  &start, sizeof(start), NULL, 0, &rlen);
	reg_write(c, TESTDEV_REG_DMA_SRC_LO, 0);
	reg_write(c, TESTDEV_REG_DMA_DST_LO, 0);
	reg_write(c, TESTDEV_REG_DMA_DST_HI, 1u << 8);
	reg_write(c, TESTDEV_REG_DMA_LEN, 64);
	reg_write(c, TESTDEV_REG_DMA_CMD, TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST);
	reg_read(c, TESTDEV_REG_DMA_STATUS);
	m.addr = 1ull << 36;
	vus_client_raw(c, VUS_CMD_DMA_UNMAP, 0, &m, sizeof(m), NULL, 0, &rh, reply,
		       sizeof(reply), &rlen);
	vus_client_dma_unmap(c, 0, 0, VUS_DMA_UNMAP_FLAG_ALL);
}

/* Many fds at once: fd-backed maps the server keeps, interrupt eventfds,
 * region fds the server hands out again and again. */
static void sc_flood(struct vus_client *c)
{
	int efd[3];
	unsigned i;

	for (i = 0; i < 48; i++) {
		void *mem = NULL;

		vus_client_dma_map(c, IOVA_FD + (uint64_t)i * 0x10000, 4096,
				   VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true, &mem);
	}
	for (i = 0; i < 3; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC);
	for (i = 0; i < 4; i++)
		vus_client_set_irqs(c, VUS_PCI_MSIX_IRQ,
				    VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, i, 3, efd,
				    NULL);
	for (i = 0; i < 3; i++)
		close(efd[i]);
	for (i = 0; i < 16; i++) {
		struct vus_client_region r;

		if (vus_client_region_info(c, 2, &r) == 0 && r.fd >= 0)
			close(r.fd);
	}
	vus_client_dma_unmap(c, 0, 0, VUS_DMA_UNMAP_FLAG_ALL);
}

struct scenario {
	const char *name;
	struct vus_client_opts opts;
	void (*run)(struct vus_client *c);
};

static const struct scenario scenarios[] = {
	{ "spec", { .minor = 2 }, sc_spec },
	{ "dma", { 0 }, sc_dma },
	{ "irq", { 0 }, sc_irq },
	{ "qemu", { .qemu_fingerprint = true, .write_multiple = true }, sc_qemu },
	{ "twin", { .twin_socket = true }, sc_twin },
	{ "migration", { .minor = 1 }, sc_migration },
	{ "edges", { .max_msg_fds = 1, .max_data_xfer_size = 4096 }, sc_edges },
	{ "sparse", { 0 }, sc_sparse },
	{ "flood", { 0 }, sc_flood },
};

static void write_file(const char *dir, const char *name, const void *p, size_t n);

/*
 * fuzz_tenants seeds: a setup byte (fuzz_tenants.c) before a scenario's
 * stream. Each scenario plain, and some with a fault on A.
 */
static const struct tenant_seed {
	const char *scenario, *suffix;
	uint8_t setup;
} tenant_seeds[] = {
	{ "dma", "-fault-map", VUS_CMD_DMA_MAP | 4u << 5 },        /* ENOMEM */
	{ "irq", "-fault-irqs", VUS_CMD_DEVICE_SET_IRQS | 1u << 5 }, /* EINVAL */
	{ "migration", "-fault-mig-read", VUS_CMD_MIG_DATA_READ },  /* EIO */
	{ "spec", "-disconnect", 31u | 4u << 5 },                  /* after 5 */
};

/* The same stream with every memfd shrunk once sent (FUZZ_CTL_SHRINK). */
static void shrink_memfds(uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off + FUZZ_REC_HDR <= len) {
		size_t n = (size_t)p[off + 1] | (size_t)p[off + 2] << 8;

		if (p[off] & FUZZ_CTL_MEMFD)
			p[off] |= FUZZ_CTL_SHRINK;
		off += FUZZ_REC_HDR + n;
	}
}

static void write_tenant_seeds(const char *outdir, const char *name, const uint8_t *stream,
			       size_t len)
{
	uint8_t *buf = malloc(1 + len);
	char dir[400], file[128];
	size_t i;

	if (!buf)
		die("memory", ENOMEM);
	snprintf(dir, sizeof(dir), "%s/tenants", outdir);
	memcpy(buf + 1, stream, len);
	buf[0] = 0;
	write_file(dir, name, buf, 1 + len);
	for (i = 0; i < sizeof(tenant_seeds) / sizeof(tenant_seeds[0]); i++) {
		if (strcmp(tenant_seeds[i].scenario, name))
			continue;
		buf[0] = tenant_seeds[i].setup;
		snprintf(file, sizeof(file), "%s%s", name, tenant_seeds[i].suffix);
		write_file(dir, file, buf, 1 + len);
	}
	free(buf);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die(path, errno);
}

static void run_scenario(const struct scenario *sc, const char *outdir)
{
	unsigned seeds0 = nseeds;
	struct server s;
	struct relay r;
	struct vus_client *c;
	char dir[400];
	pthread_t th;
	int a[2], b[2], rc;

	memset(&r, 0, sizeof(r));
	r.scenario = sc->name;
	s.dev = fuzz_dev_new(&s.td);
	if (!s.dev)
		die("device", ENOMEM);
	vus_dev_set_log_level(s.dev, VUS_LOG_ERR);
	/* a: client <-> relay, b: relay <-> server */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) < 0)
		die("socketpair", errno);
	rc = vus_dev_attach_fd(s.dev, b[0]);
	if (rc < 0)
		die("attach", rc);
	if ((rc = vus_conn_init(&r.cli, a[1], UINT32_MAX)) < 0 ||
	    (rc = vus_conn_init(&r.srv, b[1], UINT32_MAX)) < 0)
		die("relay", rc);
	if (pthread_create(&s.thread, NULL, server_main, &s) != 0 ||
	    pthread_create(&th, NULL, relay_main, &r) != 0)
		die("thread", errno);

	rc = vus_client_connect_fd(a[0], &sc->opts, &c);
	if (rc < 0)
		die(sc->name, rc);
	sc->run(c);
	vus_client_close(c);
	pthread_join(th, NULL);
	vus_dev_stop(s.dev);
	pthread_join(s.thread, NULL);
	testdev_free(s.td);
	vus_conn_close(&r.cli);
	vus_conn_close(&r.srv);

	snprintf(dir, sizeof(dir), "%s/dispatch", outdir);
	write_file(dir, sc->name, r.stream, r.len);
	write_tenant_seeds(outdir, sc->name, r.stream, r.len);
	if (!strcmp(sc->name, "dma")) {
		char name[64];

		shrink_memfds(r.stream, r.len);
		snprintf(name, sizeof(name), "%s-shrink", sc->name);
		write_file(dir, name, r.stream, r.len);
		write_tenant_seeds(outdir, name, r.stream, r.len);
	}
	printf("%-10s %6zu bytes of client stream, %3u new codec seeds\n", sc->name, r.len,
	       nseeds - seeds0);
	free(r.stream);
}

static void write_seeds(const char *outdir)
{
	char dir[400], name[128];
	unsigned i;

	snprintf(dir, sizeof(dir), "%s/codec", outdir);
	for (i = 0; i < nseeds; i++) {
		snprintf(name, sizeof(name), "%s-%03u", seeds[i].scenario, i);
		write_file(dir, name, seeds[i].bytes, seeds[i].len);
		free(seeds[i].bytes);
	}
}

int main(int argc, char **argv)
{
	char dir[400];
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/dispatch", argv[1]);
	mkdir(argv[1], 0755);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/codec", argv[1]);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/tenants", argv[1]);
	mkdir(dir, 0755);
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i], argv[1]);
	write_seeds(argv[1]);
	return 0;
}
