/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device type "testdev": the sample device of samples/testdev (its
 * register map is testdev.h). Options: pcie (the PCI Express variant:
 * 4096-byte config space, PCI Express, AER and DSN capabilities, FLR) and
 * msix (off: no MSI-X capability, for QEMU's unplug bug, docs/testdev.md).
 *
 * Control commands inject faults (docs/testdev.md "Fault injection",
 * docs/control.md):
 *   vusctl --control CTL testdev NAME fail CMD ERRNO [COUNT]
 *   ... delay CMD MS [COUNT] | clear | disconnect [AFTER]
 *   ... dma-fail ERRNO [COUNT] | dma-fail off | err [AER_BITS] | req
 *   ... storm VECTOR RATE_HZ MS | storm-status
 *   ... sandbox-probe: make a call outside vusd's seccomp list (getpgid)
 *       and report what came back (test/vusd_seccomp.sh)
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vus/codec.h>
#include <vus/fault.h>

#include "devtypes.h"
#include "testdev.h"

struct testdev_type_opts {
	bool pcie;
	bool msix;
};

static const struct testdev_type_opts testdev_type_defaults = { .msix = true };

static const struct vusd_opt testdev_type_opts_schema[] = {
	{ .key = "pcie", .kind = VUSD_OPT_BOOL,
	  .offset = offsetof(struct testdev_type_opts, pcie),
	  .help = "PCI Express variant 1234:7e58 (4 KiB config space, PCIe, AER, DSN, FLR)" },
	{ .key = "msix", .kind = VUSD_OPT_BOOL,
	  .offset = offsetof(struct testdev_type_opts, msix),
	  .help = "MSI-X capability (default on; off: MSI and INTx only)" },
	{ .key = NULL },
};

static int testdev_type_create(const char *name, const void *opts, struct vusd_inst *out,
			       struct vusd_err *err)
{
	const struct testdev_type_opts *o = opts;
	struct testdev_opts to = { .pcie = o->pcie, .no_msix = !o->msix };
	struct testdev *td;
	int rc;

	rc = testdev_create_opts(name, &to, &td);
	if (rc < 0) {
		vusd_errf(err, "cannot create testdev '%s': %s", name, strerror(-rc));
		return rc;
	}
	out->dev = testdev_dev(td);
	out->handle = td;
	return 0;
}

static void testdev_type_destroy(struct vusd_inst *inst)
{
	testdev_free(inst->handle);
}


#define TESTDEV_CONTROL_USAGE                                                              \
	"fail CMD ERRNO [COUNT] | delay CMD MS [COUNT] | clear | disconnect [AFTER] | "    \
	"dma-fail ERRNO [COUNT] | dma-fail off | err [AER_BITS] | req | "                 \
	"storm VECTOR RATE_HZ MS | storm-status | sandbox-probe | stall MS"

/* A number in [0, max]: decimal or 0x hex. */
static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* A vfio-user command by name (REGION_READ, region_read) or number. */
static int parse_cmd(const char *s, uint16_t *out)
{
	uint32_t n;
	unsigned c;

	for (c = VUS_CMD_VERSION; c <= VUS_CMD_MAX; c++) {
		if (strcasecmp(s, vus_cmd_name(c)) == 0) {
			*out = (uint16_t)c;
			return 0;
		}
	}
	if (parse_u32(s, VUS_CMD_MAX, &n) < 0 || n < VUS_CMD_VERSION)
		return -EINVAL;
	*out = (uint16_t)n;
	return 0;
}

/* An errno by name (EIO, eio) or number. */
static int parse_errno(const char *s, uint32_t *out)
{
	static const struct { const char *name; int e; } names[] = {
		{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EIO", EIO }, { "ENXIO", ENXIO },
		{ "EBADF", EBADF }, { "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM },
		{ "EACCES", EACCES }, { "EFAULT", EFAULT }, { "EBUSY", EBUSY },
		{ "EEXIST", EEXIST }, { "ENODEV", ENODEV }, { "EINVAL", EINVAL },
		{ "ENOSPC", ENOSPC }, { "ENOSYS", ENOSYS }, { "ENOTSUP", ENOTSUP },
		{ "ETIMEDOUT", ETIMEDOUT }, { "E2BIG", E2BIG }, { "EPROTO", EPROTO },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = (uint32_t)names[i].e;
			return 0;
		}
	}
	if (parse_u32(s, 4095, out) < 0 || !*out)
		return -EINVAL;
	return 0;
}

static int fault_rule(struct vus_dev *dev, int argc, const char *const *argv, bool delay,
		      struct json_object *result, struct vusd_err *err)
{
	struct vus_fault_rule rule = { 0 };
	uint32_t v, count = 0;
	int rc;

	if (argc < 3 || argc > 4) {
		vusd_errf(err, "%s: usage: %s CMD %s [COUNT]", argv[0], argv[0],
			  delay ? "MS" : "ERRNO");
		return -EINVAL;
	}
	if (parse_cmd(argv[1], &rule.cmd) < 0) {
		vusd_errf(err, "%s: command '%s': expected a vfio-user command name "
			  "(e.g. REGION_READ) or number 1..%d", argv[0], argv[1], VUS_CMD_MAX);
		return -EINVAL;
	}
	if (delay ? parse_u32(argv[2], 600000, &v) < 0 || !v : parse_errno(argv[2], &v) < 0) {
		vusd_errf(err, "%s: '%s': expected %s", argv[0], argv[2],
			  delay ? "milliseconds 1..600000" : "an errno name (EIO) or number 1..4095");
		return -EINVAL;
	}
	if (argc == 4 && parse_u32(argv[3], UINT32_MAX, &count) < 0) {
		vusd_errf(err, "%s: count '%s': expected a number (0: until cleared)", argv[0],
			  argv[3]);
		return -EINVAL;
	}
	if (delay)
		rule.delay_ms = v;
	else
		rule.error = (int)v;
	rule.count = count;
	rc = vus_dev_fault_add(dev, &rule);
	if (rc < 0) {
		vusd_errf(err, "%s: %s", argv[0], rc == -ENOSPC ? "too many rules (clear them)"
								  : strerror(-rc));
		return rc;
	}
	json_object_object_add(result, "command", json_object_new_string(vus_cmd_name(rule.cmd)));
	json_object_object_add(result, delay ? "delay_ms" : "errno", json_object_new_int64(v));
	json_object_object_add(result, "count", json_object_new_int64(count));
	return 0;
}

static int testdev_type_control(struct vusd_inst *inst, int argc, const char *const *argv,
				struct json_object *result, struct vusd_err *err)
{
	struct testdev *td = inst->handle;
	struct vus_dev *dev = inst->dev;
	const char *c = argv[0];
	uint32_t a = 0, b = 0, d = 0;
	int rc;

	if (strcmp(c, "fail") == 0 || strcmp(c, "delay") == 0)
		return fault_rule(dev, argc, argv, c[0] == 'd', result, err);
	if (strcmp(c, "clear") == 0 && argc == 1) {
		vus_dev_fault_clear(dev);
		testdev_fault_dma(td, 0, 0);
		return 0;
	}
	if (strcmp(c, "disconnect") == 0 && argc <= 2) {
		if (argc == 2 && parse_u32(argv[1], UINT32_MAX, &a) < 0) {
			vusd_errf(err, "disconnect: '%s': expected a number of commands", argv[1]);
			return -EINVAL;
		}
		rc = vus_dev_fault_disconnect(dev, a);
		if (rc == -ENOTCONN) {
			/* Not ENOTCONN's usual sense for vusctl: say it. */
			vusd_errf(err, "disconnect: no client is attached (disconnect N arms it "
				  "for the next one)");
			return -ENOENT;
		}
		json_object_object_add(result, "after", json_object_new_int64(a));
		return rc;
	}
	if (strcmp(c, "dma-fail") == 0 && argc >= 2 && argc <= 3) {
		if (strcmp(argv[1], "off") == 0 && argc == 2) {
			a = 0;
		} else if (parse_errno(argv[1], &a) < 0 ||
			   (argc == 3 && parse_u32(argv[2], UINT32_MAX, &b) < 0)) {
			vusd_errf(err, "dma-fail: usage: dma-fail ERRNO [COUNT] | dma-fail off");
			return -EINVAL;
		}
		json_object_object_add(result, "errno", json_object_new_int64(a));
		json_object_object_add(result, "count", json_object_new_int64(b));
		return testdev_fault_dma(td, (int)a, b);
	}
	if (strcmp(c, "err") == 0 && argc <= 2) {
		/* PCI Express: through AER as hardware would (Completion
		 * Timeout unless bits are given); conventional testdev has no
		 * ERR vector (kernel vfio-pci gives ERR to PCIe only). */
		a = VUS_AER_UNCOR_COMP_TIMEOUT;
		if (argc == 2 && parse_u32(argv[1], UINT32_MAX, &a) < 0) {
			vusd_errf(err, "err: '%s': expected AER uncorrectable status bits", argv[1]);
			return -EINVAL;
		}
		rc = vus_dev_report_aer(dev, a, 0);
		if (rc == -ENOENT) {
			vusd_errf(err, "err: this testdev has no AER (use pcie=on)");
			return -EINVAL;
		}
		if (rc < 0) {
			vusd_errf(err, "err: %s", strerror(-rc));
			return rc;
		}
		json_object_object_add(result, "aer_uncorrectable", json_object_new_int64(a));
		return 0;
	}
	if (strcmp(c, "req") == 0 && argc == 1) {
		rc = vus_irq_trigger(dev, VUS_PCI_REQ_IRQ, 0);
		json_object_object_add(result, "signalled", json_object_new_boolean(rc == 0));
		/* No eventfd from the client: nobody to ask, not an error. */
		return rc == -ENOENT ? 0 : rc;
	}
	if (strcmp(c, "storm") == 0 && argc == 4) {
		if (parse_u32(argv[1], 7, &a) < 0 || parse_u32(argv[2], 1000000, &b) < 0 ||
		    parse_u32(argv[3], 600000, &d) < 0) {
			vusd_errf(err, "storm: usage: storm VECTOR(0-7) RATE_HZ(1-1000000) MS(1-600000)");
			return -EINVAL;
		}
		rc = testdev_storm(td, a, b, d);
		if (rc == -EBUSY) {
			vusd_errf(err, "storm: one is already running");
			return -EALREADY;
		}
		if (rc < 0) {
			vusd_errf(err, "storm: %s", strerror(-rc));
			return rc;
		}
		return 0;
	}
	if (strcmp(c, "storm-status") == 0 && argc == 1) {
		json_object_object_add(result, "running",
				       json_object_new_boolean(testdev_storm_running(td)));
		json_object_object_add(result, "sent",
				       json_object_new_int64((int64_t)testdev_storm_sent(td)));
		return 0;
	}
	if (strcmp(c, "sandbox-probe") == 0 && argc == 1) {
		/* A call no device needs, so outside the filter's list
		 * (server/sandbox.c): with the filter on it fails with EPERM. */
		errno = 0;
		rc = (int)getpgid(0);
		json_object_object_add(result, "call", json_object_new_string("getpgid"));
		json_object_object_add(result, "ret", json_object_new_int(rc));
		json_object_object_add(result, "errno", json_object_new_int(rc < 0 ? errno : 0));
		return 0;
	}
	if (strcmp(c, "stall") == 0 && argc == 2) {
		struct timespec ts;

		/* Hold the loop thread, as a device callback that blocks
		 * would (a slow backend, a page fault on stuck memory): the
		 * other devices of that loop wait too, unless isolated
		 * (docs/security.md "Isolation"). */
		if (parse_u32(argv[1], 10000, &a) < 0 || a == 0) {
			vusd_errf(err, "stall: usage: stall MS (1-10000)");
			return -EINVAL;
		}
		ts.tv_sec = a / 1000;
		ts.tv_nsec = (long)(a % 1000) * 1000000;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		json_object_object_add(result, "stalled_ms", json_object_new_int64(a));
		return 0;
	}
	vusd_errf(err, "unknown testdev command; usage: %s", TESTDEV_CONTROL_USAGE);
	return -EINVAL;
}

const struct vusd_type vusd_type_testdev = {
	.name = "testdev",
	.help = "edu-like test device 1234:7e57 (samples/testdev/testdev.h)",
	.opts = testdev_type_opts_schema,
	.opts_size = sizeof(struct testdev_type_opts),
	.opts_default = &testdev_type_defaults,
	.create = testdev_type_create,
	.destroy = testdev_type_destroy,
	.control = testdev_type_control,
	.control_usage = TESTDEV_CONTROL_USAGE,
};
