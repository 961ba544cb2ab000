/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Listening AF_UNIX sockets: the server side of docs/protocol.md 1.1.
 * vfio-user has no in-protocol authentication, so the socket file's
 * permissions are the access control (spec "Authentication"): the file is
 * never more open than the mode asked for, and nothing that is not a
 * socket is ever replaced.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "transport.h"

#define LISTEN_BACKLOG 16

/*
 * Make path free for bind(): nothing there, or a stale socket file (its
 * server died without unlinking it), which is removed. A socket someone
 * still accepts on is -EADDRINUSE; a symlink or any other file is
 * -EEXIST and left alone (lstat: a symlink is never followed).
 */
static int clear_stale(const struct sockaddr_un *addr)
{
	struct stat st;
	int probe, r;

	if (lstat(addr->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;

	/*
	 * Non-blocking probe: a live listener with a full backlog answers
	 * EAGAIN instead of blocking us. EPROTOTYPE: a live socket of another
	 * type is bound there. Only ECONNREFUSED means nobody is bound.
	 */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -errno;
	r = connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ? 0 : -errno;
	close(probe);
	if (r == 0 || r == -EAGAIN || r == -EPROTOTYPE)
		return -EADDRINUSE;
	if (r != -ECONNREFUSED)
		return r;
	if (unlink(addr->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int vus_listen_path(const char *path, unsigned mode, int *out_fd)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	size_t len;
	int fd, r;

	*out_fd = -1;
	if (!path || (mode & ~0777u))
		return -EINVAL;
	len = strlen(path);
	if (len == 0)
		return -EINVAL; /* Linux's abstract namespace has no permissions */
	if (len >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, len + 1);

	r = clear_stale(&addr);
	if (r < 0)
		return r;

	/* Non-blocking so vus_accept() can report -EAGAIN. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/*
	 * Linux's bind() creates the file with the socket inode's mode minus
	 * the umask (unix_bind_bsd), so after this fchmod() the file is never
	 * more open than mode, with no process-wide umask() games.
	 */
	if (fchmod(fd, mode) < 0 ||
	    bind(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		goto err_close;
	}
	/*
	 * The umask may have removed bits that were asked for: add them back
	 * before listen(), while a connect() is still refused. NOFOLLOW: if
	 * the path was swapped for a symlink meanwhile, fail, do not follow.
	 */
	if (lstat(path, &st) < 0) {
		r = -errno;
		goto err_unlink;
	}
	if ((st.st_mode & 0777) != mode &&
	    fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		goto err_unlink;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		r = -errno;
		goto err_unlink;
	}
	*out_fd = fd;
	return 0;

err_unlink:
	unlink(path);
err_close:
	close(fd);
	return r;
}

/*
 * The spec's --fd=FDNUM (docs/protocol.md 1.1): a socket the launcher
 * already bound and listened on. -ENOTSOCK/-EBADF for a non-socket,
 * -EAFNOSUPPORT for another family, -EPROTOTYPE for another type,
 * -EINVAL when it is not listening.
 */
int vus_listen_fd_check(int fd)
{
	int v;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
		return -errno;
	if (v != AF_UNIX)
		return -EAFNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
		return -errno;
	if (v != SOCK_STREAM)
		return -EPROTOTYPE;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
		return -errno;
	if (!v)
		return -EINVAL;
	return 0;
}

int vus_accept(int lfd, int *out_fd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			*out_fd = fd;
			return 0;
		}
		/* ECONNABORTED: that client gave up before we got to it; the
		 * next one may be waiting (accept(2)). */
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
}
