/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio (samples/gpio) state: kept across client reconnects, reset like
 * power-on by DEVICE_RESET, loopback mode, save/restore for migration,
 * the change notifier, and inputs hammered from another thread while the
 * client runs handler cycles (for TSan/helgrind).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "gpio_server.h"
#include "vus_test.h"

#define IRQ_MS    2000
#define NO_IRQ_MS 50

static struct gpio_state snap(struct gpio *g)
{
	struct gpio_state st;

	gpio_get_state(g, &st);
	return st;
}

static void wait_detached(struct gpio_server *s)
{
	int64_t deadline = test_now_ms() + 2000;

	while (vus_dev_client_attached(s->dev)) {
		assert_true(test_now_ms() < deadline);
		test_sleep_ms(5);
	}
}

/* ---- reconnect and reset -------------------------------------------- */

static void test_state_across_reconnect(void **state)
{
	struct gpio_server s;
	struct vus_client *c;
	struct gpio_state st;
	int efd;

	gpio_server_start(&s, NULL);
	c = gpio_server_connect(&s);
	efd = gpio_intx_assign(c);
	gpio_wr(c, GPIO_REG_OUT0_7, 0xef);
	gpio_wr(c, GPIO_REG_OUT8_15, 0xbe);
	(void)gpio_rd(c, GPIO_REG_FILTER);
	(void)gpio_rd(c, GPIO_REG_IRQ_CTL);
	ASSERT_OK(gpio_set_input(s.g, 7, true));
	assert_true(gpio_efd_wait(efd, IRQ_MS) > 0);
	/* The client goes away with the interrupt unhandled. */
	vus_client_close(c);
	close(efd);
	wait_detached(&s);

	st = snap(s.g);
	ASSERT_EQ(st.outputs, 0xbeef);
	ASSERT_EQ(st.inputs, 0x0080);
	ASSERT_EQ(st.status, GPIO_STATUS_IN0_7 | GPIO_STATUS_PENDING);
	assert_true(st.irq_enabled);
	assert_true(st.filters);

	c = gpio_server_connect(&s);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_OUT0_7), 0xef);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_OUT8_15), 0xbe);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_IN0_7), 0x80);
	/* The line is still high: the new client's eventfd hears it. */
	efd = gpio_intx_assign(c);
	assert_true(gpio_efd_wait(efd, IRQ_MS) > 0);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_STATUS), GPIO_STATUS_IN0_7 | GPIO_STATUS_PENDING);
	gpio_wr(c, GPIO_REG_IN0_7, 0);
	gpio_intx_unmask(c);
	ASSERT_EQ(gpio_efd_wait(efd, NO_IRQ_MS), 0);
	/* Still enabled: the next edge interrupts the new client. */
	ASSERT_OK(gpio_set_input(s.g, 7, false));
	assert_true(gpio_efd_wait(efd, IRQ_MS) > 0);
	vus_client_close(c);
	close(efd);
	gpio_server_stop(&s);
}

static void test_client_reset(void **state)
{
	struct gpio_server s;
	struct vus_client *c;
	struct gpio_state st;
	int efd;

	gpio_server_start(&s, NULL);
	c = gpio_server_connect(&s);
	efd = gpio_intx_assign(c);
	gpio_wr(c, GPIO_REG_OUT0_7, 0x12);
	(void)gpio_rd(c, GPIO_REG_FILTER);
	(void)gpio_rd(c, GPIO_REG_IRQ_CTL);
	ASSERT_OK(gpio_set_inputs(s.g, 0xffff, 0x8001));
	assert_true(gpio_efd_wait(efd, IRQ_MS) > 0);

	ASSERT_OK(vus_client_reset(c));
	st = snap(s.g);
	ASSERT_EQ(st.outputs, 0);
	ASSERT_EQ(st.inputs, 0x8001); /* wired outside the board */
	ASSERT_EQ(st.status, 0);
	assert_false(st.irq_enabled);
	assert_false(st.filters);
	/* The line went down with the reset: an unmask brings nothing, and
	 * edges are silent until the driver enables again. */
	gpio_intx_unmask(c);
	ASSERT_EQ(gpio_efd_wait(efd, NO_IRQ_MS), 0);
	ASSERT_OK(gpio_set_input(s.g, 0, false));
	ASSERT_EQ(gpio_efd_wait(efd, NO_IRQ_MS), 0);
	vus_client_close(c);
	close(efd);
	gpio_server_stop(&s);
}

