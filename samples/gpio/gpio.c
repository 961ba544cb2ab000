/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio: the PCI-IDIO-16 model. Register map, interrupt and reset rules are
 * specified in gpio.h; the driver facts behind them are in
 * samples/gpio/README.md, "The Linux driver".
 *
 * All state sits in struct gpio_state under g->lock: the loop thread's
 * register accesses and an outside thread's input changes (gpio.h
 * "Threads") both go through it. Each entry point changes the state, then
 * calls commit_locked() once, which moves the INTx level and tells the
 * notifier, still under the lock so neither can be reordered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gpio.h"
#include "gpio_mig.h"

struct gpio {
	struct vus_dev *dev;
	pthread_mutex_t lock;
	struct gpio_state st; /* guarded by lock */
	bool level;           /* INTx level last given to the library */
	gpio_notify_fn notify;
	void *notify_opaque;
	struct gpio_mig *mig; /* gpio_mig.c */
};

/* ---- state changes (g->lock held) ------------------------------------ */

/* Inputs went from old to g->st.inputs: an edge latches the status while
 * the interrupt is enabled (gpio.h "Interrupt status"). */
static void inputs_changed_locked(struct gpio *g, uint16_t old)
{
	uint16_t edges = old ^ g->st.inputs;

	if (!g->st.irq_enabled || !edges)
		return;
	if (edges & 0x00ff)
		g->st.status |= GPIO_STATUS_IN0_7;
	if (edges & 0xff00)
		g->st.status |= GPIO_STATUS_IN8_15;
	g->st.status |= GPIO_STATUS_PENDING;
}

static void set_outputs_locked(struct gpio *g, uint16_t v)
{
	uint16_t old = g->st.inputs;

	g->st.outputs = v;
	if (!g->st.loopback)
		return;
	g->st.inputs = v;
	inputs_changed_locked(g, old);
}

static bool state_equal(const struct gpio_state *a, const struct gpio_state *b)
{
	return a->outputs == b->outputs && a->inputs == b->inputs && a->status == b->status &&
	       a->irq_enabled == b->irq_enabled && a->filters == b->filters &&
	       a->loopback == b->loopback;
}

/*
 * Make the INTx line and the notifier follow the state. The line is a
 * level, "enabled and pending" (README.md, "The Linux driver");
 * the library turns level changes into eventfd signals with VFIO's INTx
 * auto-masking, and keeps the level across clients: one that connects
 * while it is high is signalled when it assigns its eventfd. It is told
 * only of changes, and cannot fail: gpio_setup() gave the device its pin.
 */
static void commit_locked(struct gpio *g, const struct gpio_state *before)
{
	bool level = g->st.irq_enabled && (g->st.status & GPIO_STATUS_PENDING);

	if (level != g->level) {
		g->level = level;
		(void)vus_irq_intx_set_level(g->dev, level);
	}
	if (g->notify && !state_equal(before, &g->st))
		g->notify(g, g->notify_opaque, &g->st);
}

/* ---- BAR2 registers ------------------------------------------------- */

static uint8_t reg_read_locked(struct gpio *g, uint64_t off)
{
	struct gpio_state *st = &g->st;

	switch (off) {
	case GPIO_REG_OUT0_7:  return (uint8_t)st->outputs;
	case GPIO_REG_IN0_7:   return (uint8_t)st->inputs;
	case GPIO_REG_IRQ_CTL: st->irq_enabled = true; return 0; /* the read enables */
	case GPIO_REG_FILTER:  st->filters = true; return 0;     /* the read activates */
	case GPIO_REG_OUT8_15: return (uint8_t)(st->outputs >> 8);
	case GPIO_REG_IN8_15:  return (uint8_t)(st->inputs >> 8);
	case GPIO_REG_STATUS:  return st->status;
	default:               return 0;
	}
}

static void reg_write_locked(struct gpio *g, uint64_t off, uint8_t v)
{
	struct gpio_state *st = &g->st;

	switch (off) {
	case GPIO_REG_OUT0_7:  set_outputs_locked(g, (st->outputs & 0xff00) | v); break;
	case GPIO_REG_IN0_7:   st->status = 0; break;          /* clear interrupt */
	case GPIO_REG_IRQ_CTL: st->irq_enabled = false; break; /* disable interrupt */
	case GPIO_REG_FILTER:  st->filters = false; break;     /* deactivate filters */
	case GPIO_REG_OUT8_15: set_outputs_locked(g, (st->outputs & 0x00ff) | v << 8); break;
	default:               break; /* 5, 6 and above: nothing to write */
	}
}

