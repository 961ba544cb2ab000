/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A running device's specification as the JSON object `add` takes
 * (docs/control.md "info", `spec`): its type, every option of its type
 * with the value it runs with (defaults included), socket_mode and
 * dma_layout -- without name and socket, which a copy must choose anew.
 * `vusctl migrate --control` recreates the device from it in another
 * vusd (docs/migration.md "Migrating by name").
 */
#include <stdio.h>

#include <json-c/json.h>

#include "vusd.h"

static const char *choice_name(const struct vusd_choice *c, int value)
{
	for (; c && c->name; c++)
		if (c->value == value)
			return c->name;
	return NULL;
}

/* One key into obj from the struct at base (a string option left unset: none). */
static void opt_json(struct json_object *obj, const struct vusd_opt *o, const void *base)
{
	const char *field = (const char *)base + o->offset;
	const char *name;
	char mode[8];

	switch (o->kind) {
	case VUSD_OPT_STRING:
		if (*(char *const *)field)
			json_object_object_add(obj, o->key,
					       json_object_new_string(*(char *const *)field));
		break;
	case VUSD_OPT_UINT:
		json_object_object_add(obj, o->key,
				       json_object_new_uint64(*(const uint64_t *)field));
		break;
	case VUSD_OPT_BOOL:
		json_object_object_add(obj, o->key,
				       json_object_new_boolean(*(const bool *)field));
		break;
	case VUSD_OPT_CHOICE:
		name = choice_name(o->choices, *(const int *)field);
		if (name)
			json_object_object_add(obj, o->key, json_object_new_string(name));
		break;
	case VUSD_OPT_MODE:
		/* An octal string, as the key is written (a JSON number would be
		 * read as decimal: docs/control.md section 2). */
		snprintf(mode, sizeof(mode), "0%03o", *(const unsigned *)field & 07777u);
		json_object_object_add(obj, o->key, json_object_new_string(mode));
		break;
	}
}

struct json_object *vusd_spec_json(const struct vusd_spec *spec)
{
	struct json_object *o = json_object_new_object();
	const struct vusd_opt *opt;

	if (!o)
		return NULL;
	json_object_object_add(o, "type", json_object_new_string(spec->type->name));
	for (opt = vusd_common_opts; opt->key; opt++)
		if (opt->kind != VUSD_OPT_STRING) /* name and socket: the copy's own */
			opt_json(o, opt, spec);
	for (opt = spec->type->opts; opt && opt->key; opt++)
		opt_json(o, opt, spec->opts);
	/* The device's own budget keys, as given (docs/control.md "Budgets"). */
	if (spec->budget)
		json_object_object_add(o, "budget", json_object_get(spec->budget));
	return o;
}
