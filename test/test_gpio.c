/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio (samples/gpio) through the wire: a PCI-IDIO-16 served on a thread,
 * driven by the vus client library as Linux's gpio-pci-idio-16 drives the
 * board (samples/gpio/README.md, "The Linux driver"): identity, register
 * semantics, the 6.1 driver's probe and IRQ handshake, the regmap-era
 * variant, inputs toggled from another thread, status and clear, and
 * silence while disabled.
 * State across reconnects, reset, loopback and save/restore:
 * test_gpio_state.c.
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
#include "pci_regs.h"
#include "vus_test.h"

/* Waits: a signal is written before the reply to the access (or before
 * gpio_set_input() returns) that caused it, so "none" needs little time. */
#define IRQ_MS    2000
#define NO_IRQ_MS 50

struct fx {
	struct gpio_server s;
	struct vus_client *c;
	int efd;
};

static void fx_start(struct fx *f)
{
	gpio_server_start(&f->s, NULL);
	f->c = gpio_server_connect(&f->s);
	f->efd = gpio_intx_assign(f->c);
}

static void fx_stop(struct fx *f)
{
	vus_client_close(f->c);
	close(f->efd);
	gpio_server_stop(&f->s);
}

static void expect_irq(struct fx *f)
{
	assert_true(gpio_efd_wait(f->efd, IRQ_MS) > 0);
}

static void expect_no_irq(struct fx *f)
{
	ASSERT_EQ(gpio_efd_wait(f->efd, NO_IRQ_MS), 0);
}

static struct gpio_state snap(struct fx *f)
{
	struct gpio_state st;

	gpio_get_state(f->s.g, &st);
	return st;
}

/* Linux 6.1 idio_16_irq_handler(): "Make sure our device generated IRQ". */
static bool linux61_mine(uint8_t status)
{
	return !((status & 0x3) == 0 || (status & 0x4) == 0);
}

/* 6.1 probe: filters off, then irq_init_hw(): disable, clear. */
static void linux61_probe(struct vus_client *c)
{
	gpio_wr(c, GPIO_REG_FILTER, 0);
	gpio_wr(c, GPIO_REG_IRQ_CTL, 0);
	gpio_wr(c, GPIO_REG_IN0_7, 0);
}

/* The 6.1 handler: status, and if ours, dispatch (gpiolib reads the
 * inputs) and clear. Returns the status it saw. */
static uint8_t linux61_handler(struct vus_client *c)
{
	uint8_t status = gpio_rd(c, GPIO_REG_STATUS);

	if (!linux61_mine(status))
		return status;
	(void)gpio_rd(c, GPIO_REG_IN0_7);
	(void)gpio_rd(c, GPIO_REG_IN8_15);
	gpio_wr(c, GPIO_REG_IN0_7, 0);
	return status;
}

/* ---- identity ------------------------------------------------------- */

static uint32_t cfg_read(struct vus_client *c, uint32_t off, size_t n)
{
	uint32_t v = 0;

	ASSERT_OK(vus_client_region_read(c, VUS_PCI_CONFIG_REGION, off, &v, n));
	return v;
}

static void test_identity(void **state)
{
	struct vus_client_region r;
	struct vus_device_info di;
	struct vus_irq_info ii;
	struct fx f;
	uint32_t i;

	fx_start(&f);
	ASSERT_OK(vus_client_device_info(f.c, &di));
	assert_true(di.flags & VUS_DEVICE_FLAGS_PCI);
	assert_true(di.flags & VUS_DEVICE_FLAGS_RESET);
	ASSERT_OK(vus_client_region_info(f.c, GPIO_BAR, &r));
	ASSERT_EQ(r.info.size, 256);
	ASSERT_EQ(r.info.flags, VUS_REGION_INFO_FLAG_READ | VUS_REGION_INFO_FLAG_WRITE);
	ASSERT_EQ(r.fd, -1);
	for (i = 0; i < 6; i++) {
		if (i == GPIO_BAR)
			continue;
		ASSERT_OK(vus_client_region_info(f.c, i, &r));
		ASSERT_EQ(r.info.size, 0);
	}
	/* Config space: IDs, BAR2 an I/O BAR, INTA, no capability list
	 * (so no MSI/MSI-X: the driver requests the legacy line). */
	ASSERT_EQ(cfg_read(f.c, 0x00, 2), GPIO_VENDOR);
	ASSERT_EQ(cfg_read(f.c, 0x02, 2), GPIO_DEVICE);
	ASSERT_EQ(cfg_read(f.c, 0x18, 4) & 1, 1);
	ASSERT_EQ(cfg_read(f.c, CFG_INT_PIN, 1), 1);
	ASSERT_EQ(cfg_read(f.c, 0x06, 2) & 0x10, 0);
	ASSERT_OK(vus_client_irq_info(f.c, VUS_PCI_INTX_IRQ, &ii));
	ASSERT_EQ(ii.count, 1);
	ASSERT_OK(vus_client_irq_info(f.c, VUS_PCI_MSI_IRQ, &ii));
	ASSERT_EQ(ii.count, 0);
	ASSERT_OK(vus_client_irq_info(f.c, VUS_PCI_MSIX_IRQ, &ii));
	ASSERT_EQ(ii.count, 0);
	fx_stop(&f);
}

