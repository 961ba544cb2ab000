/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stream harnesses' client, loop and fd oracle (fuzz_client.h).
 *
 * The client sends each record of the input, lets the loop handle what is
 * ready and, unless the record says otherwise, reads and drops what came
 * back -- keeping the twin socket if the VERSION reply carried one.
 * Costs per record over a socket are a handful of system calls (5 for a
 * request and its reply): the send, the device's own read and reply, one
 * poll() over the loop's devices per pump turn after the first, and the
 * read of what came back. Over the in-memory connection (c->mem,
 * fuzz_memq.h) only the poll() is left (fuzz/README.md "Speed").
 */
#define _GNU_SOURCE /* memfd_create */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "fuzz_client.h"
#include "fuzz_memq.h"
#include "fuzz_stream.h"

/* Pump turns: each vus_dev_process() handles up to 256 messages. */
#define PUMP_TURNS 64
/* Pump turns after the client closed its sockets: the session's end
 * needs one or two; more means it does not end. */
#define CLOSE_TURNS 16

/* ---- fd oracle ------------------------------------------------------ */

static struct pollfd fd_probe[FUZZ_FD_LIMIT];

void fuzz_fd_init(void)
{
	struct rlimit rl;
	struct dirent *e;
	char sym[256];
	DIR *d;
	unsigned i;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		abort();
	if (rl.rlim_cur > FUZZ_FD_LIMIT) {
		rl.rlim_cur = FUZZ_FD_LIMIT;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			abort();
	}
	/* An fd opened before the limit was lowered may lie above it. */
	d = opendir("/proc/self/fd");
	if (!d)
		abort();
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' && (unsigned)atoi(e->d_name) >= FUZZ_FD_LIMIT) {
			fprintf(stderr, "fuzz: fd %s is above the oracle's range\n", e->d_name);
			abort();
		}
	}
	closedir(d);
	/* libFuzzer names the functions a new input reaches through the
	 * sanitizers' symbolizer, which starts a process at its first use
	 * and keeps the pipes to it: start it now, so that its fds are part
	 * of the table every input must leave as it found it. */
	__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", sym, sizeof(sym));
	for (i = 0; i < FUZZ_FD_LIMIT; i++)
		fd_probe[i] = (struct pollfd){ .fd = (int)i, .events = 0 };
}

void fuzz_fd_snapshot(struct fuzz_fds *out)
{
	struct timespec now = { 0, 0 };
	unsigned i;

	memset(out, 0, sizeof(*out));
	/* events 0: nothing is waited for; closed fds answer POLLNVAL. The
	 * system call itself: ASan's poll() interceptor would check the
	 * whole array twice per call, which cost more than the kernel. */
	if (syscall(SYS_ppoll, fd_probe, (unsigned long)FUZZ_FD_LIMIT, &now, NULL, 0) < 0)
		abort();
	for (i = 0; i < FUZZ_FD_LIMIT; i++) {
		if (!(fd_probe[i].revents & POLLNVAL)) {
			out->open[i / 8] |= (uint8_t)(1u << (i % 8));
			out->count++;
		}
	}
}

static bool fd_open_in(const struct fuzz_fds *s, unsigned fd)
{
	return s->open[fd / 8] & (1u << (fd % 8));
}

void fuzz_fd_compare(const char *who, const struct fuzz_fds *before,
		     const struct fuzz_fds *after)
{
	unsigned i;

	if (!memcmp(before->open, after->open, sizeof(before->open)))
		return;
	fprintf(stderr, "%s: %u fds open before the input, %u after\n", who, before->count,
		after->count);
	for (i = 0; i < FUZZ_FD_LIMIT; i++) {
		char link[64], target[256];
		ssize_t n;

		if (fd_open_in(before, i) == fd_open_in(after, i))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%u", i);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "  fd %u: %s %s\n", i, fd_open_in(after, i) ? "opened" : "closed",
			target);
	}
	abort();
}

void fuzz_fd_check(const char *who)
{
	static struct fuzz_fds last;
	static bool have;
	struct fuzz_fds now;

	fuzz_fd_snapshot(&now);
	if (have)
		fuzz_fd_compare(who, &last, &now);
	last = now;
	have = true;
}

/* ---- the loop ------------------------------------------------------- */

