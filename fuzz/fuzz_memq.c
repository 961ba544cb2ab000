/* SPDX-License-Identifier: BSD-3-Clause */
/* The in-memory connection of fuzz_dispatch; the contract is in fuzz_memq.h. */
#define _GNU_SOURCE /* F_DUPFD_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_memq.h"
#include "io_seam.h"

#ifndef VUS_FUZZ_IO
#error "fuzz_memq.c needs the library's I/O seam (VUS_FUZZ_IO)"
#endif

#define MAX_MARKS 64u
#define MARK_FDS 64u /* as many as one message may carry */

/* The bytes [start, end) were sent with fds. */
struct mark {
	size_t start, end;
	int fds[MARK_FDS];
	unsigned nfds;
	bool given; /* handed over with the first byte read */
};

/* One direction: bytes buf[head, tail), marks in byte order. */
struct dir {
	uint8_t *buf;
	size_t limit, head, tail;
	struct mark marks[MAX_MARKS];
	unsigned nmarks;
};

static struct dir to_server, to_client;
/* The one real socketpair every session's readiness goes through
 * (fuzz_memq.h): pair_srv is dup'ed for each session's server fd
 * (srv_fd), pair_cli is the client's end. */
static int pair_srv = -1, pair_cli = -1;
static int srv_fd = -1, cli_fd = -1;
static bool hung_up, junk_out, srv_blocked;
/* What the real socket may hold for the server: junk bytes sent, the
 * client's EOF, or the EOF of the server's own shutdown(). None: nothing,
 * and a receive needs no system call. */
static bool junk_in, client_eof, srv_shut;
static uint64_t moved;

static void dir_init(struct dir *d, size_t limit)
{
	d->buf = malloc(limit);
	if (!d->buf)
		abort();
	d->limit = limit;
}

static void dir_clear(struct dir *d)
{
	unsigned i, k;

	for (i = 0; i < d->nmarks; i++) {
		if (d->marks[i].given)
			continue;
		for (k = 0; k < d->marks[i].nfds; k++)
			close(d->marks[i].fds[k]);
	}
	d->nmarks = 0;
	d->head = d->tail = 0;
}

static size_t dir_room(const struct dir *d)
{
	return d->limit - (d->tail - d->head);
}

/* Append up to len bytes gathered from iov (fds, dup'ed, on the first). */
static ssize_t dir_put(struct dir *d, const struct iovec *iov, size_t iovcnt, const int *fds,
		       unsigned nfds)
{
	size_t room = dir_room(d), want = 0, n, i;
	struct mark *m = NULL;

	for (i = 0; i < iovcnt; i++)
		want += iov[i].iov_len;
	if (!want)
		return 0;
	if (!room || (nfds && d->nmarks == MAX_MARKS)) {
		errno = EAGAIN;
		return -1;
	}
	if (nfds > MARK_FDS) {
		errno = ETOOMANYREFS;
		return -1;
	}
	if (d->tail + room > d->limit) {
		memmove(d->buf, d->buf + d->head, d->tail - d->head);
		for (i = 0; i < d->nmarks; i++) {
			d->marks[i].start -= d->head;
			d->marks[i].end -= d->head;
		}
		d->tail -= d->head;
		d->head = 0;
	}
	n = want < room ? want : room;
	if (nfds) {
		m = &d->marks[d->nmarks];
		m->nfds = 0;
		m->given = false;
		for (i = 0; i < nfds; i++) {
			int f = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);

			if (f < 0) {
				int e = errno;

				while (m->nfds)
					close(m->fds[--m->nfds]);
				errno = e;
				return -1;
			}
			m->fds[m->nfds++] = f;
		}
		m->start = d->tail;
		m->end = d->tail + n;
		d->nmarks++;
	}
	for (i = 0, want = n; want; i++) {
		size_t k = iov[i].iov_len < want ? iov[i].iov_len : want;

		memcpy(d->buf + d->tail, iov[i].iov_base, k);
		d->tail += k;
		want -= k;
	}
	moved += n + nfds;
	return (ssize_t)n;
}