/* ---- registers ------------------------------------------------------ */

static void test_outputs_inputs(void **state)
{
	struct fx f;

	fx_start(&f);
	gpio_wr(f.c, GPIO_REG_OUT0_7, 0xa5);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_OUT0_7), 0xa5);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_OUT8_15), 0x00);
	gpio_wr(f.c, GPIO_REG_OUT8_15, 0x3c);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_OUT0_7), 0xa5);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_OUT8_15), 0x3c);
	ASSERT_EQ(gpio_get_outputs(f.s.g), 0x3ca5);
	/* Outputs do not reach the inputs without loopback. */
	ASSERT_EQ(gpio_get_inputs(f.s.g), 0);

	ASSERT_OK(gpio_set_inputs(f.s.g, 0xffff, 0x1234));
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_IN0_7), 0x34);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_IN8_15), 0x12);
	ASSERT_OK(gpio_set_input(f.s.g, 15, true));
	ASSERT_OK(gpio_set_input(f.s.g, 2, false));
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_IN0_7), 0x30);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_IN8_15), 0x92);
	ASSERT_ERR(gpio_set_input(f.s.g, 16, true), -EINVAL);
	/* Writes to the input offsets do not change the inputs: 1 clears the
	 * interrupt, 5 is unused. */
	gpio_wr(f.c, GPIO_REG_IN0_7, 0xff);
	gpio_wr(f.c, GPIO_REG_IN8_15, 0x00);
	ASSERT_EQ(gpio_get_inputs(f.s.g), 0x9230);
	fx_stop(&f);
}

static void test_control_registers(void **state)
{
	static const uint32_t unused[] = { 7, 8, 0x10, 0x80, 0xff };
	struct gpio_state before, after;
	struct fx f;
	size_t i;

	fx_start(&f);
	/* Power-on: everything off. */
	assert_false(snap(&f).irq_enabled);
	assert_false(snap(&f).filters);
	/* Read of 3 activates the filters, a write deactivates them. */
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_FILTER), 0);
	assert_true(snap(&f).filters);
	gpio_wr(f.c, GPIO_REG_FILTER, 0xff);
	assert_false(snap(&f).filters);
	/* Read of 2 enables the interrupt, a write disables it. */
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_IRQ_CTL), 0);
	assert_true(snap(&f).irq_enabled);
	gpio_wr(f.c, GPIO_REG_IRQ_CTL, 0x5a);
	assert_false(snap(&f).irq_enabled);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);

	/* Unused offsets read 0 and ignore writes, as does the status. */
	gpio_wr(f.c, GPIO_REG_OUT0_7, 0x11);
	ASSERT_OK(gpio_set_inputs(f.s.g, 0xffff, 0x2222));
	before = snap(&f);
	gpio_wr(f.c, GPIO_REG_STATUS, 0xff);
	for (i = 0; i < sizeof(unused) / sizeof(unused[0]); i++) {
		gpio_wr(f.c, unused[i], 0xff);
		ASSERT_EQ(gpio_rd(f.c, unused[i]), 0);
	}
	after = snap(&f);
	assert_memory_equal(&before, &after, sizeof(before));
	fx_stop(&f);
}

static void test_byte_access_only(void **state)
{
	uint8_t buf[4] = { 0 };
	struct fx f;

	fx_start(&f);
	ASSERT_ERR(vus_client_region_read(f.c, GPIO_BAR, 0, buf, 2), -EINVAL);
	ASSERT_ERR(vus_client_region_read(f.c, GPIO_BAR, 0, buf, 4), -EINVAL);
	ASSERT_ERR(vus_client_region_write(f.c, GPIO_BAR, 0, buf, 2), -EINVAL);
	ASSERT_ERR(vus_client_region_write(f.c, GPIO_BAR, 0, buf, 4), -EINVAL);
	ASSERT_ERR(vus_client_region_read(f.c, GPIO_BAR, 0x100, buf, 1), -EINVAL);
	/* A refused wide read of 0..3 had no side effect on 2 or 3. */
	assert_false(snap(&f).irq_enabled);
	assert_false(snap(&f).filters);
	fx_stop(&f);
}

