/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device type "gpio": the ACCES PCI-IDIO-16 of samples/gpio (register map
 * and interrupt model in gpio.h). Option: loopback (outputs drive inputs).
 *
 * Control commands drive the board's field side while a VMM holds the
 * device socket, so an input edge raises an interrupt in the guest:
 *   vusctl --control CTL gpio NAME set-input N 0|1
 *   vusctl --control CTL gpio NAME get-outputs | get-inputs | get
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "devtypes.h"
#include "gpio.h"

struct gpio_type_opts {
	bool loopback;
};

static const struct vusd_opt gpio_type_opts_schema[] = {
	{ .key = "loopback", .kind = VUSD_OPT_BOOL,
	  .offset = offsetof(struct gpio_type_opts, loopback),
	  .help = "wire output n to input n (inputs can then not be set from outside)" },
	{ .key = NULL },
};

static int gpio_type_create(const char *name, const void *opts, struct vusd_inst *out,
			    struct vusd_err *err)
{
	const struct gpio_type_opts *o = opts;
	struct gpio_opts go = { .loopback = o->loopback };
	struct gpio *g;
	int rc;

	rc = gpio_create(name, &go, &g);
	if (rc < 0) {
		vusd_errf(err, "cannot create gpio '%s': %s", name, strerror(-rc));
		return rc;
	}
	out->dev = gpio_dev(g);
	out->handle = g;
	return 0;
}

static void gpio_type_destroy(struct vusd_inst *inst)
{
	gpio_free(inst->handle);
}

/* "0".."15" only: a line number from the command line. */
static int parse_line(const char *s, unsigned *n)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= GPIO_NR_LINES)
		return -EINVAL;
	*n = (unsigned)v;
	return 0;
}

static void put_state(struct gpio *g, struct json_object *result)
{
	struct gpio_state st;

	gpio_get_state(g, &st);
	json_object_object_add(result, "outputs", json_object_new_int(st.outputs));
	json_object_object_add(result, "inputs", json_object_new_int(st.inputs));
	json_object_object_add(result, "status", json_object_new_int(st.status));
	json_object_object_add(result, "irq_enabled", json_object_new_boolean(st.irq_enabled));
	json_object_object_add(result, "filters", json_object_new_boolean(st.filters));
	json_object_object_add(result, "loopback", json_object_new_boolean(st.loopback));
}

static int gpio_type_control(struct vusd_inst *inst, int argc, const char *const *argv,
			     struct json_object *result, struct vusd_err *err)
{
	struct gpio *g = inst->handle;
	unsigned n;
	int rc;

	if (argc == 3 && strcmp(argv[0], "set-input") == 0) {
		if (parse_line(argv[1], &n) < 0) {
			vusd_errf(err, "set-input: line '%s': expected 0..%d", argv[1],
				  GPIO_NR_LINES - 1);
			return -EINVAL;
		}
		if (strcmp(argv[2], "0") != 0 && strcmp(argv[2], "1") != 0) {
			vusd_errf(err, "set-input: value '%s': expected 0 or 1", argv[2]);
			return -EINVAL;
		}
		rc = gpio_set_input(g, n, argv[2][0] == '1');
		if (rc == -EBUSY) {
			/* EPERM, not EBUSY: vusctl reads EBUSY as "a client holds
			 * the device". */
			vusd_errf(err, "set-input: the device is in loopback mode: its outputs "
				  "drive the inputs");
			return -EPERM;
		}
		if (rc < 0) {
			vusd_errf(err, "set-input: %s", strerror(-rc));
			return rc;
		}
		json_object_object_add(result, "inputs", json_object_new_int(gpio_get_inputs(g)));
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "get-outputs") == 0) {
		json_object_object_add(result, "outputs", json_object_new_int(gpio_get_outputs(g)));
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "get-inputs") == 0) {
		json_object_object_add(result, "inputs", json_object_new_int(gpio_get_inputs(g)));
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "get") == 0) {
		put_state(g, result);
		return 0;
	}
	vusd_errf(err, "unknown gpio command; usage: %s", "set-input N 0|1 | get-outputs | "
		  "get-inputs | get");
	return -EINVAL;
}

const struct vusd_type vusd_type_gpio = {
	.name = "gpio",
	.help = "ACCES PCI-IDIO-16, 16 outputs and 16 inputs with interrupts (samples/gpio)",
	.opts = gpio_type_opts_schema,
	.opts_size = sizeof(struct gpio_type_opts),
	.create = gpio_type_create,
	.destroy = gpio_type_destroy,
	.control = gpio_type_control,
	.control_usage = "set-input N 0|1 | get-outputs | get-inputs | get",
};