/*
 * Take up to len bytes, as a stream socket's receive would: the bytes
 * sent with fds end the read, which carries the fds if it holds the
 * first of those bytes. *nfds: in, room for fds; out, fds taken. More
 * fds than room: the rest are closed and *trunc set.
 */
static size_t dir_get(struct dir *d, void *p, size_t len, int *fds, unsigned *nfds,
		      bool *trunc)
{
	size_t n = d->tail - d->head;
	unsigned room = *nfds, i;
	struct mark *m = d->nmarks ? &d->marks[0] : NULL;

	*nfds = 0;
	*trunc = false;
	if (n > len)
		n = len;
	if (m && d->head + n > m->start) {
		if (n > m->end - d->head)
			n = m->end - d->head;
		if (!m->given) {
			for (i = 0; i < m->nfds; i++) {
				if (i < room) {
					fds[(*nfds)++] = m->fds[i];
				} else {
					close(m->fds[i]);
					*trunc = true;
				}
			}
			m->given = true;
			moved += m->nfds;
		}
	}
	memcpy(p, d->buf + d->head, n);
	d->head += n;
	if (m && d->head >= m->end)
		memmove(&d->marks[0], &d->marks[1], --d->nmarks * sizeof(*m));
	if (d->head == d->tail && !d->nmarks)
		d->head = d->tail = 0;
	moved += n;
	return n;
}

/* ---- the real socket's readiness ------------------------------------ */

/* A byte for the server's end to poll readable: junk (junk_in) or the
 * stream's end (client_eof, srv_shut), which recvmsg() tells apart. */
static void poke(void)
{
	if (!junk_in && send(cli_fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		junk_in = true;
}

/* Read and drop what fd holds (junk only). A short read emptied it: no
 * second recv() just to hear EAGAIN. */
static void drop_junk(int fd)
{
	static uint8_t junk[4096];

	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) == (ssize_t)sizeof(junk))
		;
}

/* ---- the server's side: the library's seam -------------------------- */

static ssize_t seam_recvmsg(int fd, struct msghdr *msg, int flags)
{
	int fds[MARK_FDS];
	unsigned nfds, room = 0;
	bool trunc;
	size_t n;

	if (fd != srv_fd || !msg->msg_iovlen)
		return vus_io_real.recvmsg(fd, msg, flags);
	if (to_server.head == to_server.tail) {
		/* Nothing queued: what the real socket has is junk (see
		 * fuzz_memq.h) or the stream's end. */
		if (client_eof || srv_shut) {
			/* The stream's end. The byte poke() put on the
			 * real socket stays, so the fd keeps polling
			 * readable, as at a real EOF. */
			msg->msg_controllen = 0;
			msg->msg_flags = 0;
			return 0;
		}
		if (junk_in) {
			drop_junk(fd);
			junk_in = false;
		}
		errno = EAGAIN;
		return -1;
	}
	if (msg->msg_controllen >= CMSG_LEN(0))
		room = (unsigned)((msg->msg_controllen - CMSG_LEN(0)) / sizeof(int));
	if (room > MARK_FDS)
		room = MARK_FDS;
	nfds = room;
	/* The library reads into one iovec. */
	n = dir_get(&to_server, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len, fds, &nfds,
		    &trunc);
	msg->msg_flags = trunc ? MSG_CTRUNC : 0;
	if (nfds) {
		struct cmsghdr *cm = CMSG_FIRSTHDR(msg);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
		msg->msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	} else {
		msg->msg_controllen = 0;
	}
	return (ssize_t)n;
}

