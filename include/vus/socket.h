/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AF_UNIX listening sockets as libvus makes them, for programs that
 * create their sockets themselves (vusd makes each device's socket, and
 * its control socket, before handing the fd to vus_dev_listen_fd()).
 * vfio-user has no in-protocol authentication (spec "Authentication"):
 * the socket file's mode is the access control.
 */
#ifndef VUS_SOCKET_H
#define VUS_SOCKET_H

#include <vus/api.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Create an AF_UNIX stream listener at path (non-blocking, close-on-exec).
 * Refuses a path held by a live listener (-EADDRINUSE), replaces a stale
 * socket file, refuses a path that is a symlink or not a socket
 * (-EEXIST), never follows a symlink. mode: permission bits for the
 * socket file (e.g. 0600); the file is never more open than that.
 */
VUS_API int vus_listen_path(const char *path, unsigned mode, int *out_fd);
/* Check that fd is a listening AF_UNIX stream socket (the spec's --fd). */
VUS_API int vus_listen_fd_check(int fd);
/* accept4 non-blocking + close-on-exec; -EAGAIN when nothing is pending. */
VUS_API int vus_accept(int lfd, int *out_fd);

#ifdef __cplusplus
}
#endif

#endif /* VUS_SOCKET_H */
