/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "efd.h"
#include "vus_test.h"

int efd_new(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	ASSERT_NONNEG(fd);
	return fd;
}

uint64_t efd_wait(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	ASSERT_EQ(read(fd, &v, sizeof(v)), sizeof(v));
	return v;
}

void efd_signal(int fd)
{
	uint64_t one = 1;

	ASSERT_EQ(write(fd, &one, sizeof(one)), sizeof(one));
}

int memfd_new(size_t size)
{
	int fd = memfd_create("vus-test", MFD_CLOEXEC);

	ASSERT_NONNEG(fd);
	if (size)
		ASSERT_OK(ftruncate(fd, (off_t)size));
	return fd;
}
