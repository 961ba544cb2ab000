/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A gpio device (samples/gpio) served on its own thread, listening on a
 * socket in a fresh mkdtemp() directory, plus the client-side helpers
 * its tests share: byte register access to BAR2 and INTx eventfds.
 *
 * The device's loop runs on the server thread (vus_dev_run); the test
 * thread reaches the device over the socket, and through the gpio calls
 * gpio.h allows from any thread (inputs, state, save/restore).
 */
#ifndef VUS_TEST_GPIO_SERVER_H
#define VUS_TEST_GPIO_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <vus/client.h>
#include <vus/device.h>

#include "gpio.h"

struct gpio_server {
	struct gpio *g;
	struct vus_dev *dev;
	char dir[64];
	char path[128];
	pthread_t thread;
	bool running;
};

/* Create (opts may be NULL), listen and serve. Fails the test on error. */
void gpio_server_start(struct gpio_server *s, const struct gpio_opts *opts);
/* Stop the loop, join, free the device, remove the socket directory. */
void gpio_server_stop(struct gpio_server *s);
/* Connect a client, retrying for up to 2 s while the server still tears
 * down the previous one (it refuses a second client meanwhile). Fails the
 * test on error. */
struct vus_client *gpio_server_connect(struct gpio_server *s);

/* One byte at BAR2 offset off; fail the test on error. */
uint8_t gpio_rd(struct vus_client *c, uint32_t off);
void gpio_wr(struct vus_client *c, uint32_t off, uint8_t v);

/* A non-blocking eventfd assigned as the client's INTx trigger (the
 * client library sends a dup; the test keeps and must close this one). */
int gpio_intx_assign(struct vus_client *c);
/* SET_IRQS INTx ACTION_UNMASK, as QEMU sends on the guest's EOI. */
void gpio_intx_unmask(struct vus_client *c);
/* Wait up to ms for the eventfd to be signalled and consume the count;
 * 0 if nothing came. */
uint64_t gpio_efd_wait(int efd, int ms);

#endif /* VUS_TEST_GPIO_SERVER_H */