/* ---- loopback ------------------------------------------------------- */

static void test_loopback(void **state)
{
	struct gpio_opts opts = { .loopback = true };
	struct gpio_server s;
	struct vus_client *c;
	int efd;

	gpio_server_start(&s, &opts);
	c = gpio_server_connect(&s);
	efd = gpio_intx_assign(c);
	assert_true(snap(s.g).loopback);
	ASSERT_ERR(gpio_set_input(s.g, 0, true), -EBUSY);
	ASSERT_ERR(gpio_set_inputs(s.g, 1, 1), -EBUSY);

	/* Outputs drive the inputs; with the interrupt off, silently. */
	gpio_wr(c, GPIO_REG_OUT0_7, 0x5a);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_IN0_7), 0x5a);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_IN8_15), 0x00);
	ASSERT_EQ(gpio_efd_wait(efd, NO_IRQ_MS), 0);

	/* Enabled: an output change is an input edge. */
	(void)gpio_rd(c, GPIO_REG_IRQ_CTL);
	gpio_wr(c, GPIO_REG_OUT8_15, 0x80);
	assert_true(gpio_efd_wait(efd, IRQ_MS) > 0);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_STATUS), GPIO_STATUS_IN8_15 | GPIO_STATUS_PENDING);
	ASSERT_EQ(gpio_get_inputs(s.g), 0x805a);
	gpio_wr(c, GPIO_REG_IN0_7, 0);
	gpio_intx_unmask(c);
	/* Rewriting the same value is no edge. */
	gpio_wr(c, GPIO_REG_OUT8_15, 0x80);
	ASSERT_EQ(gpio_efd_wait(efd, NO_IRQ_MS), 0);

	/* Reset: the outputs go to 0 and take the inputs with them. */
	ASSERT_OK(vus_client_reset(c));
	ASSERT_EQ(gpio_get_outputs(s.g), 0);
	ASSERT_EQ(gpio_get_inputs(s.g), 0);
	ASSERT_EQ(snap(s.g).status, 0);
	vus_client_close(c);
	close(efd);
	gpio_server_stop(&s);
}

/* ---- save / restore ------------------------------------------------- */

