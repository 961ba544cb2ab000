/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Close every fd a new process must not keep (docs/security.md
 * "Isolation"): the spawner at its start, each isolated device's child
 * before it creates its device. A file of its own so that both reach it
 * without a call into the other.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vusd.h"

static bool kept(const int *keep, size_t n, int fd)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (keep[i] == fd)
			return true;
	return fd <= 2;
}

static int close_walk(const int *keep, size_t n)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int fds[256];
	size_t nr;

	if (!dir)
		return -errno;
	/* Collect, then close: closing while reading the directory would
	 * change it under readdir(). Repeat until none is left. */
	do {
		nr = 0;
		rewinddir(dir);
		while ((e = readdir(dir)) && nr < 256) {
			char *end;
			long fd = strtol(e->d_name, &end, 10);

			if (*end || end == e->d_name || fd == dirfd(dir) || kept(keep, n, (int)fd))
				continue;
			fds[nr++] = (int)fd;
		}
		for (size_t i = 0; i < nr; i++)
			close(fds[i]);
	} while (nr);
	closedir(dir);
	return 0;
}

int vusd_close_fds_except(const int *keep, size_t n)
{
	unsigned lo = 3, hi;
	size_t i;
	int next;

	/* close_range() (Linux 5.9) over the gaps between kept fds, from
	 * lowest to highest; the /proc walk where the kernel lacks it, or
	 * when VUSD_TEST_FD_WALK is set (test_vusd_isolation checks both). */
	if (getenv("VUSD_TEST_FD_WALK"))
		return close_walk(keep, n);
	for (;;) {
		next = -1;
		for (i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (next < 0 || keep[i] < next))
				next = keep[i];
		hi = next < 0 ? ~0u : (unsigned)next - 1;
		if (hi >= lo && syscall(SYS_close_range, lo, hi, 0) < 0)
			return errno == ENOSYS ? close_walk(keep, n) : -errno;
		if (next < 0)
			return 0;
		lo = (unsigned)next + 1;
	}
}
