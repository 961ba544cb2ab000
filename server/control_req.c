/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading the fields of a control request (docs/control.md "Requests"),
 * with an error message naming the key; used by control_cmds.c and
 * control_dev.c.
 */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "vusd.h"

/* ---- request fields ------------------------------------------------- */

int vusd_req_string(struct json_object *req, const char *key, bool required, const char **out,
		    struct vusd_err *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v)) {
		if (!required)
			return 0;
		vusd_errf(err, "request: missing key \"%s\"", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
		vusd_errf(err, "request: key \"%s\": expected a string", key);
		return -EINVAL;
	}
	*out = json_object_get_string(v);
	return 0;
}

int vusd_req_uint(struct json_object *req, const char *key, bool required, uint64_t max,
		  uint64_t *out, struct vusd_err *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v)) {
		if (!required)
			return 0;
		vusd_errf(err, "request: missing key \"%s\"", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    json_object_get_uint64(v) > max) {
		vusd_errf(err, "request: key \"%s\": expected an integer from 0 to %llu", key,
			  (unsigned long long)max);
		return -EINVAL;
	}
	*out = json_object_get_uint64(v);
	return 0;
}

int vusd_req_bool(struct json_object *req, const char *key, bool *out, struct vusd_err *err)
{
	struct json_object *v;

	*out = false;
	if (!json_object_object_get_ex(req, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		vusd_errf(err, "request: key \"%s\": expected true or false", key);
		return -EINVAL;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

int vusd_req_device(struct vusd *d, struct json_object *req, struct vusd_dev **out,
		    struct vusd_err *err)
{
	const char *name;
	int rc = vusd_req_string(req, "name", true, &name, err);

	if (rc < 0)
		return rc;
	*out = vusd_dev_find(d, name);
	if (!*out) {
		vusd_errf(err, "no device named \"%s\" (see the list request)", name);
		return -ENOENT;
	}
	return 0;
}
