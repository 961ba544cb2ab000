/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control requests for the daemon as a whole (docs/control.md
 * "Requests"): version, list, types, add, remove, stats, log-level, and
 * the request table. Requests addressed to one device are in
 * control_dev.c, the helpers that read request fields control_req.c.
 */
#define _GNU_SOURCE /* strerrorname_np */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>
#include <vus/codec.h>

#include "vusd.h"

#ifndef VUS_VERSION
#error "VUS_VERSION must come from the build (server/CMakeLists.txt)"
#endif

/* ---- replies -------------------------------------------------------- */

/* json-c's add functions take ownership and only fail without memory;
 * a reply short of a member then is the best there is. */
static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

struct json_object *vusd_dev_entry(struct vusd_dev *vd)
{
	struct json_object *o;
	struct vus_dev_stats st;

	if (vd->child)
		return vusd_child_entry(vd);
	o = json_object_new_object();
	if (!o)
		return NULL;
	vus_dev_get_stats(vd->inst.dev, &st);
	json_object_object_add(o, "name", json_object_new_string(vd->spec.name));
	json_object_object_add(o, "type", json_object_new_string(vd->spec.type->name));
	if (vd->spec.socket)
		json_object_object_add(o, "socket", json_object_new_string(vd->spec.socket));
	else
		json_object_object_add(o, "fd", json_object_new_int(vd->spec.fd));
	json_object_object_add(o, "attached",
			       json_object_new_boolean(vus_dev_client_attached(vd->inst.dev)));
	add_u64(o, "clients", st.clients);
	return o;
}

/* ---- requests ------------------------------------------------------- */

static int ctl_version(struct vusd *d, struct json_object *req, struct json_object *reply,
		       struct vusd_err *err)
{
	json_object_object_add(reply, "version", json_object_new_string(VUS_VERSION));
	return 0;
}

static int ctl_list(struct vusd *d, struct json_object *req, struct json_object *reply,
		    struct vusd_err *err)
{
	struct json_object *arr = json_object_new_array();
	struct vusd_dev *vd;

	if (!arr)
		return -ENOMEM;
	for (vd = d->devs; vd; vd = vd->next)
		json_object_array_add(arr, vusd_dev_entry(vd));
	json_object_object_add(reply, "devices", arr);
	return 0;
}

static struct json_object *opts_json(const struct vusd_opt *o)
{
	static const char *const kinds[] = {
		[VUSD_OPT_STRING] = "string", [VUSD_OPT_UINT] = "integer",
		[VUSD_OPT_BOOL] = "boolean", [VUSD_OPT_CHOICE] = "choice",
		[VUSD_OPT_MODE] = "mode",
	};
	struct json_object *arr = json_object_new_array(), *e, *ch;
	const struct vusd_choice *c;

	for (; arr && o && o->key; o++) {
		e = json_object_new_object();
		json_object_object_add(e, "key", json_object_new_string(o->key));
		json_object_object_add(e, "kind", json_object_new_string(kinds[o->kind]));
		json_object_object_add(e, "help", json_object_new_string(o->help));
		json_object_object_add(e, "required", json_object_new_boolean(o->required));
		if (o->kind == VUSD_OPT_UINT) {
			add_u64(e, "min", o->min);
			add_u64(e, "max", o->max);
		}
		if (o->kind == VUSD_OPT_CHOICE) {
			ch = json_object_new_array();
			for (c = o->choices; c->name; c++)
				json_object_array_add(ch, json_object_new_string(c->name));
			json_object_object_add(e, "choices", ch);
		}
		json_object_array_add(arr, e);
	}
	return arr;
}

static int ctl_types(struct vusd *d, struct json_object *req, struct json_object *reply,
		     struct vusd_err *err)
{
	struct json_object *arr = json_object_new_array(), *e;
	const struct vusd_type *t;
	size_t i;

	if (!arr)
		return -ENOMEM;
	for (i = 0; (t = vusd_type_at(i)); i++) {
		e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(t->name));
		json_object_object_add(e, "help", json_object_new_string(t->help));
		json_object_object_add(e, "options", opts_json(t->opts));
		if (t->control_usage)
			json_object_object_add(e, "commands",
					       json_object_new_string(t->control_usage));
		json_object_array_add(arr, e);
	}
	json_object_object_add(reply, "types", arr);
	json_object_object_add(reply, "common", opts_json(vusd_common_opts));
	return 0;
}

static int ctl_add(struct vusd *d, struct json_object *req, struct json_object *reply,
		   struct vusd_err *err)
{
	struct json_object *obj;
	struct vusd_spec spec;
	struct vusd_dev *vd;
	const char *text = NULL;
	int rc;

