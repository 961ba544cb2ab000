/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device spec written back as the JSON object vusd_spec_parse_json()
 * reads (docs/control.md "Devices"): the live-update state carries each
 * running device this way, so the next image creates the same device
 * whatever the configuration file says now, devices added at run time
 * included (docs/live-update.md).
 */
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "vusd.h"

static void put_opts(struct json_object *o, const struct vusd_opt *opts, const void *base)
{
	const struct vusd_opt *opt;

	for (opt = opts; opt && opt->key; opt++) {
		const char *p = (const char *)base + opt->offset;
		const struct vusd_choice *c;
		char mode[16];

		switch (opt->kind) {
		case VUSD_OPT_STRING:
			if (*(char *const *)p)
				json_object_object_add(o, opt->key,
						       json_object_new_string(*(char *const *)p));
			break;
		case VUSD_OPT_UINT:
			json_object_object_add(o, opt->key,
					       json_object_new_uint64(*(const uint64_t *)p));
			break;
		case VUSD_OPT_BOOL:
			json_object_object_add(o, opt->key,
					       json_object_new_boolean(*(const bool *)p));
			break;
		case VUSD_OPT_CHOICE:
			for (c = opt->choices; c && c->name; c++)
				if (c->value == *(const int *)p)
					json_object_object_add(o, opt->key,
							       json_object_new_string(c->name));
			break;
		case VUSD_OPT_MODE:
			snprintf(mode, sizeof(mode), "%04o", *(const unsigned *)p);
			json_object_object_add(o, opt->key, json_object_new_string(mode));
			break;
		}
	}
}

struct json_object *vusd_spec_json(const struct vusd_spec *spec)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "type", json_object_new_string(spec->type->name));
	put_opts(o, vusd_common_opts, spec);
	put_opts(o, spec->type->opts, spec->opts);
	return o;
}
