/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device specifications: the common keys every device takes plus its
 * type's options, read from "TYPE,key=value,..." or from a JSON object and
 * checked against the schemas (devtypes.h). Every error names where the
 * value came from, the key, what was expected and what was given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "devtypes.h"

/* Longest string option (a socket path is far shorter: sun_path). */
#define VUSD_OPT_STRING_MAX 4096
/* Most options a type's schema may declare (devtypes.h). */
#define VUSD_OPTS_MAX 64
#define VUSD_NAME_MAX 64

static const struct vusd_choice dma_layouts[] = {
	{ "auto", VUS_DMA_LAYOUT_AUTO },
	{ "spec", VUS_DMA_LAYOUT_SPEC },
	{ "qemu", VUS_DMA_LAYOUT_QEMU },
	{ NULL, 0 },
};

static const struct vusd_choice isolations[] = {
	{ "shared", VUSD_ISOLATION_SHARED },
	{ "process", VUSD_ISOLATION_PROCESS },
	{ NULL, 0 },
};

const struct vusd_opt vusd_common_opts[] = {
	{ .key = "name", .kind = VUSD_OPT_STRING, .offset = offsetof(struct vusd_spec, name),
	  .help = "instance name for logs and control requests (default: the type)" },
	{ .key = "socket", .kind = VUSD_OPT_STRING, .offset = offsetof(struct vusd_spec, socket),
	  .help = "path of the vfio-user socket vusd creates" },
	{ .key = "socket_mode", .kind = VUSD_OPT_MODE,
	  .offset = offsetof(struct vusd_spec, socket_mode),
	  .help = "its permission bits, octal (default 0600)" },
	{ .key = "dma_layout", .kind = VUSD_OPT_CHOICE,
	  .offset = offsetof(struct vusd_spec, dma_layout),
	  .help = "DMA_READ/WRITE layout: auto (default), spec, qemu", .choices = dma_layouts },
	{ .key = "isolation", .kind = VUSD_OPT_CHOICE,
	  .offset = offsetof(struct vusd_spec, isolation),
	  .help = "shared (default: vusd's loop) or process (a sandboxed child process of "
		  "its own, docs/security.md)", .choices = isolations },
	{ .key = NULL },
};

bool vusd_name_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len >= VUSD_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

const struct vusd_opt *vusd_opt_find(const struct vusd_opt *opts, const char *key)
{
	for (; opts && opts->key; opts++)
		if (strcmp(opts->key, key) == 0)
			return opts;
	return NULL;
}

