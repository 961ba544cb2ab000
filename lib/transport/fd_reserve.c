/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The process's fd budget (fd_reserve.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vus/device.h>

#include "fd_reserve.h"

int vus_fd_check_reserve(int fd)
{
	struct rlimit rl;
	uint64_t reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	reserve = rl.rlim_cur / 16 > VUS_FD_RESERVE ? rl.rlim_cur / 16 : VUS_FD_RESERVE;
	/*
	 * The kernel hands out the lowest free number, so a client's fd
	 * numbered within the reserve means (nearly) every fd below it is
	 * taken. Cheap and conservative: holes below only make us refuse
	 * early.
	 */
	if ((uint64_t)fd + reserve >= rl.rlim_cur)
		return -EMFILE;
	return 0;
}

void vus_fd_spare_open(int *spare)
{
	if (*spare < 0)
		*spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void vus_fd_spare_close(int *spare)
{
	if (*spare >= 0)
		close(*spare);
	*spare = -1;
}

int vus_accept_shed(int lfd, int *spare)
{
	int fd, rc = 0;

	vus_fd_spare_close(spare);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	else
		rc = errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	vus_fd_spare_open(spare);
	return rc;
}
