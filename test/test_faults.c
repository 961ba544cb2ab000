/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection through the library API (include/vus/fault.h), seen by
 * the vus client library as a VMM would see it: commands failed with a
 * chosen errno, a held reply, the client
 * dropped now or after N commands with the device state kept, the ERR and
 * REQ notifications. The testdev served on a thread is the device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "vus_test.h"

#include <vus/client.h>
#include <vus/device.h>
#include <vus/fault.h>

#include "testdev.h"

struct fx {
	struct testdev *td;
	struct vus_dev *dev;
	struct vus_client *c;
	pthread_t th;
};

static void *serve(void *arg)
{
	struct fx *f = arg;

	vus_dev_run(f->dev);
	return NULL;
}

/* A new client; the device's loop must not run (attach is a setup call). */
static int attach_fd(struct fx *f)
{
	int sv[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(f->dev, sv[1]));
	return sv[0];
}

static int setup(void **state)
{
	struct testdev_opts opts = { .pcie = true };
	struct fx *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	ASSERT_OK(testdev_create_opts("faults", &opts, &f->td));
	f->dev = testdev_dev(f->td);
	vus_dev_set_log_level(f->dev, VUS_LOG_ERR);
	fd = attach_fd(f);
	ASSERT_OK(pthread_create(&f->th, NULL, serve, f));
	ASSERT_OK(vus_client_connect_fd(fd, NULL, &f->c));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->c)
		vus_client_close(f->c);
	vus_dev_stop(f->dev);
	pthread_join(f->th, NULL);
	testdev_free(f->td);
	free(f);
	return 0;
}

/*
 * The fault calls are for the loop thread: run them there through a
 * one-shot hook. A REGION_WRITE to BAR1 runs on the loop thread and its
 * region callback is the device's; simpler here: stop the loop, call,
 * start it again (the client's requests wait in the socket meanwhile).
 */
static void on_loop(struct fx *f, void (*fn)(struct fx *f, void *arg), void *arg)
{
	vus_dev_stop(f->dev);
	pthread_join(f->th, NULL);
	fn(f, arg);
	ASSERT_OK(pthread_create(&f->th, NULL, serve, f));
}

static void attach_on_loop(struct fx *f, void *arg)
{
	*(int *)arg = attach_fd(f);
}

/* Connect a new client (the last one is gone). */
static void reattach(struct fx *f)
{
	int fd;

	on_loop(f, attach_on_loop, &fd);
	ASSERT_OK(vus_client_connect_fd(fd, NULL, &f->c));
}

static void add_rule(struct fx *f, void *arg)
{
	ASSERT_OK(vus_dev_fault_add(f->dev, arg));
}