static void test_save_restore(void **state)
{
	uint8_t blob[GPIO_SAVE_SIZE + 4], bad[GPIO_SAVE_SIZE];
	struct gpio_server s;
	struct gpio_state a, b;
	struct vus_client *c;
	struct gpio *g2;
	int efd;

	gpio_server_start(&s, NULL);
	c = gpio_server_connect(&s);
	efd = gpio_intx_assign(c);
	gpio_wr(c, GPIO_REG_OUT0_7, 0x34);
	gpio_wr(c, GPIO_REG_OUT8_15, 0x12);
	(void)gpio_rd(c, GPIO_REG_FILTER);
	(void)gpio_rd(c, GPIO_REG_IRQ_CTL);
	ASSERT_OK(gpio_set_input(s.g, 9, true));
	assert_true(gpio_efd_wait(efd, IRQ_MS) > 0);

	ASSERT_ERR(gpio_save(s.g, blob, GPIO_SAVE_SIZE - 1), -ENOSPC);
	ASSERT_EQ(gpio_save(s.g, blob, sizeof(blob)), GPIO_SAVE_SIZE);
	/* The layout gpio.h documents. */
	assert_memory_equal(blob, "IDIO", 4);
	ASSERT_EQ(blob[4] | blob[5] << 8, 1);
	ASSERT_EQ(blob[6], 3);
	ASSERT_EQ(blob[8] | blob[9] << 8, 0x1234);
	ASSERT_EQ(blob[10] | blob[11] << 8, 0x0200);
	ASSERT_EQ(blob[12], GPIO_STATUS_IN8_15 | GPIO_STATUS_PENDING);

	/* Into a fresh device (not serving): the same state. */
	ASSERT_OK(gpio_create("copy", NULL, &g2));
	ASSERT_OK(gpio_restore(g2, blob, GPIO_SAVE_SIZE));
	a = snap(s.g);
	b = snap(g2);
	assert_memory_equal(&a, &b, sizeof(a));

	/* Hostile blobs are refused and change nothing. */
	ASSERT_ERR(gpio_restore(g2, blob, GPIO_SAVE_SIZE - 1), -EINVAL);
	ASSERT_ERR(gpio_restore(g2, blob, GPIO_SAVE_SIZE + 1), -EINVAL);
	memcpy(bad, blob, sizeof(bad));
	bad[0] ^= 1;                               /* magic */
	ASSERT_ERR(gpio_restore(g2, bad, sizeof(bad)), -EINVAL);
	memcpy(bad, blob, sizeof(bad));
	bad[4] = 2;                                /* version */
	ASSERT_ERR(gpio_restore(g2, bad, sizeof(bad)), -EINVAL);
	memcpy(bad, blob, sizeof(bad));
	bad[6] |= 4;                               /* unknown flag */
	ASSERT_ERR(gpio_restore(g2, bad, sizeof(bad)), -EINVAL);
	memcpy(bad, blob, sizeof(bad));
	bad[12] = GPIO_STATUS_PENDING;             /* pending without a bank */
	ASSERT_ERR(gpio_restore(g2, bad, sizeof(bad)), -EINVAL);
	bad[12] = GPIO_STATUS_IN0_7;               /* a bank without pending */
	ASSERT_ERR(gpio_restore(g2, bad, sizeof(bad)), -EINVAL);
	bad[12] = 0x0f;                            /* unknown status bit */
	ASSERT_ERR(gpio_restore(g2, bad, sizeof(bad)), -EINVAL);
	memcpy(bad, blob, sizeof(bad));
	bad[15] = 1;                               /* reserved */
	ASSERT_ERR(gpio_restore(g2, bad, sizeof(bad)), -EINVAL);
	b = snap(g2);
	assert_memory_equal(&a, &b, sizeof(a));
	gpio_free(g2);

	/* Loopback refuses inputs that differ from the outputs. */
	{
		struct gpio_opts lo = { .loopback = true };

		ASSERT_OK(gpio_create("lo", &lo, &g2));
		ASSERT_ERR(gpio_restore(g2, blob, GPIO_SAVE_SIZE), -EINVAL);
		gpio_free(g2);
	}

	/* Back into the served device after a reset: the restored level
	 * reaches the client (line high again). */
	gpio_wr(c, GPIO_REG_IN0_7, 0);
	gpio_intx_unmask(c);
	ASSERT_OK(vus_client_reset(c));
	ASSERT_EQ(gpio_efd_wait(efd, NO_IRQ_MS), 0);
	ASSERT_OK(gpio_restore(s.g, blob, GPIO_SAVE_SIZE));
	assert_true(gpio_efd_wait(efd, IRQ_MS) > 0);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_OUT8_15), 0x12);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_STATUS), GPIO_STATUS_IN8_15 | GPIO_STATUS_PENDING);
	vus_client_close(c);
	close(efd);
	gpio_server_stop(&s);
}

/* ---- notifier ------------------------------------------------------- */

struct seen {
	struct gpio_state st[16];
	unsigned int n;
};

