/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The process's fd budget (fd_reserve.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* The process's spare fd and the listeners that count on it. */
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static int spare_fd = -1;
static unsigned spare_users;

static void spare_reopen(void)
{
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void vus_fd_spare_get(void)
{
	pthread_mutex_lock(&spare_lock);
	spare_users++;
	spare_reopen();
	pthread_mutex_unlock(&spare_lock);
}

void vus_fd_spare_put(void)
{
	pthread_mutex_lock(&spare_lock);
	if (spare_users > 0 && --spare_users == 0 && spare_fd >= 0) {
		close(spare_fd);
		spare_fd = -1;
	}
	pthread_mutex_unlock(&spare_lock);
}

int vus_accept_shed(int lfd)
{
	int fd, rc = 0;

	pthread_mutex_lock(&spare_lock);
	if (spare_fd >= 0)
		close(spare_fd);
	spare_fd = -1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	else
		rc = errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* Opened again while some device still listens (its put() closes it). */
	if (spare_users > 0)
		spare_reopen();
	pthread_mutex_unlock(&spare_lock);
	return rc;
}
