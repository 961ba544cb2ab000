/* SPDX-License-Identifier: BSD-3-Clause */
/* Count this process's open fds, for leak checks. */
#ifndef VUS_TEST_FDCOUNT_H
#define VUS_TEST_FDCOUNT_H

#include <stdbool.h>
#include <sys/types.h>

/* Open fds of this process (entries of /proc/self/fd, minus the one used
 * to read it); -errno on failure. */
int fdcount(void);
/* Wait up to ms for fdcount() to drop to want or below (the in-process
 * server closes fds on its own thread); true if it did. */
bool fdcount_wait(int want, int ms);
/* Open fds of another process (entries of /proc/PID/fd); -errno on
 * failure. */
int fdcount_pid(pid_t pid);

#endif /* VUS_TEST_FDCOUNT_H */