static void record(struct gpio *g, void *opaque, const struct gpio_state *st)
{
	struct seen *seen = opaque;

	if (seen->n < 16)
		seen->st[seen->n] = *st;
	seen->n++;
}

static void test_notify(void **state)
{
	struct gpio_opts opts = { .loopback = true };
	struct seen seen = { .n = 0 };
	struct gpio_server s;
	struct vus_client *c;

	gpio_server_start(&s, &opts);
	gpio_set_notify(s.g, record, &seen);
	c = gpio_server_connect(&s);
	(void)gpio_rd(c, GPIO_REG_OUT0_7);     /* no change: no call */
	gpio_wr(c, GPIO_REG_OUT0_7, 0);        /* same value: no call */
	(void)gpio_rd(c, GPIO_REG_IRQ_CTL);    /* 1: enabled */
	gpio_wr(c, GPIO_REG_OUT0_7, 0x01);     /* 2: outputs, inputs, status */
	gpio_wr(c, GPIO_REG_IN0_7, 0);         /* 3: status cleared */
	vus_client_close(c);
	gpio_server_stop(&s);                  /* no call after the loop ends */

	ASSERT_EQ(seen.n, 3);
	assert_true(seen.st[0].irq_enabled);
	ASSERT_EQ(seen.st[0].outputs, 0);
	ASSERT_EQ(seen.st[1].outputs, 1);
	ASSERT_EQ(seen.st[1].inputs, 1);
	ASSERT_EQ(seen.st[1].status, GPIO_STATUS_IN0_7 | GPIO_STATUS_PENDING);
	ASSERT_EQ(seen.st[2].status, 0);
}

/* ---- an outside thread against the loop ----------------------------- */

struct hammer {
	struct gpio *g;
	unsigned int rounds;
};

static void *hammer_inputs(void *arg)
{
	struct hammer *h = arg;
	unsigned int i;

	for (i = 0; i < h->rounds; i++)
		ASSERT_OK(gpio_set_input(h->g, i % 16, (i / 16) & 1));
	return NULL;
}

/* Inputs change on another thread while the client handles interrupts:
 * no lost wake-up (every handler round that saw "mine" was signalled
 * first) and the final state is the last one written. */
static void test_outside_thread_hammer(void **state)
{
	struct hammer h;
	struct gpio_server s;
	struct vus_client *c;
	unsigned int handled = 0;
	pthread_t th;
	uint8_t status;
	int efd;

	gpio_server_start(&s, NULL);
	c = gpio_server_connect(&s);
	efd = gpio_intx_assign(c);
	(void)gpio_rd(c, GPIO_REG_IRQ_CTL);
	h = (struct hammer){ .g = s.g, .rounds = 4000 };
	ASSERT_OK(pthread_create(&th, NULL, hammer_inputs, &h));
	while (gpio_efd_wait(efd, 200) > 0) {
		status = gpio_rd(c, GPIO_REG_STATUS);
		if (status & GPIO_STATUS_PENDING) {
			assert_true(status & (GPIO_STATUS_IN0_7 | GPIO_STATUS_IN8_15));
			gpio_wr(c, GPIO_REG_IN0_7, 0);
			handled++;
		}
		gpio_intx_unmask(c);
	}
	pthread_join(th, NULL);
	assert_true(handled > 0);
	/* The loop ended on 200 ms of silence after an unmask: a status
	 * still pending must have its signal waiting (no lost wake-up). */
	if (gpio_rd(c, GPIO_REG_STATUS))
		assert_true(gpio_efd_wait(efd, 0) > 0);
	/* Round 3999: line 15, level (3999 / 16) & 1 = 1; 0-14 went to 1
	 * in the same block of 16. */
	ASSERT_EQ(gpio_get_inputs(s.g), 0xffff);
	vus_client_close(c);
	close(efd);
	gpio_server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_across_reconnect),
		cmocka_unit_test(test_client_reset),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_save_restore),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_outside_thread_hammer),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
