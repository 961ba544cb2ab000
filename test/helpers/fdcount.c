/* SPDX-License-Identifier: BSD-3-Clause */
/* Count open fds, for leak checks (fdcount.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>

#include "clock.h"
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
	int64_t deadline = test_now_ms() + ms;

	for (;;) {
		int n = fdcount();

		if (n >= 0 && n <= want)
			return true;
		if (test_now_ms() >= deadline)
			return false;
		test_sleep_ms(5);
	}
}

int fdcount_pid(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}