	rc = vusd_req_string(req, "spec", false, &text, err);
	if (rc < 0)
		return rc;
	if (text)
		rc = vusd_spec_parse_kv(text, d->socket_mode, "add: spec", &spec, err);
	else if (json_object_object_get_ex(req, "device", &obj))
		rc = vusd_spec_parse_json(obj, d->socket_mode, "add: device", &spec, err);
	else {
		vusd_errf(err, "request: expected key \"device\" (an object as in the config "
			  "file) or \"spec\" (\"TYPE,name=...,socket=...\")");
		return -EINVAL;
	}
	if (rc < 0)
		return rc;
	if (!spec.socket) {
		vusd_errf(err, "add: missing key \"socket\" (the path of the device's vfio-user "
			  "socket)");
		vusd_spec_free(&spec);
		return -EINVAL;
	}
	rc = vusd_ctl_check_add(d, &spec, err);
	if (rc == 0)
		rc = vusd_dev_add(d, &spec, &vd, err);
	if (rc < 0) {
		vusd_spec_free(&spec);
		return rc;
	}
	json_object_object_add(reply, "device", vusd_dev_entry(vd));
	return 0;
}

static int ctl_remove(struct vusd *d, struct json_object *req, struct json_object *reply,
		      struct vusd_err *err)
{
	struct vusd_dev *vd;
	bool force;
	int rc;

	if ((rc = vusd_req_device(d, req, &vd, err)) < 0 ||
	    (rc = vusd_req_bool(req, "force", &force, err)) < 0)
		return rc;
	if (!force && (vd->child ? vusd_child_attached(vd)
				 : vus_dev_client_attached(vd->inst.dev))) {
		vusd_errf(err, "device \"%s\" has a client attached (a VMM?); removing it "
			  "drops that client: repeat with \"force\": true (vusctl --force)",
			  vd->spec.name);
		return -EBUSY;
	}
	vusd_dev_remove(d, vd);
	return 0;
}

/* A process-isolated device's stats are its child's. */
static struct json_object *child_stats(struct vusd_dev *vd)
{
	struct json_object *req = json_object_new_object(), *o;

	if (!req)
		return NULL;
	json_object_object_add(req, "cmd", json_object_new_string("stats"));
	json_object_object_add(req, "name", json_object_new_string(vd->spec.name));
	o = vusd_child_device_obj(vd, req);
	json_object_put(req);
	return o;
}

static struct json_object *stats_json(struct vusd_dev *vd)
{
	struct json_object *o, *msgs, *errnos;
	struct vus_dev_stats st;
	size_t i;

	if (vd->child)
		return child_stats(vd);
	o = vusd_dev_entry(vd);
	if (!o)
		return NULL;
	vus_dev_get_stats(vd->inst.dev, &st);
	json_object_object_add(o, "budget", vusd_budget_json(&vd->budget, &st));
	msgs = json_object_new_object();
	for (i = 0; i <= VUS_CMD_MAX; i++) {
		uint64_t n = vus_dev_stat_cmd(vd->inst.dev, (unsigned)i);

		if (n)
			add_u64(msgs, i ? vus_cmd_name((unsigned)i) : "unknown", n);
	}
	json_object_object_add(o, "messages", msgs);
	add_u64(o, "errors", st.errors);
	errnos = json_object_new_object();
	/* Every errno a reply can carry (below 4096: docs/protocol.md section 2). */
	for (i = 1; i < 4096; i++) {
		uint64_t n = vus_dev_stat_errno(vd->inst.dev, (int)i);
		const char *name;

		if (!n)
			continue;
		name = strerrorname_np((int)i);
		add_u64(errnos, name ? name : "?", n);
	}
	json_object_object_add(o, "errnos", errnos);
	add_u64(o, "bytes_in", st.bytes_in);
	add_u64(o, "bytes_out", st.bytes_out);
	add_u64(o, "irqs", st.irqs);
	add_u64(o, "dma_maps", st.dma_maps);
	add_u64(o, "dma_unmaps", st.dma_unmaps);
	add_u64(o, "dma_messages", st.dma_msgs);
	add_u64(o, "cur_maps", st.cur_maps);
	add_u64(o, "cur_mapped_bytes", st.cur_mapped_bytes);
	return o;
}

static int ctl_stats(struct vusd *d, struct json_object *req, struct json_object *reply,
		     struct vusd_err *err)
{
	struct json_object *arr;
	struct vusd_dev *vd = NULL;
	int rc;

	if (json_object_object_get_ex(req, "name", NULL)) {
		rc = vusd_req_device(d, req, &vd, err);
		if (rc < 0)
			return rc;
	}
	arr = json_object_new_array();
	if (!arr)
		return -ENOMEM;
	if (vd)
		json_object_array_add(arr, stats_json(vd));
	for (vd = vd ? NULL : d->devs; vd; vd = vd->next)
		json_object_array_add(arr, stats_json(vd));
	json_object_object_add(reply, "devices", arr);
	return 0;
}

static int ctl_log_level(struct vusd *d, struct json_object *req, struct json_object *reply,
			 struct vusd_err *err)
{
	const struct vusd_choice *c;
	const char *level = NULL;
	struct vusd_dev *vd;
	int rc;