static uint32_t rd(struct vus_client *c, uint32_t reg, int *rc)
{
	uint32_t v = 0;

	*rc = vus_client_region_read(c, 0, reg, &v, 4);
	return v;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_fail_with_errno(void **state)
{
	struct fx *f = *state;
	struct vus_fault_rule rule = { .cmd = VUS_CMD_REGION_READ, .error = EIO, .count = 2 };
	uint32_t v = 0x1234;
	int rc;

	on_loop(f, add_rule, &rule);
	rd(f->c, TESTDEV_REG_ID, &rc);
	ASSERT_ERR(rc, -EIO);
	rd(f->c, TESTDEV_REG_ID, &rc);
	ASSERT_ERR(rc, -EIO);
	/* Used up: the third one runs. Other commands were never touched. */
	ASSERT_OK(vus_client_region_write(f->c, 0, TESTDEV_REG_SCRATCH, &v, 4));
	ASSERT_EQ(rd(f->c, TESTDEV_REG_ID, &rc), TESTDEV_ID);
	ASSERT_OK(rc);
}

static void test_fail_region_write(void **state)
{
	struct fx *f = *state;
	struct vus_fault_rule rule = { .cmd = VUS_CMD_REGION_WRITE, .error = EFAULT, .count = 1 };
	uint32_t v = 0xabcd;
	int rc;

	on_loop(f, add_rule, &rule);
	ASSERT_ERR(vus_client_region_write(f->c, 0, TESTDEV_REG_SCRATCH, &v, 4), -EFAULT);
	/* Not run: the register kept its value. */
	ASSERT_OK(rd(f->c, TESTDEV_REG_SCRATCH, &rc));
	ASSERT_OK(vus_client_region_write(f->c, 0, TESTDEV_REG_SCRATCH, &v, 4));
	ASSERT_EQ(rd(f->c, TESTDEV_REG_SCRATCH, &rc), 0xabcd);
}

static void test_delay(void **state)
{
	struct fx *f = *state;
	struct vus_fault_rule rule = { .cmd = VUS_CMD_REGION_READ, .delay_ms = 300, .count = 1 };
	struct vus_irq_info ii;
	uint64_t t;
	int rc;

	on_loop(f, add_rule, &rule);
	t = now_ms();
	ASSERT_EQ(rd(f->c, TESTDEV_REG_ID, &rc), TESTDEV_ID);
	ASSERT_OK(rc);
	assert_true(now_ms() - t >= 290);
	/* The next command is answered at once again. (That the loop is not
	 * blocked meanwhile is shown with vusd: test/vusd_faults.sh.) */
	t = now_ms();
	ASSERT_OK(vus_client_irq_info(f->c, VUS_PCI_ERR_IRQ, &ii));
	assert_true(now_ms() - t < 250);
}

/* A delayed error: both at once, the error arrives late. */
static void test_delay_and_error(void **state)
{
	struct fx *f = *state;
	struct vus_fault_rule rule = { .cmd = VUS_CMD_DEVICE_GET_IRQ_INFO, .error = ENODEV,
				       .delay_ms = 200, .count = 1 };
	struct vus_irq_info ii;
	uint64_t t;

	on_loop(f, add_rule, &rule);
	t = now_ms();
	ASSERT_ERR(vus_client_irq_info(f->c, VUS_PCI_MSI_IRQ, &ii), -ENODEV);
	assert_true(now_ms() - t >= 190);
}

struct disc {
	uint32_t after;
	int rc;
};

static void disconnect(struct fx *f, void *arg)
{
	struct disc *d = arg;

	d->rc = vus_dev_fault_disconnect(f->dev, d->after);
}

static void test_disconnect_after(void **state)
{
	struct fx *f = *state;
	struct disc d = { .after = 2 };
	uint32_t v = 0x600d;
	int rc;

	on_loop(f, disconnect, &d);
	ASSERT_OK(d.rc);
	ASSERT_OK(vus_client_region_write(f->c, 0, TESTDEV_REG_SCRATCH, &v, 4));
	ASSERT_EQ(rd(f->c, TESTDEV_REG_SCRATCH, &rc), 0x600d);  /* the 2nd: answered */
	rd(f->c, TESTDEV_REG_SCRATCH, &rc);                           /* then dropped */
	assert_true(rc < 0);
	vus_client_close(f->c);
	f->c = NULL;
	/* The device kept its state for the next client. */
	reattach(f);
	ASSERT_EQ(rd(f->c, TESTDEV_REG_SCRATCH, &rc), 0x600d);
	ASSERT_OK(rc);
}

static void test_disconnect_now(void **state)
{
	struct fx *f = *state;
	struct disc d = { .after = 0 };
	int rc;

	on_loop(f, disconnect, &d);
	ASSERT_OK(d.rc);
	rd(f->c, TESTDEV_REG_ID, &rc);
	assert_true(rc < 0);
	vus_client_close(f->c);
	f->c = NULL;
	/* Nobody left to drop. */
	on_loop(f, disconnect, &d);
	ASSERT_ERR(d.rc, -ENOTCONN);
	reattach(f);
}

static void bad_rules(struct fx *f, void *arg)
{
	struct vus_fault_rule r = { .cmd = VUS_CMD_REGION_READ, .error = EIO };
	unsigned i;

	(void)arg;
	r.cmd = 0;
	ASSERT_ERR(vus_dev_fault_add(f->dev, &r), -EINVAL);
	r.cmd = VUS_CMD_MAX + 1;
	ASSERT_ERR(vus_dev_fault_add(f->dev, &r), -EINVAL);
	r.cmd = VUS_CMD_REGION_READ;
	r.error = 0;
	ASSERT_ERR(vus_dev_fault_add(f->dev, &r), -EINVAL);      /* nothing to do */
	r.error = 5000;
	ASSERT_ERR(vus_dev_fault_add(f->dev, &r), -EINVAL);
	ASSERT_ERR(vus_dev_fault_add(f->dev, NULL), -EINVAL);
	r.error = EIO;
	r.cmd = VUS_CMD_DMA_UNMAP;
	for (i = 0; i < VUS_FAULT_MAX_RULES; i++)
		ASSERT_OK(vus_dev_fault_add(f->dev, &r));
	ASSERT_ERR(vus_dev_fault_add(f->dev, &r), -ENOSPC);
	vus_dev_fault_clear(f->dev);
	ASSERT_OK(vus_dev_fault_add(f->dev, &r));
	vus_dev_fault_clear(f->dev);
}

static void test_bad_rules(void **state)
{
	struct fx *f = *state;
	int rc;

	on_loop(f, bad_rules, NULL);
	ASSERT_EQ(rd(f->c, TESTDEV_REG_ID, &rc), TESTDEV_ID);
}

/* ERR through AER and REQ: the client's eventfds fire. */
static void test_err_req(void **state)
{
	struct fx *f = *state;
	int efd[2], i;

	for (i = 0; i < 2; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(efd[i] >= 0);
		ASSERT_OK(vus_client_set_irqs(f->c, i ? VUS_PCI_REQ_IRQ : VUS_PCI_ERR_IRQ,
						     VUS_IRQ_SET_DATA_EVENTFD |
						     VUS_IRQ_SET_ACTION_TRIGGER, 0, 1, &efd[i], NULL));
	}
	ASSERT_OK(vus_dev_report_aer(f->dev, VUS_AER_UNCOR_COMP_TIMEOUT, 0));
	ASSERT_OK(vus_irq_trigger(f->dev, VUS_PCI_REQ_IRQ, 0));
	for (i = 0; i < 2; i++) {
		struct pollfd p = { .fd = efd[i], .events = POLLIN };

		ASSERT_EQ(poll(&p, 1, 2000), 1);
		close(efd[i]);
	}
}

/* Config space (region 7) through the client, little-endian. */
static uint32_t cfg_rd(struct fx *f, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	ASSERT_OK(vus_client_region_read(f->c, VUS_PCI_CONFIG_REGION, off, &v, len));
	return v;
}

struct storm_args {
	uint32_t vector, rate, ms;
};

static void storm_on_loop(struct fx *f, void *arg)
{
	struct storm_args *a = arg;

	ASSERT_OK(testdev_storm(f->td, a->vector, a->rate, a->ms));
}

/*
 * An interrupt storm reaches the client: every interrupt the storm sent
 * is one signal of the vector's eventfd (an eventfd adds up, so none is
 * lost however fast they come), and the storm keeps to its rate.
 */
static void test_storm(void **state)
{
	struct storm_args a = { .vector = 0, .rate = 1000, .ms = 200 };
	struct fx *f = *state;
	uint32_t cap, ctl, zero = 0;
	uint64_t sent, got = 0, n;
	int efd, i;

	/* The MSI-X capability (ID 11h) in the capability list. */
	for (cap = cfg_rd(f, 0x34, 1), i = 0; cap && i < 48; cap = cfg_rd(f, cap + 1, 1), i++)
		if (cfg_rd(f, cap, 1) == 0x11)
			break;
	assert_true(cap != 0 && i < 48);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_MSIX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
				      &efd, NULL));
	/* MSI-X enable, function unmasked; entry 0's vector control unmasked. */
	ctl = (cfg_rd(f, cap + 2, 2) | 0x8000u) & ~0x4000u;
	ASSERT_OK(vus_client_region_write(f->c, VUS_PCI_CONFIG_REGION, cap + 2, &ctl, 2));
	ASSERT_OK(vus_client_region_write(f->c, 0, TESTDEV_MSIX_TABLE + 12, &zero, 4));

	on_loop(f, storm_on_loop, &a);
	for (i = 0; i < 500 && testdev_storm_running(f->td); i++)
		test_sleep_ms(10);
	assert_false(testdev_storm_running(f->td));
	sent = testdev_storm_sent(f->td);
	while (read(efd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		got += n;
	close(efd);
	print_message("storm: %" PRIu64 " sent at %u Hz for %u ms, %" PRIu64 " signalled\n", sent,
		      a.rate, a.ms, got);
	assert_true(sent > 0);
	ASSERT_EQ(got, sent);
	/* Paced by an absolute timer: never more than the rate allows. */
	assert_true(sent <= (uint64_t)a.rate * a.ms / 1000 + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fail_with_errno, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_region_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay_and_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_req, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storm, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
