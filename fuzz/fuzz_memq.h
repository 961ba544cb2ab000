/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An in-memory connection for fuzz_dispatch (fuzz/README.md "Speed").
 *
 * The library's transport moves a connection's bytes with recvmsg() and
 * sendmsg() through a seam (lib/transport/io_seam.h) that exists only in
 * the fuzz build of the library. fuzz_memq_install() points it here: one
 * server fd at a time (fuzz_memq_open()) then talks to the harness's
 * client through two byte queues in memory; every other fd (the twin
 * socket, anything else) still uses the kernel.
 *
 * What the kernel would do is kept where the server can tell:
 *  - fds are real fds, dup'ed on send and handed over on receive, so the
 *    fd oracle still counts them; a receive stops after the bytes that
 *    carried fds, which come with the first of them (docs/protocol.md
 *    1.3), and a control buffer too small for them gets MSG_CTRUNC;
 *  - the queue toward the client holds FUZZ_MEMQ_TO_CLIENT bytes: a
 *    reply that does not fit is sent in part or not at all (EAGAIN), so
 *    the server's output queue and partial sends are exercised;
 *  - readiness: one real socketpair, made once, carries it for every
 *    session. Each session's server fd is a new dup of its server end
 *    (the library closes it when the session ends, and the fd oracle
 *    sees that it did); the client keeps the other end. While the queue
 *    toward the client is full the server's end is filled with junk so
 *    it does not poll writable; the client reading makes it writable
 *    again. While the server has output waiting, each client send also
 *    puts a junk byte on the real socket so the server's epoll sees
 *    input, as it would.
 *  - the stream's end: the client's shutdown() or hang-up, or the
 *    server's own shutdown() (lib/session/session.c, through the seam)
 *    puts a byte on the real socket, so the server's end polls readable
 *    as at a real EOF, and its receives return 0 once the queue is
 *    empty; after the client's hang-up or the server's shutdown its
 *    sends fail EPIPE. Nothing shuts the real socket down: the next
 *    session finds it empty and writable again (fuzz_memq_close()).
 * A receive that finds the queue empty asks the real socket only if the
 * client put junk there (nothing else can be): otherwise it is EAGAIN or
 * the EOF without a system call.
 */
#ifndef VUS_FUZZ_MEMQ_H
#define VUS_FUZZ_MEMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FUZZ_MEMQ_TO_SERVER (256u << 10)
#define FUZZ_MEMQ_TO_CLIENT (32u << 10)
/* fds one receive of the client takes at most */
#define FUZZ_MEMQ_MAX_FDS 64u

/* Route the library's socket I/O through here and make the real
 * socketpair (once, before any I/O; its two fds stay open). */
void fuzz_memq_install(void);
/* fuzz_memq_install() unless FUZZ_SOCKETS is set to anything but "0"
 * (then real socketpairs, fuzz/README.md); true when installed. */
bool fuzz_memq_setup(void);
/* A new session: returns the server's fd (a new dup of the pair's
 * server end, for vus_dev_attach_fd(), which then owns it) or -1 with
 * errno; *client_fd is the client's end, which stays the pair's. */
int fuzz_memq_open(int *client_fd);
/* The client has shut its end down for writing (shutdown(SHUT_WR)). */
void fuzz_memq_shutdown(void);
/* The client has hung up: the server's sends fail EPIPE from now on. */
void fuzz_memq_hangup(void);
/* The session is over: drop what nobody read, closing its fds, and the
 * junk on the real socket. */
void fuzz_memq_close(void);
/* Client side, never blocking: bytes taken (fds with the first), -1 with
 * errno EAGAIN when the queue is full. */
ssize_t fuzz_memq_client_send(const void *p, size_t len, const int *fds, unsigned nfds);
/* Bytes read (0: nothing there); *nfds fds now the caller's. */
size_t fuzz_memq_client_recv(void *p, size_t len, int *fds, unsigned *nfds);
/* Bytes wait for the server. */
bool fuzz_memq_input_pending(void);
/* Bytes and fds moved so far, either way (progress of a pump turn). */
uint64_t fuzz_memq_moved(void);

#endif /* VUS_FUZZ_MEMQ_H */
