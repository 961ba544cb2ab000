/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Raw-bytes vfio-user peer (raw.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vus/codec.h>

#include "clock.h"
#include "raw.h"

const char raw_qemu_version_json[] =
	"{\"capabilities\": {\"max_msg_fds\": 16, \"max_data_xfer_size\": 1048576, "
	"\"pgsizes\": 4096, \"max_dma_maps\": 65535, \"migration\": {\"pgsize\": 4096, "
	"\"max_bitmap_size\": 268435456}, \"write_multiple\": true}}";

static const char spec_version_json[] =
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}";

int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int raw_send_bytes(int fd, const void *bytes, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * RAW_MAX_FDS)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { (void *)bytes, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	const uint8_t *p = bytes;

	if (nfds > RAW_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	while (iov.iov_len) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		iov.iov_base = (void *)p;
		iov.iov_len -= (size_t)n;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	return 0;
}

int raw_send(int fd, uint16_t id, uint16_t cmd, uint32_t flags, const void *payload,
	     size_t len, const int *fds, unsigned nfds)
{
	struct vus_hdr h = {
		.id = id, .cmd = cmd, .size = (uint32_t)(VUS_HDR_SIZE + len), .flags = flags,
	};
	uint8_t *buf = malloc(VUS_HDR_SIZE + len);
	int r;

	if (!buf)
		return -ENOMEM;
	vus_hdr_encode(buf, &h);
	if (len)
		memcpy(buf + VUS_HDR_SIZE, payload, len);
	r = raw_send_bytes(fd, buf, VUS_HDR_SIZE + len, fds, nfds);
	free(buf);
	return r;
}

/* Wait until fd is readable before the deadline: 0, -ETIMEDOUT, -errno. */
static int wait_in(int fd, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		int64_t left = deadline - test_now_ms();
		int r;

		if (left < 0)
			left = 0;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Read exactly len bytes; fds arriving with them go to m. */
static int read_full(int fd, void *buf, size_t len, struct raw_msg *m, int64_t deadline)
{
	uint8_t *p = buf;

	while (len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * RAW_MAX_FDS)];
			struct cmsghdr align;
		} ctrl;
		struct iovec iov = { p, len };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf),
		};
		struct cmsghdr *cm;
		ssize_t n;
		int r = wait_in(fd, deadline);

		if (r < 0)
			return r;
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t i, k;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (m->nfds < RAW_MAX_FDS)
					m->fds[m->nfds++] = f;
				else
					close(f);
			}
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int raw_recv(int fd, struct raw_msg *m, int timeout_ms)
{
	int64_t deadline = test_now_ms() + timeout_ms;
	uint8_t hb[VUS_HDR_SIZE];
	int r;

	memset(m, 0, sizeof(*m));
	/* Header first, alone: the fds ride on it (docs/protocol.md 1.3). */
	r = read_full(fd, hb, sizeof(hb), m, deadline);
	if (r < 0)
		goto fail;
	vus_hdr_decode(hb, &m->hdr);
	if (m->hdr.size < VUS_HDR_SIZE) {
		r = -EPROTO;
		goto fail;
	}
	m->len = m->hdr.size - VUS_HDR_SIZE;
	m->payload = malloc(m->len ? m->len : 1);
	if (!m->payload) {
		r = -ENOMEM;
		goto fail;
	}
	r = read_full(fd, m->payload, m->len, m, deadline);
	if (r < 0)
		goto fail;
	return 0;
fail:
	raw_msg_free(m);
	return r;
}

void raw_msg_free(struct raw_msg *m)
{
	unsigned i;

	for (i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
	free(m->payload);
	m->payload = NULL;
	m->len = 0;
}

bool raw_nothing_within(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 0;
}

bool raw_closed_within(int fd, int ms)
{
	int64_t deadline = test_now_ms() + ms;
	uint8_t buf[4096];

	for (;;) {
		ssize_t n;

		if (wait_in(fd, deadline) < 0)
			return false;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
	}
}

int raw_call(int fd, uint16_t id, uint16_t cmd, const void *payload, size_t len,
	     const int *fds, unsigned nfds, struct raw_msg *reply)
{
	int r = raw_send(fd, id, cmd, 0, payload, len, fds, nfds);

	if (r < 0)
		return r;
	return raw_recv(fd, reply, 2000);
}

int raw_version(int fd, uint16_t minor, const char *json, struct raw_msg *reply)
{
	struct raw_msg local;
	uint8_t buf[512];
	size_t jlen;
	int r;

	if (!json)
		json = spec_version_json;
	jlen = strlen(json) + 1;
	if (jlen > sizeof(buf) - 4)
		return -EINVAL;
	memset(buf, 0, 4);
	memcpy(buf + 2, &minor, sizeof(minor));
	memcpy(buf + 4, json, jlen);
	if (!reply)
		reply = &local;
	r = raw_call(fd, 0x5a5a, VUS_CMD_VERSION, buf, 4 + jlen, NULL, 0, reply);
	if (r == 0 && (reply->hdr.cmd != VUS_CMD_VERSION || reply->hdr.id != 0x5a5a ||
		       (reply->hdr.flags & VUS_F_ERROR) ||
		       (reply->hdr.flags & VUS_F_TYPE_MASK) != VUS_F_TYPE_REPLY))
		r = -EPROTO;
	if (reply == &local || r < 0)
		raw_msg_free(reply);
	return r;
}

uint32_t raw_u32(const struct raw_msg *m, size_t off)
{
	uint32_t v = 0;

	if (off + sizeof(v) <= m->len)
		memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

uint64_t raw_u64(const struct raw_msg *m, size_t off)
{
	uint64_t v = 0;

	if (off + sizeof(v) <= m->len)
		memcpy(&v, m->payload + off, sizeof(v));
	return v;
}
