/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client side shared by the stream harnesses (fuzz_dispatch,
 * fuzz_tenants): it plays one fuzz_stream.h input against a device that
 * lives across inputs, pumps the devices of the harness's loop as a poll
 * loop would, and checks the process's fd table cheaply.
 *
 * Per input, only the client's connection is new (the session ends when
 * the client hangs up, as on any disconnect): in memory a dup of one
 * socketpair's end made once (fuzz_memq.h), else a new socketpair; and
 * the eventfds/memfds the input asks for. The device, its epoll set, its
 * timer and wake fds stay; the harness resets the device between inputs
 * through the library (vus_dev_reset()).
 */
#ifndef VUS_FUZZ_CLIENT_H
#define VUS_FUZZ_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include <vus/device.h>

/*
 * The fd oracle's range. fuzz_fd_init() lowers RLIMIT_NOFILE to this, so
 * no fd of the process can have a number at or above it: one poll() over
 * [0, FUZZ_FD_LIMIT) sees every open fd (POLLNVAL marks the closed ones),
 * where walking /proc/self/fd took a directory read per input. It is
 * also what a flood of fds runs into (EMFILE on the server's recvmsg()).
 */
#define FUZZ_FD_LIMIT 256u

struct fuzz_fds {
	uint8_t open[FUZZ_FD_LIMIT / 8]; /* bit per fd number */
	unsigned count;
};

/* Put fds[0..nfds) on msg as one SCM_RIGHTS message built in cbuf, cap
 * bytes aligned for a struct cmsghdr (nothing when nfds is 0). */
void fuzz_attach_fds(struct msghdr *msg, void *cbuf, size_t cap, const int *fds,
		     unsigned nfds);

/* Lower RLIMIT_NOFILE to FUZZ_FD_LIMIT; abort()s if an fd is above it. */
void fuzz_fd_init(void);
/* Which fds are open now. */
void fuzz_fd_snapshot(struct fuzz_fds *out);
/* abort() with the differing fds named if before and after differ. */
void fuzz_fd_compare(const char *who, const struct fuzz_fds *before,
		     const struct fuzz_fds *after);
/*
 * The oracle with one snapshot per input: the first call records the fd
 * table (call it once the harness is set up), each later one compares it
 * with the previous call's and keeps the new one. Between two inputs
 * nothing opens or closes an fd that stays so (libFuzzer closes what it
 * writes), so one input's "after" is the next one's "before".
 */
void fuzz_fd_check(const char *who);

/* Devices served by one loop in one thread, as vusd serves them. */
struct fuzz_loop {
	struct vus_dev *devs[4];
	unsigned n;
};

/* Give every device with work turns until none has any (bounded). */
void fuzz_pump(const struct fuzz_loop *loop);

struct fuzz_client {
	const struct fuzz_loop *loop;
	struct vus_dev *dev;
	int sock;   /* our end of the main socket */
	int twin;   /* our end of the twin socket, or -1 */
	unsigned sndbuf; /* server-side SO_SNDBUF; 0: the kernel's */
	/* The main socket's bytes go through memory (fuzz_memq.h; needs
	 * fuzz_memq_install() first); the twin socket stays real. */
	bool mem;
	/* Called after each record has been sent and the loop has had its
	 * turn (NULL: nothing); record counts from 0. */
	void (*after_record)(void *opaque, unsigned record);
	void *opaque;
};

/* Connect a new client to c->dev (vus_dev_attach_fd() of a new server
 * fd: fuzz_memq_open()'s if c->mem, else one end of a new socketpair). */
int fuzz_client_open(struct fuzz_client *c);
/* Play the records of one input (fuzz_stream.h). */
void fuzz_client_feed(struct fuzz_client *c, const uint8_t *data, size_t size);
/* Read and drop what the server sent (keeping a twin socket). */
void fuzz_client_drain(struct fuzz_client *c);
/*
 * The client leaves: both sockets closed, the loop pumped until the
 * session has ended. false if the device still has a client after that
 * (a session that outlives its client's hang-up is a bug).
 */
bool fuzz_client_close(struct fuzz_client *c);

#endif /* VUS_FUZZ_CLIENT_H */