/* Make the server's real end poll not writable while the queue is full. */
static void fill_junk(void)
{
	static const uint8_t junk[4096];
	int small = 4096;

	/* The session asks for a send buffer as large as a message
	 * (lib/transport/transport.c vus_conn_grow_sndbuf()); only junk
	 * goes through this socket, so a small one fills in a few sends. */
	(void)setsockopt(srv_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	while (send(srv_fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		;
	junk_out = true;
}

static ssize_t seam_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	int fds[MARK_FDS];
	unsigned nfds = 0;
	struct cmsghdr *cm;
	size_t want = 0, i;
	ssize_t n;

	if (fd != srv_fd)
		return vus_io_real.sendmsg(fd, msg, flags);
	if (hung_up || srv_shut) {
		errno = EPIPE;
		return -1;
	}
	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR((struct msghdr *)msg, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfds + k > MARK_FDS) {
			errno = ETOOMANYREFS;
			return -1;
		}
		memcpy(fds + nfds, CMSG_DATA(cm), k * sizeof(int));
		nfds += (unsigned)k;
	}
	for (i = 0; i < msg->msg_iovlen; i++)
		want += msg->msg_iov[i].iov_len;
	n = dir_put(&to_client, msg->msg_iov, msg->msg_iovlen, fds, nfds);
	srv_blocked = n < 0 || (size_t)n < want;
	if (n < 0 && errno == EAGAIN && !junk_out)
		fill_junk();
	return n;
}

/* The server ends the stream itself (a half-sent request): its loop
 * must see the EOF the kernel gives it. */
static int seam_shutdown(int fd, int how)
{
	if (fd != srv_fd)
		return vus_io_real.shutdown(fd, how);
	/* Not the real shutdown(): the socket outlives the session. */
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
		errno = EINVAL;
		return -1;
	}
	srv_shut = true;
	poke();
	return 0;
}

static const struct vus_io_ops memq_ops = { seam_recvmsg, seam_sendmsg, seam_shutdown };

/* ---- the harness's side ----------------------------------------------- */

void fuzz_memq_install(void)
{
	int sv[2];

	dir_init(&to_server, FUZZ_MEMQ_TO_SERVER);
	dir_init(&to_client, FUZZ_MEMQ_TO_CLIENT);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	pair_srv = sv[0];
	pair_cli = sv[1];
	vus_io = &memq_ops;
}

int fuzz_memq_open(int *client_fd)
{
	int fd = fcntl(pair_srv, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	srv_fd = fd;
	cli_fd = *client_fd = pair_cli;
	hung_up = junk_out = srv_blocked = junk_in = client_eof = srv_shut = false;
	return fd;
}

void fuzz_memq_shutdown(void)
{
	client_eof = true;
	poke();
}

void fuzz_memq_hangup(void)
{
	client_eof = hung_up = true;
	poke();
	/* A closed peer leaves the server's end writable (its sends then
	 * fail EPIPE): take the junk that kept it from polling so. */
	if (junk_out) {
		drop_junk(cli_fd);
		junk_out = false;
	}
}

void fuzz_memq_close(void)
{
	dir_clear(&to_server);
	dir_clear(&to_client);
	/* The next session starts on an empty, writable socket. */
	if (junk_in)
		drop_junk(pair_srv);
	if (junk_out)
		drop_junk(pair_cli);
	srv_fd = cli_fd = -1;
}

ssize_t fuzz_memq_client_send(const void *p, size_t len, const int *fds, unsigned nfds)
{
	struct iovec v = { (void *)p, len };
	ssize_t n = dir_put(&to_server, &v, 1, fds, nfds);

	/* The server waits for room to write and reads only what its epoll
	 * reports: let its real socket report input. */
	if (n > 0 && srv_blocked)
		poke();
	return n;
}

size_t fuzz_memq_client_recv(void *p, size_t len, int *fds, unsigned *nfds)
{
	bool trunc;
	size_t n = dir_get(&to_client, p, len, fds, nfds, &trunc);

	if (n && junk_out) {
		drop_junk(cli_fd);
		junk_out = false;
	}
	return n;
}

bool fuzz_memq_input_pending(void)
{
	return srv_fd >= 0 && to_server.head != to_server.tail;
}

uint64_t fuzz_memq_moved(void)
{
	return moved;
}

bool fuzz_memq_setup(void)
{
	const char *e = getenv("FUZZ_SOCKETS");

	if (e && strcmp(e, "0"))
		return false;
	fuzz_memq_install();
	return true;
}