/* ---- interrupts: Linux 6.1 ------------------------------------------ */

struct toggler {
	struct gpio *g;
	unsigned int line;
	bool level;
	int delay_ms;
};

static void *toggle_later(void *arg)
{
	struct toggler *t = arg;

	test_sleep_ms(t->delay_ms);
	ASSERT_OK(gpio_set_input(t->g, t->line, t->level));
	return NULL;
}

static void test_linux61_probe_and_irq(void **state)
{
	struct toggler t;
	pthread_t th;
	struct fx f;

	fx_start(&f);
	ASSERT_OK(gpio_set_input(f.s.g, 3, true));
	linux61_probe(f.c);
	assert_false(snap(&f).irq_enabled);
	assert_false(snap(&f).filters);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);
	/* Edges before any line is unmasked: nothing latched, no signal. */
	ASSERT_OK(gpio_set_input(f.s.g, 3, false));
	ASSERT_OK(gpio_set_input(f.s.g, 3, true));
	expect_no_irq(&f);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);

	/* First line unmasked (gpiomon, both edges): the read of 2. */
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_IRQ_CTL), 0);
	assert_true(snap(&f).irq_enabled);
	expect_no_irq(&f);
	/* A shared line's other device interrupting: the handler must see
	 * "not mine". */
	assert_false(linux61_mine(linux61_handler(f.c)));

	/* Input 3 falls, driven from another thread while we wait. */
	t = (struct toggler){ .g = f.s.g, .line = 3, .level = false, .delay_ms = 20 };
	ASSERT_OK(pthread_create(&th, NULL, toggle_later, &t));
	expect_irq(&f);
	pthread_join(th, NULL);
	ASSERT_EQ(linux61_handler(f.c), GPIO_STATUS_IN0_7 | GPIO_STATUS_PENDING);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);
	/* EOI: QEMU unmasks; the level is down, so no second signal. */
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);

	/* The next edge interrupts again, on the other bank too. */
	ASSERT_OK(gpio_set_input(f.s.g, 11, true));
	expect_irq(&f);
	ASSERT_EQ(linux61_handler(f.c), GPIO_STATUS_IN8_15 | GPIO_STATUS_PENDING);
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);

	/* Last line masked: the write to 2; edges are silent again. */
	gpio_wr(f.c, GPIO_REG_IRQ_CTL, 0);
	ASSERT_OK(gpio_set_input(f.s.g, 11, false));
	expect_no_irq(&f);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);
	fx_stop(&f);
}

/* The line is a level: while the handler has not cleared it, an unmask
 * (QEMU's EOI on any BAR access under TCG) signals again, and a second
 * edge while masked adds no signal of its own. */
static void test_level_while_masked(void **state)
{
	struct fx f;

	fx_start(&f);
	linux61_probe(f.c);
	(void)gpio_rd(f.c, GPIO_REG_IRQ_CTL);
	ASSERT_OK(gpio_set_input(f.s.g, 0, true));
	expect_irq(&f);
	ASSERT_OK(gpio_set_input(f.s.g, 1, true));
	expect_no_irq(&f); /* auto-masked */
	gpio_intx_unmask(f.c);
	expect_irq(&f);    /* still asserted */
	ASSERT_EQ(linux61_handler(f.c), GPIO_STATUS_IN0_7 | GPIO_STATUS_PENDING);
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);
	/* A spurious unmask with nothing pending stays silent. */
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);
	fx_stop(&f);
}

/* ---- interrupts: the regmap-era driver ------------------------------ */

static void test_regmap_variant(void **state)
{
	struct fx f;

	fx_start(&f);
	/* Probe: disable before the regmap IRQ chip, then filters off. */
	gpio_wr(f.c, GPIO_REG_IRQ_CTL, 0);
	gpio_wr(f.c, GPIO_REG_FILTER, 0);
	/* First unmask: clear, then enable. */
	gpio_wr(f.c, GPIO_REG_IN0_7, 0);
	(void)gpio_rd(f.c, GPIO_REG_IRQ_CTL);
	expect_no_irq(&f);
	/* regmap-irq: status & bit 2 (all 16 inputs) == 0 means IRQ_NONE. */
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS) & GPIO_STATUS_PENDING, 0);

	ASSERT_OK(gpio_set_input(f.s.g, 12, true));
	expect_irq(&f);
	assert_true(gpio_rd(f.c, GPIO_REG_STATUS) & GPIO_STATUS_PENDING);
	/* Ack: regmap writes the status bits it handled to offset 1. */
	gpio_wr(f.c, GPIO_REG_IN0_7, GPIO_STATUS_PENDING);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);

	/* All masked: write to 2; edges are silent. */
	gpio_wr(f.c, GPIO_REG_IRQ_CTL, 0);
	ASSERT_OK(gpio_set_input(f.s.g, 12, false));
	expect_no_irq(&f);
	/* Unmasked again: clear, enable; nothing was latched meanwhile. */
	gpio_wr(f.c, GPIO_REG_IN0_7, 0);
	(void)gpio_rd(f.c, GPIO_REG_IRQ_CTL);
	expect_no_irq(&f);
	ASSERT_OK(gpio_set_input(f.s.g, 4, true));
	expect_irq(&f);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), GPIO_STATUS_IN0_7 | GPIO_STATUS_PENDING);
	fx_stop(&f);
}