/* Byte registers: the driver uses ioread8/iowrite8 only (README.md).
 * A wider access would fire several side effects at once; refuse it. */
static int bar2_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		     uint32_t count)
{
	struct gpio *g = opaque;
	struct gpio_state before;

	if (count != 1)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	before = g->st;
	*(uint8_t *)buf = reg_read_locked(g, offset);
	commit_locked(g, &before);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static int bar2_write(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		      uint32_t count)
{
	struct gpio *g = opaque;
	struct gpio_state before;

	if (count != 1)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	before = g->st;
	reg_write_locked(g, offset, *(const uint8_t *)buf);
	commit_locked(g, &before);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static const struct vus_region_ops bar2_ops = {
	.read = bar2_read,
	.write = bar2_write,
};

/* ---- reset ---------------------------------------------------------- */

static int gpio_reset(struct vus_dev *dev, void *opaque, enum vus_reset_reason reason)
{
	struct gpio *g = opaque;
	struct gpio_state before;

	/* Lost connection: the state is the device's and stays (spec
	 * "Socket Disconnection Behavior"); the INTx level too. */
	if (reason == VUS_RESET_LOST_CONN)
		return 0;
	/* Client reset (and FLR): power-on values; the inputs are outside
	 * the board and keep their levels, except that in loopback they are
	 * the outputs. The interrupt is disabled first, so that change
	 * latches nothing. */
	pthread_mutex_lock(&g->lock);
	before = g->st;
	g->st.irq_enabled = false;
	g->st.status = 0;
	g->st.filters = false;
	set_outputs_locked(g, 0);
	commit_locked(g, &before);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* ---- outside API (gpio.h) ------------------------------------------- */

int gpio_set_inputs(struct gpio *g, uint16_t mask, uint16_t values)
{
	struct gpio_state before;

	if (g->st.loopback) /* fixed at creation: no lock needed to read it */
		return -EBUSY;
	pthread_mutex_lock(&g->lock);
	before = g->st;
	g->st.inputs = (uint16_t)((g->st.inputs & ~mask) | (values & mask));
	inputs_changed_locked(g, before.inputs);
	commit_locked(g, &before);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

int gpio_set_input(struct gpio *g, unsigned int n, bool v)
{
	if (n >= GPIO_NR_LINES)
		return -EINVAL;
	return gpio_set_inputs(g, (uint16_t)(1u << n), v ? (uint16_t)(1u << n) : 0);
}

void gpio_get_state(struct gpio *g, struct gpio_state *out)
{
	pthread_mutex_lock(&g->lock);
	*out = g->st;
	pthread_mutex_unlock(&g->lock);
}

uint16_t gpio_get_outputs(struct gpio *g)
{
	struct gpio_state st;

	gpio_get_state(g, &st);
	return st.outputs;
}

uint16_t gpio_get_inputs(struct gpio *g)
{
	struct gpio_state st;

	gpio_get_state(g, &st);
	return st.inputs;
}

void gpio_set_notify(struct gpio *g, gpio_notify_fn fn, void *opaque)
{
	pthread_mutex_lock(&g->lock);
	g->notify = fn;
	g->notify_opaque = opaque;
	pthread_mutex_unlock(&g->lock);
}

/* ---- save / restore (layout in gpio.h) ------------------------------ */

#define SAVE_VERSION    1
#define SAVE_IRQ_ENABLED (1u << 0)
#define SAVE_FILTERS     (1u << 1)
#define SAVE_STATUS_BITS (GPIO_STATUS_IN0_7 | GPIO_STATUS_IN8_15 | GPIO_STATUS_PENDING)

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

ssize_t gpio_save(struct gpio *g, void *buf, size_t len)
{
	uint8_t *p = buf;
	struct gpio_state st;

	if (len < GPIO_SAVE_SIZE)
		return -ENOSPC;
	gpio_get_state(g, &st);
	memset(p, 0, GPIO_SAVE_SIZE);
	put_le16(p, (uint16_t)GPIO_SAVE_MAGIC);
	put_le16(p + 2, (uint16_t)(GPIO_SAVE_MAGIC >> 16));
	put_le16(p + 4, SAVE_VERSION);
	put_le16(p + 6, (st.irq_enabled ? SAVE_IRQ_ENABLED : 0) | (st.filters ? SAVE_FILTERS : 0));
	put_le16(p + 8, st.outputs);
	put_le16(p + 10, st.inputs);
	p[12] = st.status;
	return GPIO_SAVE_SIZE;
}

/* The status our model can produce: nothing, or "pending" with the bank
 * bits that caused it (inputs_changed_locked). */
static bool status_valid(uint8_t s)
{
	if (s & ~SAVE_STATUS_BITS)
		return false;
	return !(s & GPIO_STATUS_PENDING) == !(s & (GPIO_STATUS_IN0_7 | GPIO_STATUS_IN8_15));
}

int gpio_restore(struct gpio *g, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct gpio_state before;
	uint32_t magic;
	uint16_t flags, outputs, inputs;

	if (len != GPIO_SAVE_SIZE)
		return -EINVAL;
	magic = get_le16(p) | (uint32_t)get_le16(p + 2) << 16;
	flags = get_le16(p + 6);
	outputs = get_le16(p + 8);
	inputs = get_le16(p + 10);
	if (magic != GPIO_SAVE_MAGIC || get_le16(p + 4) != SAVE_VERSION ||
	    (flags & ~(SAVE_IRQ_ENABLED | SAVE_FILTERS)) || !status_valid(p[12]) ||
	    p[13] || p[14] || p[15])
		return -EINVAL;
	if (g->st.loopback && inputs != outputs)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	before = g->st;
	g->st.outputs = outputs;
	g->st.inputs = inputs;
	g->st.status = p[12];
	g->st.irq_enabled = flags & SAVE_IRQ_ENABLED;
	g->st.filters = flags & SAVE_FILTERS;
	commit_locked(g, &before);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* ---- life cycle ----------------------------------------------------- */

static int gpio_setup(struct gpio *g)
{
	static const struct vus_pci_id id = {
		.vendor = GPIO_VENDOR,
		.device = GPIO_DEVICE,
		.subsys_vendor = GPIO_VENDOR,
		.subsys = GPIO_DEVICE,
		.class_code = GPIO_CLASS,
	};
	struct vus_dev *dev = g->dev;
	int rc;

	/* The driver maps BAR2 only, an I/O BAR on the board (README.md,
	 * "The Linux driver"); it requests the legacy line, INTA, shared. */
	if ((rc = vus_dev_set_pci_id(dev, &id)) < 0 ||
	    (rc = vus_dev_set_intx_pin(dev, 1)) < 0 ||
	    (rc = vus_dev_setup_irq(dev, VUS_PCI_INTX_IRQ, 1)) < 0 ||
	    (rc = vus_dev_setup_region(dev, GPIO_BAR, GPIO_BAR_SIZE,
				       VUS_REGION_RW | VUS_REGION_BAR_IO, &bar2_ops, g)) < 0 ||
	    (rc = vus_dev_set_reset(dev, gpio_reset, g)) < 0 ||
	    (rc = gpio_mig_setup(g, &g->mig)) < 0)
		return rc;
	return 0;
}

int gpio_create(const char *name, const struct gpio_opts *opts, struct gpio **out)
{
	struct gpio *g;
	int rc;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	rc = -pthread_mutex_init(&g->lock, NULL);
	if (rc < 0) {
		free(g);
		return rc;
	}
	g->st.loopback = opts && opts->loopback;
	g->dev = vus_dev_new(name);
	if (!g->dev) {
		rc = errno ? -errno : -ENOMEM; /* EMFILE: out of fds */
		goto fail;
	}
	vus_dev_set_private(g->dev, g);
	rc = gpio_setup(g);
	if (rc < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	gpio_free(g);
	return rc;
}

struct vus_dev *gpio_dev(struct gpio *g)
{
	return g->dev;
}

void gpio_free(struct gpio *g)
{
	if (!g)
		return;
	vus_dev_free(g->dev);
	gpio_mig_free(g->mig);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
