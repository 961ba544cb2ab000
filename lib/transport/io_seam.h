/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The system calls that move a connection's bytes, and the shutdown()
 * that ends them (library-internal).
 *
 * In a fuzz build (VUS_FUZZ_IO, defined by fuzz/CMakeLists.txt for its
 * own copy of the library, never by the normal build) they go through
 * vus_io, which a harness may point at an in-memory queue, so that a
 * request costs no system call (fuzz/README.md "Speed"). Everywhere else
 * they are recvmsg() and sendmsg() themselves: no pointer, no branch.
 * Not public API: no VUS_API, not in lib/vus.sym.
 */
#ifndef VUS_IO_SEAM_H
#define VUS_IO_SEAM_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef VUS_FUZZ_IO
struct vus_io_ops {
	ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
	ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
	int (*shutdown)(int fd, int how);
};
/* The real system calls unless a harness set it (before any I/O). */
extern const struct vus_io_ops *vus_io;
extern const struct vus_io_ops vus_io_real;
#define vus_io_recvmsg(fd, msg, flags) (vus_io->recvmsg((fd), (msg), (flags)))
#define vus_io_sendmsg(fd, msg, flags) (vus_io->sendmsg((fd), (msg), (flags)))
#define vus_io_shutdown(fd, how) (vus_io->shutdown((fd), (how)))
static inline ssize_t vus_io_send(int fd, const void *buf, size_t len, int flags)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	return vus_io->sendmsg(fd, &msg, flags);
}
#else
#define vus_io_recvmsg(fd, msg, flags) recvmsg((fd), (msg), (flags))
#define vus_io_sendmsg(fd, msg, flags) sendmsg((fd), (msg), (flags))
#define vus_io_shutdown(fd, how) shutdown((fd), (how))
/* One buffer, no fds: send() spares the kernel copying in a msghdr and
 * an iovec array (docs/performance.md "Instructions per request"). */
#define vus_io_send(fd, buf, len, flags) send((fd), (buf), (len), (flags))
#endif

#endif /* VUS_IO_SEAM_H */
