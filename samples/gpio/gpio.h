/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio: an ACCES PCI-IDIO-16 (16 isolated inputs, 16 FET outputs) over
 * vfio-user, close enough to the board for Linux's gpio-pci-idio-16
 * driver to bind, drive the outputs and take input interrupts
 * (README.md, "The Linux driver").
 *
 * PCI 494f:0dc8, class ff0000, INTx pin A, no MSI/MSI-X.
 *
 * BAR2  256-byte I/O BAR of byte registers (1-byte accesses only, as the
 *       driver's ioread8/iowrite8; wider: -EINVAL)
 *   off  read                                 write
 *   0    outputs 0-7                          set outputs 0-7
 *   1    inputs 0-7                           clear the interrupt (status = 0)
 *   2    enable the interrupt; reads 0        disable the interrupt
 *   3    activate input filters; reads 0      deactivate input filters
 *   4    outputs 8-15                         set outputs 8-15
 *   5    inputs 8-15                          ignored
 *   6    interrupt status                     ignored
 *   7-255  read 0                             ignored
 *
 * Interrupt status (offset 6), our model of the board: while the
 * interrupt is enabled, a change of any input (either edge) latches bit 0
 * (inputs 0-7) or bit 1 (inputs 8-15) and bit 2 (interrupt pending).
 * Edges while disabled latch nothing. Only a write to offset 1 clears the
 * status; disabling leaves it. Linux 6.1's handler calls an interrupt
 * "not mine" when (status & 3) == 0 || (status & 4) == 0, the regmap-era
 * driver looks at bit 2 only: a device that did not interrupt reads 0.
 *
 * INTx is a level: asserted while the interrupt is enabled and bit 2 is
 * set (vus_irq_intx_set_level(): the library signals the eventfd, masks
 * until the client unmasks, and signals again on unmask while the level
 * stays up). The filters only record their state; inputs here do not
 * bounce.
 *
 * Loopback (option): output n drives input n, so a guest write to the
 * outputs is also an input edge; gpio_set_input() is then -EBUSY.
 *
 * Reset (client DEVICE_RESET, like power-on): outputs 0, interrupt
 * disabled, status 0, filters inactive. The inputs are what is wired to
 * the board, not its state, and keep their levels (in loopback they
 * follow the outputs to 0). Lost connection: everything is kept; the
 * next client finds the device as the last one left it.
 *
 * Threads: the register callbacks and reset run on the vus loop thread.
 * gpio_set_input(s), gpio_get_*(), gpio_save() and gpio_restore() take the
 * device's lock and may be called from any thread, the loop thread
 * included (vusd's control socket calls them there, tests from another
 * thread). Setup (create, set_notify) and gpio_free() are not concurrent
 * with anything.
 */
#ifndef VUS_GPIO_H
#define VUS_GPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vus/device.h>

#define GPIO_VENDOR 0x494f
#define GPIO_DEVICE 0x0dc8
#define GPIO_CLASS  0xff0000
#define GPIO_BAR    2
#define GPIO_BAR_SIZE 0x100u
#define GPIO_NR_LINES 16 /* outputs, and inputs */

enum gpio_reg {
	GPIO_REG_OUT0_7 = 0,   /* R: outputs 0-7         W: set them */
	GPIO_REG_IN0_7 = 1,    /* R: inputs 0-7          W: clear interrupt */
	GPIO_REG_IRQ_CTL = 2,  /* R: enable interrupt    W: disable interrupt */
	GPIO_REG_FILTER = 3,   /* R: activate filters    W: deactivate filters */
	GPIO_REG_OUT8_15 = 4,  /* R: outputs 8-15        W: set them */
	GPIO_REG_IN8_15 = 5,   /* R: inputs 8-15 */
	GPIO_REG_STATUS = 6,   /* R: interrupt status */
};

#define GPIO_STATUS_IN0_7   (1u << 0) /* an edge on inputs 0-7 */
#define GPIO_STATUS_IN8_15  (1u << 1) /* an edge on inputs 8-15 */
#define GPIO_STATUS_PENDING (1u << 2) /* interrupt pending */

struct gpio_opts {
	bool loopback; /* outputs drive the inputs */
};

/* The device's state, as the registers would show it. */
struct gpio_state {
	uint16_t outputs;
	uint16_t inputs;
	uint8_t status;   /* offset 6 */
	bool irq_enabled;
	bool filters;     /* input filters active */
	bool loopback;
};

struct gpio;

/* Create a gpio device named name (opts may be NULL: no loopback): set up,
 * not yet listening. 0 or -errno. */
int gpio_create(const char *name, const struct gpio_opts *opts, struct gpio **out);
/* The vus device, to listen on and run. */
struct vus_dev *gpio_dev(struct gpio *g);
/* Free the device (vus_dev_free) and the gpio. NULL is a no-op. */
void gpio_free(struct gpio *g);

/*
 * Drive input n (0-15) to level v, or the inputs in mask to the matching
 * bits of values. An edge raises the interrupt if it is enabled.
 * -EINVAL: n >= 16; -EBUSY: loopback mode (the outputs drive the inputs).
 */
int gpio_set_input(struct gpio *g, unsigned int n, bool v);
int gpio_set_inputs(struct gpio *g, uint16_t mask, uint16_t values);

uint16_t gpio_get_outputs(struct gpio *g);
uint16_t gpio_get_inputs(struct gpio *g);
void gpio_get_state(struct gpio *g, struct gpio_state *out);

/*
 * Told of every change of the state (a register access that changed it,
 * an input, a reset, a restore), with the new state. Runs on the thread
 * that made the change with the device's lock held, so notifications
 * arrive in order: it must not call gpio_* functions. Set before serving.
 */
typedef void (*gpio_notify_fn)(struct gpio *g, void *opaque, const struct gpio_state *st);
void gpio_set_notify(struct gpio *g, gpio_notify_fn fn, void *opaque);

/*
 * Saved state for migration: GPIO_SAVE_SIZE bytes, little-endian,
 *   0  u32 magic GPIO_SAVE_MAGIC    4  u16 version (1)   6  u16 flags
 *   8  u16 outputs                 10  u16 inputs       12  u8 status
 *   13 3 bytes zero
 * flags: bit 0 interrupt enabled, bit 1 filters active.
 * gpio_save() returns GPIO_SAVE_SIZE (-ENOSPC if len is smaller).
 * gpio_restore() takes exactly that (it comes from outside: anything
 * else, unknown bits, or inputs that differ from the outputs in loopback
 * mode: -EINVAL, state untouched), then sets the interrupt line to match.
 */
#define GPIO_SAVE_SIZE  16u
#define GPIO_SAVE_MAGIC 0x4f494449u /* "IDIO" */
ssize_t gpio_save(struct gpio *g, void *buf, size_t len);
int gpio_restore(struct gpio *g, const void *buf, size_t len);

#endif /* VUS_GPIO_H */