void fuzz_pump(const struct fuzz_loop *loop)
{
	struct pollfd p[4];
	unsigned i, turn;

	if (loop->n > 4)
		abort();
	for (i = 0; i < loop->n; i++)
		p[i] = (struct pollfd){ .fd = vus_dev_poll_fd(loop->devs[i]), .events = POLLIN };
	for (turn = 0; turn < PUMP_TURNS; turn++) {
		/* In-memory bytes for a server: its epoll cannot see them,
		 * vus_dev_process() reads them first thing (fuzz_memq.h). */
		bool input = fuzz_memq_input_pending();
		uint64_t moved = fuzz_memq_moved();
		int ready = poll(p, loop->n, 0);

		if (ready <= 0 && !input)
			return;
		for (i = 0; i < loop->n; i++) {
			if (p[i].revents || input)
				vus_dev_process(loop->devs[i]);
		}
		/* Input the server does not take now (a held reply, output
		 * waiting for the client): leave it for later, as a socket
		 * would. */
		if (ready <= 0 && fuzz_memq_moved() == moved)
			return;
	}
}

/* Bytes were just sent to c's device: it has work, no need to ask poll()
 * first (one system call less per record). */
static void pump_sent(struct fuzz_client *c)
{
	vus_dev_process(c->dev);
	fuzz_pump(c->loop);
}

/* ---- the client ----------------------------------------------------- */

static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* A received fd: the VERSION reply's is the twin socket; region fds
 * are memfds, dropped. */
static void take_fd(struct fuzz_client *c, int f)
{
	if (c->twin < 0 && is_socket(f))
		c->twin = f;
	else
		close(f);
}

/* Static: a 64 KiB stack array costs ASan its shadow per call. */
static uint8_t drain_buf[65536];

/* drain() for the in-memory connection. */
static void drain_mem(struct fuzz_client *c)
{
	int fds[FUZZ_MEMQ_MAX_FDS];
	unsigned nfds = FUZZ_MEMQ_MAX_FDS, i;

	while (fuzz_memq_client_recv(drain_buf, sizeof(drain_buf), fds, &nfds)) {
		for (i = 0; i < nfds; i++)
			take_fd(c, fds[i]);
		nfds = FUZZ_MEMQ_MAX_FDS;
	}
}

/* Read and drop what the server sent on fd; keep a twin socket. */
static void drain(struct fuzz_client *c, int fd)
{
	uint8_t *buf = drain_buf;

	if (c->mem && fd == c->sock) {
		drain_mem(c);
		return;
	}
	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(8 * sizeof(int))];
		} ctl;
		struct iovec iov = { buf, sizeof(drain_buf) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				      .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return;
		/* A short read without fds emptied the queue (the kernel
		 * stops early only after a message's fds): no second
		 * recvmsg() just to hear EAGAIN. */
		if (!msg.msg_controllen) {
			if ((size_t)n < sizeof(drain_buf))
				return;
			continue;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t i, k;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
				take_fd(c, f);
			}
		}
	}
}

void fuzz_client_drain(struct fuzz_client *c)
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

void fuzz_attach_fds(struct msghdr *msg, void *cbuf, size_t cap, const int *fds,
		     unsigned nfds)
{
	struct cmsghdr *cm;

	if (!nfds || CMSG_SPACE(nfds * sizeof(int)) > cap)
		return;
	memset(cbuf, 0, cap);
	msg->msg_control = cbuf;
	msg->msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
}

/*
 * Send one record, with fds (made here, kept open in fds[]) on its first
 * byte. While the socket is full the loop gets turns (and the replies are
 * read) so the stream moves; gives up if it does not. Returns the number
 * of fds made.
 */
static int send_record(struct fuzz_client *c, uint8_t ctl, const uint8_t *p, size_t len,
		       int fds[3])
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} cbuf;
	int nfds = ctl & FUZZ_CTL_NFDS, i, stuck = 0;
	int sock = (ctl & FUZZ_CTL_TWIN) && c->twin >= 0 ? c->twin : c->sock;
	struct msghdr msg = { 0 };
	struct iovec iov;

	/* A failed fd ends the list. */
	for (i = 0; i < nfds && (fds[i] = new_fd(ctl & FUZZ_CTL_MEMFD)) >= 0; i++)
		;
	nfds = i;
	fuzz_attach_fds(&msg, cbuf.buf, sizeof(cbuf), fds, (unsigned)nfds);
	while (len > 0 && stuck < 4) {
		ssize_t n;

		iov = (struct iovec){ (void *)p, len };
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (c->mem && sock == c->sock)
			n = fuzz_memq_client_send(p, len, msg.msg_controllen ? fds : NULL,
						  msg.msg_controllen ? (unsigned)nfds : 0);
		else
			n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			break; /* the server hung up */
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			msg.msg_control = NULL;
			msg.msg_controllen = 0;
			stuck = 0;
			if (!len)
				break; /* fuzz_client_feed() pumps */
		} else {
			stuck++;
		}
		pump_sent(c);
		if (!(ctl & FUZZ_CTL_NO_READ) || stuck)
			fuzz_client_drain(c);
	}
	return nfds;
}

