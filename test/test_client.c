/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client library against a scripted peer on a socketpair: what it
 * sends (VERSION capabilities, SET_IRQS chunks, region access splits)
 * and how it treats replies a real server would never send (bad VERSION,
 * stray fds, wrong ids, silence).
 *
 * The peer runs on a thread and records its first failed check in
 * peer.err (cmocka's asserts must stay on the main thread).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/codec.h>

#include "clock.h"
#include "fdcount.h"
#include "raw.h"
#include "vus_test.h"

struct peer;
typedef void (*peer_script)(struct peer *p);

struct peer {
	int fd;
	peer_script script;
	pthread_t thread;
	char err[256];
	/* scenario inputs */
	const char *reply_json;     /* VERSION reply JSON, NULL = none */
	uint16_t reply_major, reply_minor;
	uint32_t reply_error;       /* error reply to VERSION */
	int reply_fd;               /* fd to attach to the VERSION reply, -1 */
	int reply_id_delta;         /* reply with id + delta */
	int aux_fd;                 /* an fd the script hands out (test owns it) */
	uint16_t reply_cmd;         /* 0 = VERSION */
	/* scenario outputs */
	struct vus_version_msg req;
	uint16_t req_minor;
	int nmsgs;
	struct {
		struct vus_hdr hdr;
		uint8_t payload[64];
		unsigned nfds;
	} msgs[16];
};

/* The file's base name and a bounded condition text: __FILE__ holds the
 * clone's path, of any length, and -Werror=format-truncation would stop
 * the build of a clone in a long directory (issue 16). */
#ifdef __FILE_NAME__
#define PCHECK_FILE __FILE_NAME__
#else
#define PCHECK_FILE "test_client.c"
#endif
#define PCHECK(p, cond)                                                                   \
	do {                                                                              \
		if (!(cond) && !(p)->err[0])                                              \
			snprintf((p)->err, sizeof((p)->err), "peer %s:%d: %.160s",        \
				 PCHECK_FILE, __LINE__, #cond);                           \
	} while (0)

/* Read the client's VERSION and answer as the scenario says. */
static void peer_version(struct peer *p)
{
	struct vus_msg_view v;
	struct raw_msg m;
	uint8_t buf[512];
	size_t len = 4;

	if (raw_recv(p->fd, &m, 2000) < 0) {
		PCHECK(p, !"VERSION received");
		return;
	}
	PCHECK(p, m.hdr.cmd == VUS_CMD_VERSION);
	PCHECK(p, m.hdr.flags == 0);
	v = (struct vus_msg_view){ .hdr = m.hdr, .payload = m.payload, .len = m.len };
	PCHECK(p, vus_version_decode(&v, &p->req) == 0);
	/* NUL-terminated JSON that ends the message (QEMU's check too). */
	PCHECK(p, m.len > 4 && m.payload[m.len - 1] == '\0');
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &p->reply_major, 2);
	memcpy(buf + 2, &p->reply_minor, 2);
	if (p->reply_json) {
		strcpy((char *)buf + 4, p->reply_json);
		len += strlen(p->reply_json) + 1;
	}
	if (p->reply_error) {
		struct vus_hdr h = {
			.id = m.hdr.id, .cmd = VUS_CMD_VERSION, .size = 16,
			.flags = VUS_F_TYPE_REPLY | VUS_F_ERROR, .error = p->reply_error,
		};
		uint8_t hb[16];

		vus_hdr_encode(hb, &h);
		PCHECK(p, raw_send_bytes(p->fd, hb, 16, NULL, 0) == 0);
	} else {
		PCHECK(p, raw_send(p->fd, (uint16_t)(m.hdr.id + p->reply_id_delta),
				   p->reply_cmd ? p->reply_cmd : VUS_CMD_VERSION, VUS_F_TYPE_REPLY,
				   buf, len, p->reply_fd >= 0 ? &p->reply_fd : NULL,
				   p->reply_fd >= 0 ? 1 : 0) == 0);
	}
	raw_msg_free(&m);
}

/* Receive one message into msgs[] (payload head copied), fds closed. */
static bool peer_take(struct peer *p, struct raw_msg *m)
{
	if (raw_recv(p->fd, m, 2000) < 0)
		return false;
	if (p->nmsgs < 16) {
		p->msgs[p->nmsgs].hdr = m->hdr;
		p->msgs[p->nmsgs].nfds = m->nfds;
		memcpy(p->msgs[p->nmsgs].payload, m->payload, m->len < 64 ? m->len : 64);
		p->nmsgs++;
	}
	return true;
}

static void peer_reply(struct peer *p, const struct raw_msg *req, const void *payload,
		       size_t len, const int *fds, unsigned nfds)
{
	PCHECK(p, raw_send(p->fd, req->hdr.id, req->hdr.cmd, VUS_F_TYPE_REPLY, payload, len,
			   fds, nfds) == 0);
}

static void peer_error(struct peer *p, const struct raw_msg *req, uint32_t err)
{
	struct vus_hdr h = {
		.id = req->hdr.id, .cmd = req->hdr.cmd, .size = 16,
		.flags = VUS_F_TYPE_REPLY | VUS_F_ERROR, .error = err,
	};
	uint8_t hb[16];

	vus_hdr_encode(hb, &h);
	PCHECK(p, raw_send_bytes(p->fd, hb, 16, NULL, 0) == 0);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;

	peer_version(p);
	if (p->script)
		p->script(p);
	/* Wait for the client to hang up. */
	PCHECK(p, raw_closed_within(p->fd, 5000));
	return NULL;
}

static void peer_init(struct peer *p, peer_script script, const char *json)
{
	memset(p, 0, sizeof(*p));
	p->script = script;
	p->reply_json = json;
	p->reply_fd = -1;
}

/* Start the peer and connect a client to it; returns vus_client_connect_fd's result. */
static int peer_start(struct peer *p, const struct vus_client_opts *o, struct vus_client **c)
{
	int sv[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	p->fd = sv[1];
	ASSERT_OK(pthread_create(&p->thread, NULL, peer_main, p));
	return vus_client_connect_fd(sv[0], o, c);
}

static void peer_finish(struct peer *p)
{
	pthread_join(p->thread, NULL);
	close(p->fd);
	if (p->err[0])
		fail_msg("%s", p->err);
}

static const char srv_json[] =
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}";

/* ---- VERSION -------------------------------------------------------- */

static void version_request(void **state)
{
	struct vus_client_opts qemu = { .qemu_fingerprint = true, .twin_socket = true };
	struct vus_client_opts custom = {
		.minor = 3, .max_msg_fds = 4, .max_data_xfer_size = 4096,
		.twin_socket = true, .write_multiple = true,
	};
	const struct vus_version_msg *sv;
	struct vus_client *c;
	struct peer p;

	/* Defaults. */
	peer_init(&p, NULL, "{}");
	ASSERT_OK(peer_start(&p, NULL, &c));
	/* The server said nothing: spec defaults (max_msg_fds 1). */
	sv = vus_client_server_version(c);
	ASSERT_EQ(sv->caps.max_msg_fds, 1);
	ASSERT_EQ(sv->caps.max_data_xfer_size, 1048576);
	assert_false(vus_client_twin_active(c));
	vus_client_close(c);
	peer_finish(&p);
	ASSERT_EQ(p.req.major, 0);
	ASSERT_EQ(p.req.minor, 0);
	ASSERT_EQ(p.req.caps.present, VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER);
	ASSERT_EQ(p.req.caps.max_msg_fds, 16);
	ASSERT_EQ(p.req.caps.max_data_xfer_size, 1048576);

	/* QEMU's exact set (twin_socket is ignored: QEMU never offers it). */
	peer_init(&p, NULL, "{}");
	ASSERT_OK(peer_start(&p, &qemu, &c));
	vus_client_close(c);
	peer_finish(&p);
	ASSERT_EQ(p.req.minor, 0);
	ASSERT_EQ(p.req.caps.present,
		  VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER | VUS_CAP_MAX_DMA_MAPS |
		  VUS_CAP_PGSIZES | VUS_CAP_WRITE_MULTIPLE | VUS_CAP_MIGRATION);
	ASSERT_EQ(p.req.caps.max_msg_fds, 16);
	ASSERT_EQ(p.req.caps.max_data_xfer_size, 1048576);
	ASSERT_EQ(p.req.caps.max_dma_maps, 65535);
	ASSERT_EQ(p.req.caps.pgsizes, 4096);
	assert_true(p.req.caps.write_multiple);
	ASSERT_EQ(p.req.caps.mig_pgsize, 4096);
	ASSERT_EQ(p.req.caps.mig_max_bitmap_size, 268435456);
	assert_true(vus_version_looks_like_qemu(&p.req));

	/* Everything as asked. */
	peer_init(&p, NULL, "{\"capabilities\":{\"write_multiple\":true}}");
	p.reply_minor = 3;
	ASSERT_OK(peer_start(&p, &custom, &c));
	ASSERT_EQ(vus_client_server_version(c)->minor, 3);
	vus_client_close(c);
	peer_finish(&p);
	ASSERT_EQ(p.req.minor, 3);
	ASSERT_EQ(p.req.caps.max_msg_fds, 4);
	ASSERT_EQ(p.req.caps.max_data_xfer_size, 4096);
	assert_true(p.req.caps.present & VUS_CAP_TWIN_SOCKET);
	assert_true(p.req.caps.twin_socket);
	ASSERT_EQ(p.req.caps.twin_fd_index, -1);
	assert_true(p.req.caps.write_multiple);
	assert_false(vus_version_looks_like_qemu(&p.req));
}

static void version_no_json(void **state)
{
	struct vus_client *c;
	struct peer p;

	/* JSON is optional (spec VERSION): a bare 4-byte reply is fine. */
	peer_init(&p, NULL, NULL);
	ASSERT_OK(peer_start(&p, NULL, &c));
	assert_false(vus_client_server_version(c)->has_json);
	vus_client_close(c);
	peer_finish(&p);
}

struct bad_version {
	const char *what;
	const char *json;
	uint16_t major, minor;
	uint32_t error;
	bool with_fd;
	bool offer_twin;
	int id_delta;
	uint16_t cmd;
	int want;
};

static void version_rejects(void **state)
{
	static const struct bad_version cases[] = {
		{ "error reply", srv_json, 0, 0, EPERM, false, false, 0, 0, -EPERM },
		{ "major 1", srv_json, 1, 0, 0, false, false, 0, 0, -EPROTO },
		{ "minor above ours", srv_json, 0, 1, 0, false, false, 0, 0, -EPROTO },
		{ "bad JSON", "{", 0, 0, 0, false, false, 0, 0, -EPROTO },
		{ "wrong type", "{\"capabilities\":{\"max_msg_fds\":true}}", 0, 0, 0, false, false,
		  0, 0, -EPROTO },
		{ "twin without fd", "{\"capabilities\":{\"twin_socket\":{\"supported\":true,"
		  "\"fd_index\":0}}}", 0, 0, 0, false, true, 0, 0, -EPROTO },
		{ "twin without fd_index", "{\"capabilities\":{\"twin_socket\":{\"supported\":"
		  "true}}}", 0, 0, 0, true, true, 0, 0, -EPROTO },
		{ "twin fd not a socket", "{\"capabilities\":{\"twin_socket\":{\"supported\":"
		  "true,\"fd_index\":0}}}", 0, 0, 0, true, true, 0, 0, -EPROTO },
		{ "twin fd_index 1", "{\"capabilities\":{\"twin_socket\":{\"supported\":true,"
		  "\"fd_index\":1}}}", 0, 0, 0, true, true, 0, 0, -EPROTO },
		{ "twin not offered", "{\"capabilities\":{\"twin_socket\":{\"supported\":true,"
		  "\"fd_index\":0}}}", 0, 0, 0, true, false, 0, 0, -EPROTO },
		{ "stray fd", srv_json, 0, 0, 0, true, false, 0, 0, -EPROTO },
		{ "write_multiple not offered", "{\"capabilities\":{\"write_multiple\":true}}",
		  0, 0, 0, false, false, 0, 0, -EPROTO },
		{ "xfer above 64 MiB", "{\"capabilities\":{\"max_data_xfer_size\":134217728}}", 0,
		  0, 0, false, false, 0, 0, -EPROTO },
		{ "wrong id", srv_json, 0, 0, 0, false, false, 1, 0, -EPROTO },
		{ "wrong command", srv_json, 0, 0, 0, false, false, 0, VUS_CMD_DEVICE_GET_INFO,
		  -EPROTO },
	};
	int base = fdcount();
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_version *b = &cases[i];
		struct vus_client_opts o = { .twin_socket = b->offer_twin };
		struct vus_client *c = NULL;
		struct peer p;
		int efd = -1, r;

		peer_init(&p, NULL, b->json);
		p.reply_major = b->major;
		p.reply_minor = b->minor;
		p.reply_error = b->error;
		p.reply_id_delta = b->id_delta;
		p.reply_cmd = b->cmd;
		if (b->with_fd) {
			efd = eventfd(0, EFD_CLOEXEC);
			p.reply_fd = efd;
		}
		r = peer_start(&p, &o, &c);
		if (r != b->want)
			fail_msg("%s: %d, want %d", b->what, r, b->want);
		assert_null(c);
		peer_finish(&p);
		if (efd >= 0)
			close(efd);
	}
	/* Every socket and received fd closed. */
	ASSERT_EQ(fdcount(), base);
}