	rc = vusd_req_string(req, "level", false, &level, err);
	if (rc < 0)
		return rc;
	if (level) {
		for (c = vusd_log_levels; c->name && strcmp(c->name, level); c++)
			;
		if (!c->name) {
			vusd_errf(err, "request: key \"level\": expected one of err, warn, info, "
				  "debug, trace, got \"%s\"", level);
			return -EINVAL;
		}
		vusd_log_set_level(c->value);
		/* The library filters before formatting (device.h), so each
		 * device's own level must follow. */
		for (vd = d->devs; vd; vd = vd->next) {
			struct json_object *r = json_object_new_object();
			struct vusd_err e;

			if (!vd->child)
				vus_dev_set_log_level(vd->inst.dev, c->value);
			else if (r && !vusd_child_dead(vd))
				vusd_child_forward(vd, req, r, &e); /* its own level */
			json_object_put(r);
		}
		vusd_log(VUS_LOG_INFO, "log level %s", c->name);
	}
	json_object_object_add(reply, "level",
			       json_object_new_string(vusd_log_level_name(vusd_log_level())));
	return 0;
}

/* ---- dispatch ------------------------------------------------------- */

struct ctl_cmd {
	const char *name;
	vusd_ctl_fn fn;
	const char *const keys[6]; /* besides "cmd" and "id" */
	bool forward;              /* a process-isolated device's child answers */
};

/* Live update (upgrade.c): answered by the next image on success. */
int vusd_ctl_upgrade(struct vusd *d, struct json_object *req, struct json_object *reply,
		     struct vusd_err *err)
{
	const char *binary = NULL;
	int rc;

	(void)reply;
	rc = vusd_req_string(req, "binary", false, &binary, err);
	if (rc < 0)
		return rc;
	return vusd_upgrade(d, binary, err);
}

static const struct ctl_cmd cmds[] = {
	{ "version", ctl_version, { NULL }, false },
	{ "list", ctl_list, { NULL }, false },
	{ "types", ctl_types, { NULL }, false },
	{ "add", ctl_add, { "device", "spec", NULL }, false },
	{ "remove", ctl_remove, { "name", "force", NULL }, false },
	{ "stats", ctl_stats, { "name", NULL }, false },
	{ "log-level", ctl_log_level, { "level", NULL }, false },
	{ "info", vusd_ctl_info, { "name", NULL }, true },
	{ "read", vusd_ctl_read, { "name", "region", "offset", "len", "force", NULL }, true },
	{ "write", vusd_ctl_write, { "name", "region", "offset", "data", "force", NULL }, true },
	{ "config", vusd_ctl_config, { "name", NULL }, true },
	{ "reset", vusd_ctl_reset, { "name", "force", NULL }, true },
	{ "device", vusd_ctl_device, { "name", "type", "args", NULL }, true },
	{ "upgrade", vusd_ctl_upgrade, { "binary", NULL }, false },
};

#define NR_CMDS (sizeof(cmds) / sizeof(cmds[0]))

/* A misspelt key ("lenght") must not silently mean its default. */
static int check_keys(const struct ctl_cmd *c, struct json_object *req, struct vusd_err *err)
{
	size_t i;

	json_object_object_foreach(req, key, val) {
		(void)val;
		if (strcmp(key, "cmd") == 0 || strcmp(key, "id") == 0)
			continue;
		for (i = 0; c->keys[i] && strcmp(c->keys[i], key); i++)
			;
		if (!c->keys[i]) {
			vusd_errf(err, "request \"%s\": unknown key \"%s\"", c->name, key);
			return -EINVAL;
		}
	}
	return 0;
}

int vusd_control_dispatch(struct vusd *d, struct json_object *req, struct json_object *reply,
			  struct vusd_err *err)
{
	const char *cmd;
	char known[256];
	size_t i, used = 0;
	int rc;

	rc = vusd_req_string(req, "cmd", true, &cmd, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < NR_CMDS; i++) {
		if (strcmp(cmds[i].name, cmd) == 0) {
			rc = check_keys(&cmds[i], req, err);
			if (rc < 0)
				return rc;
			vusd_log(VUS_LOG_DEBUG, "control: %s",
				 json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
			if (cmds[i].forward) {
				struct vusd_dev *vd;

				rc = vusd_req_device(d, req, &vd, err);
				if (rc < 0)
					return rc;
				if (vd->child)
					return vusd_child_forward(vd, req, reply, err);
			}
			return cmds[i].fn(d, req, reply, err);
		}
	}
	known[0] = '\0';
	for (i = 0; i < NR_CMDS && used < sizeof(known); i++)
		used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
					 i ? ", " : "", cmds[i].name);
	vusd_errf(err, "unknown request \"%s\" (known: %s)", cmd, known);
	return -ENOSYS;
}
