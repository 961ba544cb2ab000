/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device type "testdev": the sample device of samples/testdev (its
 * register map is testdev.h). Options: pcie (the PCI Express variant:
 * 4096-byte config space, PCI Express, AER and DSN capabilities, FLR) and
 * msix (off: no MSI-X capability, for QEMU's unplug bug, docs/testdev.md).
 */
#include <stddef.h>
#include <string.h>

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

const struct vusd_type vusd_type_testdev = {
	.name = "testdev",
	.help = "edu-like test device 1234:7e57 (samples/testdev/testdev.h)",
	.opts = testdev_type_opts_schema,
	.opts_size = sizeof(struct testdev_type_opts),
	.opts_default = &testdev_type_defaults,
	.create = testdev_type_create,
	.destroy = testdev_type_destroy,
};
