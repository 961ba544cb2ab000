/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device type "testdev": the sample device of samples/testdev (its
 * register map is testdev.h). It has no options of its own.
 */
#include <string.h>

#include "devtypes.h"
#include "testdev.h"

static int testdev_type_create(const char *name, const void *opts, struct vusd_inst *out,
			       struct vusd_err *err)
{
	struct testdev *td;
	int rc;

	rc = testdev_create(name, &td);
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
	.create = testdev_type_create,
	.destroy = testdev_type_destroy,
};
