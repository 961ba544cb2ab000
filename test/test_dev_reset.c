/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus_dev_reset(), the local DEVICE_RESET (include/vus/device.h): what it
 * refuses, and that it brings a device back to power-on state with or
 * without a client attached -- between two clients, which is how the
 * fuzzers reuse one device for every input (fuzz/README.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/device.h>

#include "testdev.h"
#include "vus_test.h"

#define CFG_COMMAND 0x04

static uint32_t reg(struct vus_dev *dev, uint32_t off)
{
	uint32_t v = 0;

	ASSERT_OK(vus_dev_access_region(dev, 0, off, &v, sizeof(v), false));
	return v;
}

/* A client on a socketpair; returns our end. */
static int attach(struct vus_dev *dev)
{
	int sv[2];

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(dev, sv[1]));
	return sv[0];
}

/* The client hangs up; the loop ends its session. */
static void hang_up(struct vus_dev *dev, int sock)
{
	struct pollfd p = { .fd = vus_dev_poll_fd(dev), .events = POLLIN };
	int i;

	close(sock);
	for (i = 0; i < 100 && vus_dev_client_attached(dev); i++) {
		poll(&p, 1, 100);
		ASSERT_OK(vus_dev_process(dev));
	}
	ASSERT_EQ(vus_dev_client_attached(dev), false);
}

static void refused_before_serving(void **state)
{
	struct testdev *td;

	(void)state;
	ASSERT_OK(testdev_create("reset", &td));
	/* No config space yet: nothing to reset. */
	ASSERT_ERR(vus_dev_reset(testdev_dev(td)), -ENODEV);
	testdev_free(td);
}

static void refused_without_callback(void **state)
{
	struct vus_dev *dev = vus_dev_new("plain");
	int sock;

	(void)state;
	assert_non_null(dev);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	sock = attach(dev);
	/* Like kernel VFIO without reset_works. */
	ASSERT_ERR(vus_dev_reset(dev), -EINVAL);
	hang_up(dev, sock);
	vus_dev_free(dev);
}

static void power_on_between_clients(void **state)
{
	uint8_t power_on[256], now[256], cmd[2] = { 0x06, 0x00 };
	struct testdev *td;
	struct vus_dev *dev;
	uint32_t v = 0x1234;
	int sock;

	(void)state;
	ASSERT_OK(testdev_create("reset", &td));
	dev = testdev_dev(td);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	sock = attach(dev);
	ASSERT_OK(vus_dev_access_region(dev, VUS_PCI_CONFIG_REGION, 0, power_on,
					sizeof(power_on), false));

	/* What a client leaves behind: decoding and bus mastering on, a
	 * register written. */
	ASSERT_OK(vus_dev_access_region(dev, VUS_PCI_CONFIG_REGION, CFG_COMMAND, cmd,
					sizeof(cmd), true));
	ASSERT_OK(vus_dev_access_region(dev, 0, TESTDEV_REG_SCRATCH, &v, sizeof(v), true));
	ASSERT_EQ(reg(dev, TESTDEV_REG_SCRATCH), 0x1234);
	hang_up(dev, sock);

	/* No client now: the reset still runs. */
	ASSERT_OK(vus_dev_reset(dev));
	ASSERT_OK(vus_dev_access_region(dev, VUS_PCI_CONFIG_REGION, 0, now, sizeof(now), false));
	ASSERT_EQ(memcmp(now, power_on, sizeof(now)), 0);
	ASSERT_EQ(reg(dev, TESTDEV_REG_SCRATCH), 0);
	ASSERT_EQ(reg(dev, TESTDEV_REG_RESETS), 1);
	ASSERT_EQ(vus_dev_mig_state(dev), VUS_MIG_STATE_RUNNING);

	/* The next client finds it so, and may be reset too. */
	sock = attach(dev);
	ASSERT_OK(vus_dev_reset(dev));
	ASSERT_EQ(reg(dev, TESTDEV_REG_RESETS), 2);
	hang_up(dev, sock);
	testdev_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refused_before_serving),
		cmocka_unit_test(refused_without_callback),
		cmocka_unit_test(power_on_between_clients),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
