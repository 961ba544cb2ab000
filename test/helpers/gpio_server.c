/* SPDX-License-Identifier: BSD-3-Clause */
/* A gpio device on a thread, for end-to-end tests (gpio_server.h). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "gpio_server.h"
#include "vus_test.h"

static void *server_main(void *arg)
{
	struct gpio_server *s = arg;

	vus_dev_run(s->dev);
	return NULL;
}

void gpio_server_start(struct gpio_server *s, const struct gpio_opts *opts)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/vus-gpio-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	ASSERT_OK(gpio_create("gpio", opts, &s->g));
	s->dev = gpio_dev(s->g);
	vus_dev_set_log_level(s->dev, VUS_LOG_ERR);
	ASSERT_OK(vus_dev_listen(s->dev, s->path));
	ASSERT_OK(pthread_create(&s->thread, NULL, server_main, s));
	s->running = true;
}

void gpio_server_stop(struct gpio_server *s)
{
	if (!s->running)
		return;
	vus_dev_stop(s->dev);
	pthread_join(s->thread, NULL);
	s->running = false;
	gpio_free(s->g); /* unlinks the socket vus_dev_listen() made */
	s->g = NULL;
	s->dev = NULL;
	rmdir(s->dir);
}

struct vus_client *gpio_server_connect(struct gpio_server *s)
{
	int64_t deadline = test_now_ms() + 2000;
	struct vus_client *c = NULL;
	int r;

	for (;;) {
		r = vus_client_connect(s->path, NULL, &c);
		/* Refused while the previous client is being torn down: the
		 * server accepts and closes at once (device.h). */
		if (r == 0 || (r != -ECONNRESET && r != -EPIPE && r != -ETIMEDOUT) ||
		    test_now_ms() >= deadline)
			break;
		test_sleep_ms(5);
	}
	ASSERT_OK(r);
	return c;
}

uint8_t gpio_rd(struct vus_client *c, uint32_t off)
{
	uint8_t v = 0xee;

	ASSERT_OK(vus_client_region_read(c, GPIO_BAR, off, &v, 1));
	return v;
}

void gpio_wr(struct vus_client *c, uint32_t off, uint8_t v)
{
	ASSERT_OK(vus_client_region_write(c, GPIO_BAR, off, &v, 1));
}

int gpio_intx_assign(struct vus_client *c)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	ASSERT_NONNEG(efd);
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
				      0, 1, &efd, NULL));
	return efd;
}

void gpio_intx_unmask(struct vus_client *c)
{
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0,
				      1, NULL, NULL));
}

uint64_t gpio_efd_wait(int efd, int ms)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	uint64_t v = 0;
	int r;

	do {
		r = poll(&pfd, 1, ms);
	} while (r < 0 && errno == EINTR);
	if (r != 1)
		return 0;
	ASSERT_EQ(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}