void vusd_opts_keys(const struct vusd_opt *opts, char *buf, size_t len)
{
	size_t used = 0;
	int n;

	buf[0] = '\0';
	for (; opts && opts->key && used < len; opts++) {
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", opts->key);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

void vusd_opts_free(const struct vusd_opt *opts, void *base)
{
	for (; opts && opts->key; opts++) {
		if (opts->kind == VUSD_OPT_STRING) {
			char **p = (char **)((char *)base + opts->offset);

			free(*p);
			*p = NULL;
		}
	}
}

/* ---- one value ------------------------------------------------------ */

static void choices_list(const struct vusd_choice *c, char *buf, size_t len)
{
	size_t used = 0;
	int n;

	buf[0] = '\0';
	for (; c->name && used < len; c++) {
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", c->name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* What a key expects, for error messages. */
static void expectation(const struct vusd_opt *o, char *buf, size_t len)
{
	char list[256];

	switch (o->kind) {
	case VUSD_OPT_STRING:
		snprintf(buf, len, "a non-empty string");
		break;
	case VUSD_OPT_UINT:
		snprintf(buf, len, "an integer from %" PRIu64 " to %" PRIu64, o->min, o->max);
		break;
	case VUSD_OPT_BOOL:
		snprintf(buf, len, "true or false");
		break;
	case VUSD_OPT_CHOICE:
		choices_list(o->choices, list, sizeof(list));
		snprintf(buf, len, "one of %s", list);
		break;
	case VUSD_OPT_MODE:
		snprintf(buf, len, "permission bits as an octal string such as \"0660\"");
		break;
	}
}

static int bad_value(const struct vusd_opt *o, const char *where, const char *got,
		     struct vusd_err *err)
{
	char want[320];

	expectation(o, want, sizeof(want));
	vusd_errf(err, "%s: key \"%s\": expected %s, got %s", where, o->key, want, got);
	return -EINVAL;
}

static int set_str(void *field, const char *v)
{
	char **p = field, *copy = strdup(v);

	if (!copy)
		return -ENOMEM;
	free(*p);
	*p = copy;
	return 0;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno == 0 && *end == '\0';
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool parse_choice(const struct vusd_choice *c, const char *s, int *out)
{
	for (; c->name; c++) {
		if (strcmp(c->name, s) == 0) {
			*out = c->value;
			return true;
		}
	}
	return false;
}

/* Octal digits only ("0660", "660"): a decimal 432 would be a trap. */
static bool parse_mode(const char *s, unsigned *out)
{
	size_t len = strlen(s), i;
	unsigned v = 0;

	if (len == 0 || len > 4)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '7')
			return false;
		v = v * 8 + (unsigned)(s[i] - '0');
	}
	if (v > 0777)
		return false;
	*out = v;
	return true;
}

int vusd_opt_set_string(const struct vusd_opt *o, void *base, const char *v, const char *where,
			struct vusd_err *err)
{
	void *field = (char *)base + o->offset;
	char got[128];
	uint64_t u;

	snprintf(got, sizeof(got), "\"%s\"", v);
	switch (o->kind) {
	case VUSD_OPT_STRING:
		if (!*v || strlen(v) >= VUSD_OPT_STRING_MAX)
			return bad_value(o, where, got, err);
		if (set_str(field, v) < 0) {
			vusd_errf(err, "%s: out of memory", where);
			return -ENOMEM;
		}
		return 0;
	case VUSD_OPT_UINT:
		if (!parse_u64(v, &u) || u < o->min || u > o->max)
			return bad_value(o, where, got, err);
		*(uint64_t *)field = u;
		return 0;
	case VUSD_OPT_BOOL:
		if (!parse_bool(v, field))
			return bad_value(o, where, got, err);
		return 0;
	case VUSD_OPT_CHOICE:
		if (!parse_choice(o->choices, v, field))
			return bad_value(o, where, got, err);
		return 0;
	case VUSD_OPT_MODE:
		if (!parse_mode(v, field))
			return bad_value(o, where, got, err);
		return 0;
	}
	return bad_value(o, where, got, err);
}

int vusd_opt_set_json(const struct vusd_opt *o, void *base, struct json_object *v,
		      const char *where, struct vusd_err *err)
{
	char got[128];
	int64_t i;
	uint64_t u;

	snprintf(got, sizeof(got), "%s",
		 v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null");
	switch (o->kind) {
	case VUSD_OPT_UINT:
		if (!json_object_is_type(v, json_type_int))
			return bad_value(o, where, got, err);
		/* json-c keeps integers above INT64_MAX as uint64. */
		i = json_object_get_int64(v);
		if (i < 0)
			return bad_value(o, where, got, err);
		u = json_object_get_uint64(v);
		if (u < o->min || u > o->max)
			return bad_value(o, where, got, err);
		*(uint64_t *)((char *)base + o->offset) = u;
		return 0;
	case VUSD_OPT_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return bad_value(o, where, got, err);
		*(bool *)((char *)base + o->offset) = json_object_get_boolean(v);
		return 0;
	case VUSD_OPT_STRING:
	case VUSD_OPT_CHOICE:
	case VUSD_OPT_MODE:
		/* A string holding a NUL could not be used as one. */
		if (!json_object_is_type(v, json_type_string) ||
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
			return bad_value(o, where, got, err);
		return vusd_opt_set_string(o, base, json_object_get_string(v), where, err);
	}
	return bad_value(o, where, got, err);
}

/* ---- whole specifications ------------------------------------------- */

static void spec_clear(struct vusd_spec *s, unsigned mode)
{
	memset(s, 0, sizeof(*s));
	s->socket_mode = mode;
	s->dma_layout = VUS_DMA_LAYOUT_AUTO;
	s->fd = -1;
}

void vusd_spec_free(struct vusd_spec *spec)
{
	vusd_opts_free(vusd_common_opts, spec);
	json_object_put(spec->budget);
	if (spec->type && spec->opts)
		vusd_opts_free(spec->type->opts, spec->opts);
	free(spec->opts);
	free(spec->type_name);
	spec_clear(spec, 0);
}

/* Look the type up and give the spec its options struct with defaults. */
static int spec_begin(struct vusd_spec *s, const char *type, const char *where,
		      struct vusd_err *err)
{
	const struct vusd_type *t = vusd_type_find(type);
	const struct vusd_opt *o;
	char known[256] = "";
	size_t i;

	if (!t) {
		for (i = 0; i < vusd_type_count(); i++) {
			size_t used = strlen(known);

			snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
				 vusd_type_at(i)->name);
		}
		vusd_errf(err, "%s: unknown device type \"%s\" (known: %s)", where, type, known);
		return -EINVAL;
	}
	s->type = t;
	s->type_name = strdup(type);
	s->opts = calloc(1, t->opts_size ? t->opts_size : 1);
	if (!s->type_name || !s->opts)
		goto nomem;
	if (t->opts_default)
		memcpy(s->opts, t->opts_default, t->opts_size);
	/* Defaults may point at literals: own every string. */
	for (o = t->opts; o && o->key; o++) {
		char **p = (char **)((char *)s->opts + o->offset);

		if (o->kind == VUSD_OPT_STRING && *p && !(*p = strdup(*p)))
			goto nomem;
	}
	return 0;
nomem:
	vusd_errf(err, "%s: out of memory", where);
	return -ENOMEM;
}

/*
 * The device's own budget: "budget": {...} in JSON, budget.KEY=N in the
 * key=value form; kept as a JSON object, checked against the budget
 * schema by vusd_budget_effective() (budget.c) when the device is
 * configured or added.
 */
static int spec_set_budget(struct vusd_spec *s, const char *key, const char *sval,
			   struct json_object *jval, const char *where, struct vusd_err *err)
{
	struct json_object *v;
	unsigned long long u;
	char *end;

	if (!s->budget && !(s->budget = json_object_new_object()))
		goto nomem;
	if (jval) {
		if (!json_object_is_type(jval, json_type_object)) {
			vusd_errf(err, "%s: key \"budget\": expected an object such as "
				  "{\"dma_bytes\": 1073741824}", where);
			return -EINVAL;
		}
		json_object_object_foreach(jval, k, val)
			if (json_object_object_add(s->budget, k, json_object_get(val)) < 0)
				goto nomem;
	} else {
		errno = 0;
		u = strtoull(sval, &end, 0);

		if (errno || end == sval || *end || *sval < '0' || *sval > '9') {
			vusd_errf(err, "%s: key \"budget.%s\": expected an integer, got \"%s\"",
				  where, key, sval);
			return -EINVAL;
		}
		v = json_object_new_uint64(u);
		if (!v || json_object_object_add(s->budget, key, v) < 0)
			goto nomem;
	}
	return 0;
nomem:
	vusd_errf(err, "%s: out of memory", where);
	return -ENOMEM;
}

/* Set one key, common or the type's; seen[] marks the type's keys set. */
static int spec_set(struct vusd_spec *s, const char *key, const char *sval,
		    struct json_object *jval, const char *where, bool *seen, struct vusd_err *err)
{
	const struct vusd_opt *o = vusd_opt_find(vusd_common_opts, key);
	void *base = s;
	char keys[512], type_keys[512];

	if (!o && jval && strcmp(key, "budget") == 0)
		return spec_set_budget(s, NULL, NULL, jval, where, err);
	if (!o && !jval && strncmp(key, "budget.", 7) == 0)
		return spec_set_budget(s, key + 7, sval, NULL, where, err);
	if (!o) {
		o = vusd_opt_find(s->type->opts, key);
		base = s->opts;
		if (o && o - s->type->opts < VUSD_OPTS_MAX)
			seen[o - s->type->opts] = true;
	}
	if (!o) {
		vusd_opts_keys(vusd_common_opts, keys, sizeof(keys));
		vusd_opts_keys(s->type->opts, type_keys, sizeof(type_keys));
		vusd_errf(err, "%s: unknown key \"%s\" (a %s takes: type, budget, %s%s%s)", where, key,
			  s->type->name, keys, type_keys[0] ? ", " : "", type_keys);
		return -EINVAL;
	}
	return jval ? vusd_opt_set_json(o, base, jval, where, err)
		    : vusd_opt_set_string(o, base, sval, where, err);
}

static int spec_finish(struct vusd_spec *s, const bool *seen, const char *where,
		       struct vusd_err *err)
{
	const struct vusd_opt *o;

	for (o = s->type->opts; o && o->key; o++) {
		ptrdiff_t i = o - s->type->opts;

		if (o->required && (i >= VUSD_OPTS_MAX || !seen[i])) {
			vusd_errf(err, "%s: missing key \"%s\" (%s)", where, o->key, o->help);
			return -EINVAL;
		}
	}
	if (!s->name && !(s->name = strdup(s->type->name))) {
		vusd_errf(err, "%s: out of memory", where);
		return -ENOMEM;
	}
	if (!vusd_name_valid(s->name)) {
		vusd_errf(err, "%s: key \"name\": expected letters, digits, '_', '.', '-' "
			  "(up to %d, starting with a letter or digit), got \"%s\"",
			  where, VUSD_NAME_MAX - 1, s->name);
		return -EINVAL;
	}
	return 0;
}

int vusd_spec_parse_kv(const char *text, unsigned mode, const char *where,
		       struct vusd_spec *out, struct vusd_err *err)
{
	bool seen[VUSD_OPTS_MAX] = { false };
	char *copy, *save = NULL, *tok, *eq;
	int rc;

	spec_clear(out, mode);
	copy = strdup(text);
	if (!copy) {
		vusd_errf(err, "%s: out of memory", where);
		return -ENOMEM;
	}
	tok = strtok_r(copy, ",", &save);
	if (!tok || tok != copy) {
		vusd_errf(err, "%s: expected TYPE[,key=value...], got \"%s\"", where, text);
		rc = -EINVAL;
		goto out;
	}
	rc = spec_begin(out, tok, where, err);
	if (rc < 0)
		goto out;
	while ((tok = strtok_r(NULL, ",", &save))) {
		eq = strchr(tok, '=');
		if (!eq || eq == tok) {
			vusd_errf(err, "%s: expected key=value, got \"%s\"", where, tok);
			rc = -EINVAL;
			goto out;
		}
		*eq = '\0';
		rc = spec_set(out, tok, eq + 1, NULL, where, seen, err);
		if (rc < 0)
			goto out;
	}
	rc = spec_finish(out, seen, where, err);
out:
	free(copy);
	if (rc < 0)
		vusd_spec_free(out);
	return rc;
}

int vusd_spec_parse_json(struct json_object *obj, unsigned mode, const char *where,
			 struct vusd_spec *out, struct vusd_err *err)
{
	bool seen[VUSD_OPTS_MAX] = { false };
	struct json_object *type;
	int rc;

	spec_clear(out, mode);
	if (!json_object_is_type(obj, json_type_object)) {
		vusd_errf(err, "%s: expected an object {\"type\": ..., \"name\": ..., "
			  "\"socket\": ...}, got %s", where,
			  json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
		return -EINVAL;
	}
	if (!json_object_object_get_ex(obj, "type", &type) ||
	    !json_object_is_type(type, json_type_string)) {
		vusd_errf(err, "%s: key \"type\": expected the device type as a string", where);
		return -EINVAL;
	}
	rc = spec_begin(out, json_object_get_string(type), where, err);
	if (rc < 0)
		goto out;
	json_object_object_foreach(obj, key, val) {
		if (strcmp(key, "type") == 0)
			continue;
		rc = spec_set(out, key, NULL, val, where, seen, err);
		if (rc < 0)
			goto out;
	}
	rc = spec_finish(out, seen, where, err);
out:
	if (rc < 0)
		vusd_spec_free(out);
	return rc;
}
