/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Close-on-exec of one fd turned off (kept across a live update's execve,
 * docs/live-update.md) or back on. A negative fd is skipped; a failing
 * fcntl() leaves the flag as it was (the fd is then not the caller's to
 * change, and the exec that follows reports what it lacks).
 */
#ifndef VUS_FD_CLOEXEC_H
#define VUS_FD_CLOEXEC_H

#include <fcntl.h>
#include <stdbool.h>

static inline void vus_fd_cloexec(int fd, bool on)
{
	int fl;

	if (fd < 0)
		return;
	fl = fcntl(fd, F_GETFD);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFD, on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC));
}

#endif
