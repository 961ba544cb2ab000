/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the whole server: transport, dispatch, handlers,
 * the DMA engine, migration and the testdev device behind them, fed one
 * client's byte stream over a real socketpair with real fds attached
 * (input format: fuzz_stream.h).
 *
 * Each input gets a fresh device (fuzz_stream.h) attached to one end of a
 * socketpair with a small send buffer, so partial sends and the output
 * queue are exercised. The harness plays the client: it sends each
 * record, lets the device process what is ready (vus_dev_process(), the
 * library's own non-blocking entry point) and, unless the record says
 * otherwise, reads and discards what came back -- keeping the twin
 * socket if the VERSION reply carried one. At the end it closes its side
 * and frees the device.
 *
 * Checked beyond the sanitizers: no fd of the process outlives an input
 * (every fd the server received, dup'ed or created is released when the
 * session and the device go).
 */
#define _GNU_SOURCE /* memfd_create */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_stream.h"

/* vus_dev_process() calls per pump: each handles up to 256 messages. */
#define PUMP_TURNS 64
/* Server-side socket buffer: small, so replies often do not fit. */
#define SNDBUF 16384

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct client {
	struct vus_dev *dev;
	int sock;   /* our end of the main socket */
	int twin;   /* our end of the twin socket, or -1 */
};

static void quiet(void *opaque, enum vus_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Let the device handle whatever is ready, as a poll loop would. */
static void pump(struct vus_dev *dev)
{
	struct pollfd p = { .fd = vus_dev_poll_fd(dev), .events = POLLIN };
	int i;

	for (i = 0; i < PUMP_TURNS && poll(&p, 1, 0) > 0; i++)
		vus_dev_process(dev);
}

static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Read and drop what the server sent on fd; keep a twin socket. */
static void drain(struct client *c, int fd)
{
	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(8 * sizeof(int))];
		} ctl;
		uint8_t buf[65536];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				      .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t i, k;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
				/* The VERSION reply's fd is the twin socket;
				 * region fds are memfds. */
				if (c->twin < 0 && is_socket(f))
					c->twin = f;
				else
					close(f);
			}
		}
	}
}

static void drain_all(struct client *c)
{
	drain(c, c->sock);
	if (c->twin >= 0)
		drain(c, c->twin);
}

static int new_fd(bool memfd)
{
	int fd;

	if (!memfd)
		return eventfd(0, EFD_CLOEXEC);
	fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, FUZZ_MEMFD_SIZE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Send one record, fds on its first byte. While the socket is full the
 * device gets turns (and its replies are read) so the stream moves;
 * gives up if it does not.
 */
static void send_record(struct client *c, uint8_t ctl, const uint8_t *p, size_t len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} cbuf;
	int fds[3], nfds = ctl & FUZZ_CTL_NFDS, i, stuck = 0;
	int sock = (ctl & FUZZ_CTL_TWIN) && c->twin >= 0 ? c->twin : c->sock;
	struct msghdr msg = { 0 };
	struct iovec iov;

	/* A failed fd ends the list. */
	for (i = 0; i < nfds && (fds[i] = new_fd(ctl & FUZZ_CTL_MEMFD)) >= 0; i++)
		;
	nfds = i;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	while (len > 0 && stuck < 4) {
		ssize_t n;

		iov = (struct iovec){ (void *)p, len };
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			break; /* the server hung up */
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			msg.msg_control = NULL;
			msg.msg_controllen = 0;
			stuck = 0;
		} else {
			stuck++;
		}
		pump(c->dev);
		if (!(ctl & FUZZ_CTL_NO_READ) || stuck)
			drain_all(c);
	}
	for (i = 0; i < nfds; i++) {
		if ((ctl & FUZZ_CTL_SIGNAL) && !(ctl & FUZZ_CTL_MEMFD))
			eventfd_write(fds[i], 1);
		close(fds[i]);
	}
	if ((ctl & FUZZ_CTL_SIGNAL) && nfds)
		pump(c->dev);
}

static void run(const uint8_t *data, size_t size)
{
	struct testdev *td;
	struct client c = { .sock = -1, .twin = -1 };
	int sv[2], buf = SNDBUF;

	c.dev = fuzz_dev_new(&td);
	if (!c.dev)
		abort();
	/* TRACE: every message also goes through the trace formatters. */
	vus_dev_set_log(c.dev, quiet, NULL, VUS_LOG_TRACE);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (vus_dev_attach_fd(c.dev, sv[0]) < 0)
		abort();
	c.sock = sv[1];

	while (size > 0) {
		uint8_t ctl = data[0];
		size_t len = 0;

		if (size >= FUZZ_REC_HDR)
			len = (size_t)data[1] | (size_t)data[2] << 8;
		data += size < FUZZ_REC_HDR ? size : FUZZ_REC_HDR;
		size -= size < FUZZ_REC_HDR ? size : FUZZ_REC_HDR;
		if (len > size)
			len = size;
		send_record(&c, ctl, data, len);
		pump(c.dev);
		if (!(ctl & FUZZ_CTL_NO_READ))
			drain_all(&c);
		data += len;
		size -= len;
	}

	/* The client leaves: the session ends as on any disconnect. */
	shutdown(c.sock, SHUT_WR);
	pump(c.dev);
	drain_all(&c);
	testdev_free(td);
	close(c.sock);
	if (c.twin >= 0)
		close(c.twin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int before = count_fds();

	run(data, size);
	if (count_fds() != before) {
		fprintf(stderr, "fuzz_dispatch: %d fds before the input, %d after\n", before,
			count_fds());
		abort();
	}
	return 0;
}