static void twin_accepted(void **state)
{
	struct vus_client_opts o = { .twin_socket = true };
	struct vus_client *c;
	struct peer p;
	int tp[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tp));
	peer_init(&p, NULL, "{\"capabilities\":{\"twin_socket\":{\"supported\":true,"
		  "\"fd_index\":0}}}");
	p.reply_fd = tp[1];
	ASSERT_OK(peer_start(&p, &o, &c));
	close(tp[1]);
	assert_true(vus_client_twin_active(c));
	vus_client_close(c);
	/* The client closed its end of the twin socket. */
	assert_true(raw_closed_within(tp[0], 1000));
	close(tp[0]);
	peer_finish(&p);
}

/* ---- SET_IRQS chunks ------------------------------------------------ */

static void script_ack_all(struct peer *p)
{
	struct raw_msg m;

	while (peer_take(p, &m)) {
		if (m.hdr.cmd == VUS_CMD_DEVICE_RESET) {
			raw_msg_free(&m);
			break;
		}
		peer_reply(p, &m, NULL, 0, NULL, 0);
		raw_msg_free(&m);
	}
}

static void set_irqs_chunks(void **state)
{
	const uint32_t trig = VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER;
	struct vus_client *c;
	struct peer p;
	int fds[5], i;
	uint32_t v[5];

	/* [2] is the hole: no eventfd made for it, none leaked. */
	for (i = 0; i < 5; i++)
		fds[i] = i == 2 ? -1 : eventfd(0, EFD_CLOEXEC);
	peer_init(&p, script_ack_all, "{\"capabilities\":{\"max_msg_fds\":2}}");
	ASSERT_OK(peer_start(&p, NULL, &c));
	/* [a b] [-1] [c d] */
	ASSERT_OK(vus_client_set_irqs(c, 1, trig, 10, 5, fds, NULL));
	/* De-assign: one message, no fds. */
	ASSERT_OK(vus_client_set_irqs(c, 1, trig, 0, 32, NULL, NULL));
	/* BOOL: the bytes inline. */
	ASSERT_OK(vus_client_set_irqs(c, 1, VUS_IRQ_SET_DATA_BOOL |
				      VUS_IRQ_SET_ACTION_TRIGGER, 1, 3,
				      NULL, (const uint8_t[]){ 1, 0, 1 }));
	/* The end marker for the script. */
	ASSERT_OK(vus_client_raw(c, VUS_CMD_DEVICE_RESET, VUS_F_NO_REPLY, NULL, 0, NULL, 0,
				 NULL, NULL, 0, NULL));
	vus_client_close(c);
	peer_finish(&p);

	ASSERT_EQ(p.nmsgs, 6);
	{
		static const uint32_t start[] = { 10, 12, 13, 0 }, count[] = { 2, 1, 2, 32 };
		static const unsigned nfds[] = { 2, 0, 2, 0 };

		for (i = 0; i < 4; i++) {
			ASSERT_EQ(p.msgs[i].hdr.cmd, VUS_CMD_DEVICE_SET_IRQS);
			/* QEMU's shape: argsz 20, no inline fd array (docs/qemu.md "Interrupts"). */
			ASSERT_EQ(p.msgs[i].hdr.size, 36);
			memcpy(v, p.msgs[i].payload, 20);
			ASSERT_EQ(v[0], 20);
			ASSERT_EQ(v[1], trig);
			ASSERT_EQ(v[2], 1);
			ASSERT_EQ(v[3], start[i]);
			ASSERT_EQ(v[4], count[i]);
			ASSERT_EQ(p.msgs[i].nfds, nfds[i]);
		}
	}
	ASSERT_EQ(p.msgs[4].hdr.size, 16 + 20 + 3);
	memcpy(v, p.msgs[4].payload, 20);
	ASSERT_EQ(v[0], 23);
	assert_memory_equal(p.msgs[4].payload + 20, ((const uint8_t[]){ 1, 0, 1 }), 3);
	ASSERT_EQ(p.msgs[5].hdr.flags, VUS_F_NO_REPLY);
	for (i = 0; i < 5; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
}

/* ---- GET_REGION_INFO re-ask ----------------------------------------- */

static void script_region_info(struct peer *p)
{
	struct raw_msg m;
	uint8_t full[32 + 16 + 16];
	struct vus_region_info ri = {
		.argsz = sizeof(full),
		.flags = VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_MMAP |
			 VUS_REGION_INFO_FLAG_CAPS,
		.index = 2, .cap_offset = 32, .size = 0x2000, .offset = 0,
	};
	struct vus_cap_sparse_mmap cap = { { VUS_REGION_INFO_CAP_SPARSE_MMAP, 1, 0 }, 1, 0 };
	struct vus_sparse_area area = { 0x1000, 0x1000 };
	int mfd = p->aux_fd;

	/* First ask: argsz 32. A careless server answers short, with MMAP
	 * and an fd; the client must close that fd and ask again. */
	if (!peer_take(p, &m))
		return;
	PCHECK(p, m.len == 32 && raw_u32(&m, 0) == 32 && raw_u32(&m, 8) == 2);
	ri.cap_offset = 0;
	ri.flags &= ~VUS_REGION_INFO_FLAG_CAPS;
	peer_reply(p, &m, &ri, sizeof(ri), &mfd, 1);
	raw_msg_free(&m);
	if (!peer_take(p, &m))
		return;
	PCHECK(p, raw_u32(&m, 0) == sizeof(full));
	ri.flags |= VUS_REGION_INFO_FLAG_CAPS;
	ri.cap_offset = 32;
	memcpy(full, &ri, 32);
	memcpy(full + 32, &cap, 16);
	memcpy(full + 48, &area, 16);
	peer_reply(p, &m, full, sizeof(full), &mfd, 1);
	raw_msg_free(&m);
	/* A reply with an fd where none may be. */
	if (!peer_take(p, &m))
		return;
	peer_reply(p, &m, &ri, 32, &mfd, 1);
	raw_msg_free(&m);
}

static void region_info_reask(void **state)
{
	struct vus_client_region r;
	struct vus_irq_info ii;
	struct vus_client *c;
	struct peer p;
	uint8_t *map;
	size_t len;
	int base;

	peer_init(&p, script_region_info, srv_json);
	p.aux_fd = memfd_create("peer-region", MFD_CLOEXEC);
	ASSERT_NONNEG(p.aux_fd);
	ASSERT_OK(ftruncate(p.aux_fd, 0x2000));
	ASSERT_OK(peer_start(&p, NULL, &c));
	base = fdcount();
	ASSERT_OK(vus_client_region_info(c, 2, &r));
	ASSERT_EQ(r.info.argsz, 64);
	assert_true(r.caps.sparse);
	ASSERT_EQ(r.caps.nr_areas, 1);
	ASSERT_NONNEG(r.fd);
	/* Only the second answer's fd is left open. */
	ASSERT_EQ(fdcount(), base + 1);
	ASSERT_OK(vus_client_region_mmap(&r, 0, (void **)&map, &len));
	ASSERT_EQ(len, 0x1000);
	munmap(map, len);
	close(r.fd);
	/* IRQ_INFO with an fd attached: refused, fd closed. */
	ASSERT_ERR(vus_client_irq_info(c, 0, &ii), -EPROTO);
	ASSERT_EQ(fdcount(), base);
	vus_client_close(c);
	peer_finish(&p);
	close(p.aux_fd);
}

/* ---- serving requests while waiting, ids, errors, timeouts ---------- */

static void script_requests(struct peer *p)
{
	struct vus_dma_rw rw;
	struct raw_msg m, r;
	uint8_t buf[16 + 8];

	/* DMA_MAP (fd-less) acked. */
	if (!peer_take(p, &m))
		return;
	PCHECK(p, m.hdr.cmd == VUS_CMD_DMA_MAP && m.nfds == 0);
	peer_reply(p, &m, NULL, 0, NULL, 0);
	raw_msg_free(&m);

	/* GET_INFO: before answering, ask the client things. */
	if (!peer_take(p, &m))
		return;
	PCHECK(p, m.hdr.cmd == VUS_CMD_DEVICE_GET_INFO);
	/* Unmapped address: EFAULT. */
	rw = (struct vus_dma_rw){ 0x9000, 8 };
	PCHECK(p, raw_send(p->fd, 1, VUS_CMD_DMA_READ, 0, &rw, sizeof(rw), NULL, 0) == 0);
	PCHECK(p, raw_recv(p->fd, &r, 2000) == 0);
	PCHECK(p, r.hdr.id == 1 && r.hdr.flags == (VUS_F_TYPE_REPLY | VUS_F_ERROR) &&
		  r.hdr.error == EFAULT);
	raw_msg_free(&r);
	/* Not a request a client serves: ENOSYS. */
	PCHECK(p, raw_send(p->fd, 2, 50, 0, &rw, sizeof(rw), NULL, 0) == 0);
	PCHECK(p, raw_recv(p->fd, &r, 2000) == 0);
	PCHECK(p, r.hdr.id == 2 && r.hdr.error == ENOSYS);
	raw_msg_free(&r);
	/* No_reply DMA_WRITE: applied, never answered. */
	rw = (struct vus_dma_rw){ 0x1004, 8 };
	memcpy(buf, &rw, 16);
	memcpy(buf + 16, "ABCDEFGH", 8);
	PCHECK(p, raw_send(p->fd, 3, VUS_CMD_DMA_WRITE, VUS_F_NO_REPLY, buf, sizeof(buf), NULL,
			   0) == 0);
	/* DMA_READ of what was just written (spec layout: data at 16). */
	rw = (struct vus_dma_rw){ 0x1004, 8 };
	PCHECK(p, raw_send(p->fd, 4, VUS_CMD_DMA_READ, 0, &rw, sizeof(rw), NULL, 0) == 0);
	PCHECK(p, raw_recv(p->fd, &r, 2000) == 0);
	PCHECK(p, r.hdr.id == 4 && r.hdr.flags == VUS_F_TYPE_REPLY && r.len == 24 &&
		  raw_u64(&r, 0) == 0x1004 && raw_u64(&r, 8) == 8 &&
		  memcmp(r.payload + 16, "ABCDEFGH", 8) == 0);
	raw_msg_free(&r);
	{
		struct vus_device_info di = { 16, VUS_DEVICE_FLAGS_PCI, 9, 5 };

		peer_reply(p, &m, &di, sizeof(di), NULL, 0);
	}
	raw_msg_free(&m);

	/* Error replies: errno as is; 0 and absurd values read as EINVAL. */
	if (!peer_take(p, &m))
		return;
	peer_error(p, &m, ENOTTY);
	raw_msg_free(&m);
	if (!peer_take(p, &m))
		return;
	peer_error(p, &m, 0);
	raw_msg_free(&m);
	if (!peer_take(p, &m))
		return;
	peer_error(p, &m, 100000);
	raw_msg_free(&m);
	/* GET_INFO answered with a 20-byte payload: too long. */
	if (!peer_take(p, &m))
		return;
	{
		uint8_t junk[20] = { 16 };

		peer_reply(p, &m, junk, sizeof(junk), NULL, 0);
	}
	raw_msg_free(&m);
	/* Silence: the client times out. Then an answer with a wrong id. */
	if (!peer_take(p, &m))
		return;
	raw_msg_free(&m);
	if (!peer_take(p, &m))
		return;
	m.hdr.id++;
	peer_reply(p, &m, NULL, 0, NULL, 0);
	raw_msg_free(&m);
}

static void requests_and_replies(void **state)
{
	struct vus_client_opts o = { .timeout_ms = 200 };
	struct vus_device_info di;
	struct vus_client *c;
	struct peer p;
	uint8_t *host;

	peer_init(&p, script_requests, srv_json);
	ASSERT_OK(peer_start(&p, &o, &c));
	ASSERT_OK(vus_client_dma_map(c, 0x1000, 0x1000, VUS_DMA_MAP_FLAG_READ |
				     VUS_DMA_MAP_FLAG_WRITE, false, (void **)&host));
	ASSERT_OK(vus_client_device_info(c, &di));
	ASSERT_EQ(di.num_regions, 9);
	assert_memory_equal(host + 4, "ABCDEFGH", 8);
	/* DMA_READ x2 + DMA_WRITE (the ENOSYS one is not a DMA request). */
	ASSERT_EQ(vus_client_dma_requests(c), 3);
	ASSERT_ERR(vus_client_reset(c), -ENOTTY);
	ASSERT_ERR(vus_client_reset(c), -EINVAL);
	ASSERT_ERR(vus_client_reset(c), -EINVAL);
	ASSERT_ERR(vus_client_device_info(c, &di), -EPROTO);
	ASSERT_ERR(vus_client_reset(c), -ETIMEDOUT);
	/* The answer to this one has the wrong id. */
	ASSERT_ERR(vus_client_reset(c), -EPROTO);
	vus_client_close(c);
	peer_finish(&p);
}

/* ---- vus_client_process ---------------------------------------------- */

static void script_idle_requests(struct peer *p)
{
	struct vus_dma_rw rw = { 0x2000, 4 };
	struct raw_msg m, r;
	uint8_t buf[16 + 4];

	if (!peer_take(p, &m))
		return;
	PCHECK(p, m.hdr.cmd == VUS_CMD_DMA_MAP);
	peer_reply(p, &m, NULL, 0, NULL, 0);
	raw_msg_free(&m);
	/* A request while the client is between calls. */
	memcpy(buf, &rw, 16);
	memcpy(buf + 16, "wxyz", 4);
	PCHECK(p, raw_send(p->fd, 9, VUS_CMD_DMA_WRITE, 0, buf, sizeof(buf), NULL, 0) == 0);
	PCHECK(p, raw_recv(p->fd, &r, 2000) == 0);
	/* Spec layout: the reply echoes addr and count. */
	PCHECK(p, r.hdr.id == 9 && r.hdr.flags == VUS_F_TYPE_REPLY && r.len == 16 &&
		  raw_u64(&r, 0) == 0x2000 && raw_u64(&r, 8) == 4);
	raw_msg_free(&r);
	/* Wait for the client's go (a posted RESET), then a reply nobody
	 * asked for. */
	if (!peer_take(p, &m))
		return;
	PCHECK(p, m.hdr.cmd == VUS_CMD_DEVICE_RESET && m.hdr.flags == VUS_F_NO_REPLY);
	raw_msg_free(&m);
	PCHECK(p, raw_send(p->fd, 77, VUS_CMD_DEVICE_GET_INFO, VUS_F_TYPE_REPLY, NULL, 0, NULL,
			   0) == 0);
}

static void process_idle(void **state)
{
	struct vus_client *c;
	struct peer p;
	uint8_t *host;
	int64_t t0;

	peer_init(&p, script_idle_requests, srv_json);
	ASSERT_OK(peer_start(&p, NULL, &c));
	ASSERT_OK(vus_client_dma_map(c, 0x2000, 0x1000, VUS_DMA_MAP_FLAG_WRITE, false,
				     (void **)&host));
	t0 = test_now_ms();
	/* Returns once one was served, not at the timeout. */
	ASSERT_EQ(vus_client_process(c, 5000), 1);
	assert_true(test_now_ms() - t0 < 2500);
	assert_memory_equal(host, "wxyz", 4);
	ASSERT_EQ(vus_client_dma_requests(c), 1);
	ASSERT_OK(vus_client_process(c, 0));
	ASSERT_OK(vus_client_raw(c, VUS_CMD_DEVICE_RESET, VUS_F_NO_REPLY, NULL, 0, NULL, 0,
				 NULL, NULL, 0, NULL));
	ASSERT_ERR(vus_client_process(c, 2000), -EPROTO);
	ASSERT_ERR(vus_client_process(c, -1), -EINVAL);
	vus_client_close(c);
	peer_finish(&p);
}

/* ---- region access splitting ---------------------------------------- */

static void script_region_access(struct peer *p)
{
	struct raw_msg m;
	uint8_t buf[16 + 4096];
	int i;

	/* Three reads: 4096 + 4096 + 1808. */
	for (i = 0; i < 3; i++) {
		uint32_t cnt;

		if (!peer_take(p, &m))
			return;
		cnt = raw_u32(&m, 12);
		PCHECK(p, m.hdr.cmd == VUS_CMD_REGION_READ && m.len == 16);
		PCHECK(p, raw_u64(&m, 0) == 0x100 + (uint64_t)i * 4096 && raw_u32(&m, 8) == 1);
		PCHECK(p, cnt == (i < 2 ? 4096u : 1808u));
		memcpy(buf, m.payload, 16);
		memset(buf + 16, 'a' + i, cnt);
		peer_reply(p, &m, buf, 16 + cnt, NULL, 0);
		raw_msg_free(&m);
	}
	/* Two writes: 4096 + 1. */
	for (i = 0; i < 2; i++) {
		if (!peer_take(p, &m))
			return;
		PCHECK(p, m.hdr.cmd == VUS_CMD_REGION_WRITE);
		PCHECK(p, m.len == 16 + raw_u32(&m, 12));
		PCHECK(p, raw_u32(&m, 12) == (i == 0 ? 4096u : 1u));
		peer_reply(p, &m, m.payload, 16, NULL, 0);
		raw_msg_free(&m);
	}
	/* A short read: 2 of 4 bytes. */
	if (!peer_take(p, &m))
		return;
	memcpy(buf, m.payload, 16);
	memcpy(buf + 12, &(uint32_t){ 2 }, 4);
	peer_reply(p, &m, buf, 18, NULL, 0);
	raw_msg_free(&m);
	/* A read reply with a different offset. */
	if (!peer_take(p, &m))
		return;
	memcpy(buf, m.payload, 16);
	buf[0] ^= 1;
	peer_reply(p, &m, buf, 16 + 4, NULL, 0);
	raw_msg_free(&m);
}

static void region_access_split(void **state)
{
	struct vus_client *c;
	struct peer p;
	uint8_t *buf = malloc(10000);
	uint32_t v;
	int i;

	assert_non_null(buf);
	peer_init(&p, script_region_access, "{\"capabilities\":{\"max_data_xfer_size\":4096}}");
	ASSERT_OK(peer_start(&p, NULL, &c));
	ASSERT_OK(vus_client_region_read(c, 1, 0x100, buf, 10000));
	for (i = 0; i < 10000; i++) {
		if (buf[i] != 'a' + i / 4096)
			fail_msg("byte %d: %c", i, buf[i]);
	}
	ASSERT_OK(vus_client_region_write(c, 1, 0, buf, 4097));
	ASSERT_ERR(vus_client_region_read(c, 0, 0, &v, 4), -EIO);
	ASSERT_ERR(vus_client_region_read(c, 0, 0, &v, 4), -EPROTO);
	/* Not offered, not allowed. */
	ASSERT_ERR(vus_client_region_write_multi(c, &(struct vus_write_multi_entry){
		.count = 4 }, 1), -ENOTSUP);
	vus_client_close(c);
	peer_finish(&p);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_request),
		cmocka_unit_test(version_no_json),
		cmocka_unit_test(version_rejects),
		cmocka_unit_test(twin_accepted),
		cmocka_unit_test(set_irqs_chunks),
		cmocka_unit_test(region_info_reask),
		cmocka_unit_test(requests_and_replies),
		cmocka_unit_test(region_access_split),
		cmocka_unit_test(process_idle),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
