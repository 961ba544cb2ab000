/* SPDX-License-Identifier: BSD-3-Clause */
/* Count this process's open fds (fdcount.h). */
#include <dirent.h>
#include <errno.h>
#include <time.h>

#include "fdcount.h"

int fdcount(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	/* opendir's own fd was listed too. */
	return n - 1;
}

bool fdcount_wait(int want, int ms)
{
	struct timespec ts = { 0, 5 * 1000000L };
	int waited = 0;

	for (;;) {
		int n = fdcount();

		if (n >= 0 && n <= want)
			return true;
		if (waited >= ms)
			return false;
		nanosleep(&ts, NULL);
		waited += 5;
	}
}
