/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device-type registry: every type vusd can serve, in one table.
 *
 * Adding a device type
 *   1. Write server/type_NAME.c defining
 *        const struct vusd_type vusd_type_NAME = {
 *                .name = "NAME", .help = "one line",
 *                .opts = NAME_opts,              (schema, or NULL)
 *                .opts_size = sizeof(struct NAME_opts),
 *                .opts_default = &NAME_defaults, (or NULL: all zero)
 *                .create = NAME_create, .destroy = NAME_destroy,
 *                .control = NAME_control,        (optional) with
 *                .control_usage = "set-input N 0|1 | get-outputs",
 *        };
 *      create() builds the vus device (set up, not listening); vusd
 *      applies the common keys (name, socket, socket_mode, dma_layout),
 *      listens and serves it. The schema is all the parsing a type
 *      does: devspec.c reads "--device NAME,key=value" and the config
 *      file's JSON into the options struct and reports bad values.
 *   2. Add its extern declaration and one line to types[] below.
 * server/CMakeLists.txt builds every server/type_*.c; a type that needs a
 * library of its own (e.g. samples/NAME) also adds it to vusd's
 * target_link_libraries there. `vusd --help` and the control socket's
 * "types" request list the new type and its keys from then on.
 */
#include <string.h>

#include "devtypes.h"

extern const struct vusd_type vusd_type_gpio;
extern const struct vusd_type vusd_type_nvme;
extern const struct vusd_type vusd_type_testdev;
extern const struct vusd_type vusd_type_vfio;

static const struct vusd_type *const types[] = {
	&vusd_type_gpio,
	&vusd_type_nvme,
	&vusd_type_testdev,
	&vusd_type_vfio,
};

#define NR_TYPES (sizeof(types) / sizeof(types[0]))

const struct vusd_type *vusd_type_find(const char *name)
{
	size_t i;

	for (i = 0; i < NR_TYPES; i++)
		if (strcmp(types[i]->name, name) == 0)
			return types[i];
	return NULL;
}

size_t vusd_type_count(void)
{
	return NR_TYPES;
}

const struct vusd_type *vusd_type_at(size_t i)
{
	return i < NR_TYPES ? types[i] : NULL;
}

static void opts_print(FILE *f, const struct vusd_opt *o)
{
	for (; o && o->key; o++)
		fprintf(f, "               %-14s %s%s\n", o->key, o->help,
			o->required ? " (required)" : "");
}

void vusd_types_print(FILE *f)
{
	size_t i;

	for (i = 0; i < NR_TYPES; i++) {
		fprintf(f, "  %-12s %s\n", types[i]->name, types[i]->help);
		opts_print(f, types[i]->opts);
		if (types[i]->control_usage)
			fprintf(f, "               control: vusctl --control CTL %s NAME %s\n",
				types[i]->name, types[i]->control_usage);
	}
}