/*
 * What the client does with a record's fds once the server has had its
 * turn on the record (so a DMA_MAP is in place before its memory goes):
 * signal eventfds, shrink memfds, then close its copies.
 */
static void after_record(struct fuzz_client *c, uint8_t ctl, const int *fds, int nfds)
{
	int i;

	for (i = 0; i < nfds; i++) {
		if (ctl & FUZZ_CTL_MEMFD) {
			/* The client's memory goes away under the server's
			 * maps: its copies through them fault (SIGBUS). */
			if (ctl & FUZZ_CTL_SHRINK)
				(void)!ftruncate(fds[i], 0);
		} else if (ctl & FUZZ_CTL_SIGNAL) {
			eventfd_write(fds[i], 1);
		}
		close(fds[i]);
	}
	if ((ctl & (FUZZ_CTL_SIGNAL | FUZZ_CTL_SHRINK)) && nfds)
		fuzz_pump(c->loop);
}

/* The in-memory connection: no socket made or closed per session
 * (fuzz_memq.h). */
static int open_mem(struct fuzz_client *c)
{
	int srv, cli, err;

	srv = fuzz_memq_open(&cli);
	if (srv < 0)
		return -errno;
	err = vus_dev_attach_fd(c->dev, srv);
	if (err) {
		fuzz_memq_close();
		close(srv);
		return err;
	}
	c->sock = cli;
	return 0;
}

int fuzz_client_open(struct fuzz_client *c)
{
	int sv[2], err, buf = (int)c->sndbuf;

	c->sock = c->twin = -1;
	if (c->mem)
		return open_mem(c);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	err = vus_dev_attach_fd(c->dev, sv[0]);
	if (err) {
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	/* After the attach: the session asks for a send buffer as large as
	 * a message (vus_conn_grow_sndbuf()), and a small one is the point. */
	if (buf)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	c->sock = sv[1];
	return 0;
}

void fuzz_client_feed(struct fuzz_client *c, const uint8_t *data, size_t size)
{
	unsigned record = 0;
	int fds[3], nfds;

	while (size > 0) {
		uint8_t ctl = data[0];
		size_t len = 0;

		if (size >= FUZZ_REC_HDR)
			len = (size_t)data[1] | (size_t)data[2] << 8;
		data += size < FUZZ_REC_HDR ? size : FUZZ_REC_HDR;
		size -= size < FUZZ_REC_HDR ? size : FUZZ_REC_HDR;
		if (len > size)
			len = size;
		nfds = send_record(c, ctl, data, len, fds);
		pump_sent(c);
		if (!(ctl & FUZZ_CTL_NO_READ))
			fuzz_client_drain(c);
		after_record(c, ctl, fds, nfds);
		if (c->after_record)
			c->after_record(c->opaque, record++);
		data += len;
		size -= len;
	}
}

bool fuzz_client_close(struct fuzz_client *c)
{
	unsigned i;

	/* The client leaves: what it sent is served first (its EOF comes
	 * after), and the replies are read, as in a clean disconnect. */
	if (c->mem)
		fuzz_memq_shutdown();
	else
		shutdown(c->sock, SHUT_WR);
	fuzz_pump(c->loop);
	fuzz_client_drain(c);
	/* The in-memory connection's socket is not this session's. */
	if (c->mem)
		fuzz_memq_hangup();
	else
		close(c->sock);
	if (c->twin >= 0)
		close(c->twin);
	c->sock = c->twin = -1;
	for (i = 0; i < CLOSE_TURNS && vus_dev_client_attached(c->dev); i++)
		fuzz_pump(c->loop);
	/* What the client never read goes with its socket. */
	if (c->mem)
		fuzz_memq_close();
	return !vus_dev_client_attached(c->dev);
}