/* ---- status and clear ----------------------------------------------- */

static void test_status_and_clear(void **state)
{
	struct fx f;

	fx_start(&f);
	(void)gpio_rd(f.c, GPIO_REG_IRQ_CTL);
	ASSERT_OK(gpio_set_input(f.s.g, 0, true));
	expect_irq(&f);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0x5);
	ASSERT_OK(gpio_set_input(f.s.g, 9, true));
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0x7);
	/* Reading the status does not clear it; any write to 1 does. */
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0x7);
	gpio_wr(f.c, GPIO_REG_IN0_7, 0x42);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);

	/* Both banks in one change: inputs 0 and 9 fall. */
	ASSERT_OK(gpio_set_inputs(f.s.g, 0x0201, 0x0000));
	expect_irq(&f);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0x7);
	gpio_wr(f.c, GPIO_REG_IN0_7, 0);

	/* Setting an input to the level it has is no edge. */
	gpio_intx_unmask(f.c);
	ASSERT_OK(gpio_set_input(f.s.g, 8, false));
	expect_no_irq(&f);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);

	/* Disabling keeps a latched status but drops the line; enabling
	 * again raises it. */
	ASSERT_OK(gpio_set_input(f.s.g, 8, true));
	expect_irq(&f);
	gpio_wr(f.c, GPIO_REG_IRQ_CTL, 0);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0x6);
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);
	(void)gpio_rd(f.c, GPIO_REG_IRQ_CTL);
	expect_irq(&f);
	gpio_wr(f.c, GPIO_REG_IN0_7, 0);
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);
	fx_stop(&f);
}

static void test_no_irq_when_disabled(void **state)
{
	unsigned int i;
	struct fx f;

	fx_start(&f);
	for (i = 0; i < 32; i++)
		ASSERT_OK(gpio_set_input(f.s.g, i % 16, !(i & 16)));
	expect_no_irq(&f);
	gpio_intx_unmask(f.c);
	expect_no_irq(&f);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0);
	assert_false(linux61_mine(gpio_rd(f.c, GPIO_REG_STATUS)));
	/* Enabling afterwards finds nothing latched. */
	(void)gpio_rd(f.c, GPIO_REG_IRQ_CTL);
	expect_no_irq(&f);
	fx_stop(&f);
}

/* The PCI command register's Interrupt Disable bit (10) gates the line,
 * as Linux's pci_intx() uses it; the device's status is unaffected. */
static void test_command_intx_disable(void **state)
{
	uint16_t cmd;
	struct fx f;

	fx_start(&f);
	(void)gpio_rd(f.c, GPIO_REG_IRQ_CTL);
	cmd = (uint16_t)cfg_read(f.c, 0x04, 2) | 0x400;
	ASSERT_OK(vus_client_region_write(f.c, VUS_PCI_CONFIG_REGION, 0x04, &cmd, 2));
	ASSERT_OK(gpio_set_input(f.s.g, 5, true));
	expect_no_irq(&f);
	ASSERT_EQ(gpio_rd(f.c, GPIO_REG_STATUS), 0x5);
	cmd &= (uint16_t)~0x400;
	ASSERT_OK(vus_client_region_write(f.c, VUS_PCI_CONFIG_REGION, 0x04, &cmd, 2));
	expect_irq(&f);
	fx_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_outputs_inputs),
		cmocka_unit_test(test_control_registers),
		cmocka_unit_test(test_byte_access_only),
		cmocka_unit_test(test_linux61_probe_and_irq),
		cmocka_unit_test(test_level_while_masked),
		cmocka_unit_test(test_regmap_variant),
		cmocka_unit_test(test_status_and_clear),
		cmocka_unit_test(test_no_irq_when_disabled),
		cmocka_unit_test(test_command_intx_disable),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
