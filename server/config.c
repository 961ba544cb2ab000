/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration file (docs/control.md "Configuration file"):
 *
 *   { "control": "/run/vus/ctl.sock", "socket_mode": "0660",
 *     "log_level": "info", "log_target": "stderr",
 *     "devices": [ { "name": "td0", "type": "testdev",
 *                    "socket": "/run/vus/td0.sock", ...type options } ] }
 *
 * Every error says which file, which key, what was expected and what was
 * there; a syntax error says which line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vusd.h"

/* A configuration file is a few KiB; refuse to slurp anything huge. */
#define VUSD_CONFIG_MAX (1u << 20)
#define VUSD_CONFIG_DEPTH 16

static const struct vusd_choice log_targets[] = {
	{ "stderr", VUSD_LOG_STDERR },
	{ "syslog", VUSD_LOG_SYSLOG },
	{ NULL, 0 },
};

static const struct vusd_opt top_opts[] = {
	{ .key = "control", .kind = VUSD_OPT_STRING, .offset = offsetof(struct vusd_config, control),
	  .help = "control socket path" },
	{ .key = "socket_mode", .kind = VUSD_OPT_MODE,
	  .offset = offsetof(struct vusd_config, socket_mode),
	  .help = "default permission bits of the sockets vusd creates (\"0600\")" },
	{ .key = "log_level", .kind = VUSD_OPT_CHOICE,
	  .offset = offsetof(struct vusd_config, log_level),
	  .help = "err, warn, info, debug, trace", .choices = vusd_log_levels },
	{ .key = "log_target", .kind = VUSD_OPT_CHOICE,
	  .offset = offsetof(struct vusd_config, log_target),
	  .help = "stderr or syslog", .choices = log_targets },
	{ .key = "control_mode", .kind = VUSD_OPT_MODE,
	  .offset = offsetof(struct vusd_config, policy.control_mode),
	  .help = "permission bits of the control socket (\"0600\")" },
	{ .key = "admin_uid", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct vusd_config, policy.admin_uid), .max = UINT32_MAX - 1,
	  .help = "a user who may change state through the control socket, besides root" },
	{ .key = "admin_gid", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct vusd_config, policy.admin_gid), .max = UINT32_MAX - 1,
	  .help = "a group whose members may change state through the control socket" },
	{ .key = "add_socket_dir", .kind = VUSD_OPT_STRING,
	  .offset = offsetof(struct vusd_config, policy.add_dir),
	  .help = "the directory the control socket's add may create sockets in" },
	{ .key = "user", .kind = VUSD_OPT_STRING, .offset = offsetof(struct vusd_config, user),
	  .help = "run as this user once the sockets are bound (name or number)" },
	{ .key = "group", .kind = VUSD_OPT_STRING, .offset = offsetof(struct vusd_config, group),
	  .help = "run as this group (default: the user's)" },
	{ .key = "seccomp", .kind = VUSD_OPT_BOOL, .offset = offsetof(struct vusd_config, seccomp),
	  .help = "the seccomp filter once serving (default true; docs/security.md)" },
	{ .key = "live_update", .kind = VUSD_OPT_BOOL,
	  .offset = offsetof(struct vusd_config, live_update),
	  .help = "allow live update: vusctl upgrade, SIGHUP (default false; docs/live-update.md)" },
	{ .key = "add_socket_mode", .kind = VUSD_OPT_MODE,
	  .offset = offsetof(struct vusd_config, policy.add_mode),
	  .help = "the most open socket_mode an add may ask for (\"0660\")" },
	{ .key = NULL },
};

void vusd_config_init(struct vusd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_mode = VUSD_DEFAULT_SOCKET_MODE;
	cfg->log_level = VUS_LOG_INFO;
	cfg->log_target = VUSD_LOG_STDERR;
	cfg->seccomp = true;
	vusd_budget_init(&cfg->budget);
	vusd_ctl_policy_init(&cfg->policy);
}

void vusd_config_free(struct vusd_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nr_devices; i++)
		vusd_spec_free(&cfg->devices[i]);
	free(cfg->devices);
	vusd_opts_free(top_opts, cfg);
	vusd_config_init(cfg);
}

int vusd_config_set(struct vusd_config *cfg, const char *key, const char *value,
		    const char *where, struct vusd_err *err)
{
	const struct vusd_opt *o = vusd_opt_find(top_opts, key);

	if (!o) {
		vusd_errf(err, "%s: no such setting", where);
		return -EINVAL;
	}
	return vusd_opt_set_string(o, cfg, value, where, err);
}

int vusd_config_add_device(struct vusd_config *cfg, struct vusd_spec *spec, const char *where,
			   struct vusd_err *err)
{
	struct vusd_budget global, own;
	struct vusd_err e;
	struct vusd_spec *grown;
	size_t i;

	/* Its own budget keys, checked now: a usage error, not a setup one. */
	vusd_budget_init(&global);
	if (vusd_budget_effective(&global, spec, &own, &e) < 0) {
		vusd_errf(err, "%s: %s", where, e.msg);
		return -EINVAL;
	}
	for (i = 0; i < cfg->nr_devices; i++) {
		const struct vusd_spec *o = &cfg->devices[i];

		if (strcmp(o->name, spec->name) == 0) {
			vusd_errf(err, "%s: key \"name\": \"%s\" is already the name of another "
				  "device; expected a unique name", where, spec->name);
			return -EEXIST;
		}
		if (o->socket && spec->socket && strcmp(o->socket, spec->socket) == 0) {
			vusd_errf(err, "%s: key \"socket\": \"%s\" is already the socket of "
				  "device \"%s\"; expected a path of its own", where, spec->socket,
				  o->name);
			return -EEXIST;
		}
	}
	grown = realloc(cfg->devices, (cfg->nr_devices + 1) * sizeof(*grown));
	if (!grown) {
		vusd_errf(err, "%s: out of memory", where);
		return -ENOMEM;
	}
	cfg->devices = grown;
	cfg->devices[cfg->nr_devices++] = *spec;
	memset(spec, 0, sizeof(*spec));
	spec->fd = -1;
	return 0;
}

/* The whole file, NUL-terminated; *len without the NUL. */
static int slurp(const char *path, char **out, size_t *len, struct vusd_err *err)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		vusd_errf(err, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > VUSD_CONFIG_MAX) {
		vusd_errf(err, "%s: expected a regular file of at most %u bytes", path,
			  VUSD_CONFIG_MAX);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		vusd_errf(err, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

static unsigned line_of(const char *text, size_t pos)
{
	unsigned line = 1;
	size_t i;

	for (i = 0; i < pos && text[i]; i++)
		line += text[i] == '\n';
	return line;
}

static int parse_text(const char *path, const char *text, size_t len, struct json_object **out,
		      struct vusd_err *err)
{
	struct json_tokener *tok = json_tokener_new_ex(VUSD_CONFIG_DEPTH);
	enum json_tokener_error jerr;
	struct json_object *obj;
	size_t end;

	if (!tok) {
		vusd_errf(err, "%s: out of memory", path);
		return -ENOMEM;
	}
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!obj && jerr == json_tokener_continue) {
		vusd_errf(err, "%s: line %u: the JSON text ends too early", path,
			  line_of(text, len));
		return -EINVAL;
	}
	if (!obj) {
		vusd_errf(err, "%s: line %u: JSON syntax error: %s", path, line_of(text, end),
			  json_tokener_error_desc(jerr));
		return -EINVAL;
	}
	end += strspn(text + end, " \t\r\n");
	if (end < len) {
		vusd_errf(err, "%s: line %u: unexpected text after the JSON object", path,
			  line_of(text, end));
		json_object_put(obj);
		return -EINVAL;
	}
	*out = obj;
	return 0;
}

static int load_devices(const char *path, struct json_object *arr, struct vusd_config *cfg,
			struct vusd_err *err)
{
	struct vusd_spec spec;
	char where[4200];
	size_t i, n;
	int rc;

	if (!json_object_is_type(arr, json_type_array)) {
		vusd_errf(err, "%s: key \"devices\": expected an array of device objects", path);
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "%s: devices[%zu]", path, i);
		rc = vusd_spec_parse_json(json_object_array_get_idx(arr, i), cfg->socket_mode,
					  where, &spec, err);
		if (rc < 0)
			return rc;
		if (!spec.socket) {
			vusd_errf(err, "%s: missing key \"socket\" (the path of the device's "
				  "vfio-user socket)", where);
			vusd_spec_free(&spec);
			return -EINVAL;
		}
		rc = vusd_config_add_device(cfg, &spec, where, err);
		if (rc < 0) {
			vusd_spec_free(&spec);
			return rc;
		}
	}
	return 0;
}

static int load_object(const char *path, struct json_object *root, struct vusd_config *cfg,
		       struct vusd_err *err)
{
	struct json_object *devices = NULL;
	const struct vusd_opt *o;
	char keys[256];
	int rc;

	if (!json_object_is_type(root, json_type_object)) {
		vusd_errf(err, "%s: expected a JSON object {\"devices\": [...], ...} at the top",
			  path);
		return -EINVAL;
	}
	/* Top-level keys first: "socket_mode" is the devices' default. */
	json_object_object_foreach(root, key, val) {
		if (strcmp(key, "devices") == 0) {
			devices = val;
			continue;
		}
		if (strcmp(key, "budget") == 0) {
			snprintf(keys, sizeof(keys), "%s: key \"budget\"", path);
			rc = vusd_budget_parse_json(val, &cfg->budget, keys, err);
			if (rc < 0)
				return rc;
			continue;
		}
		o = vusd_opt_find(top_opts, key);
		if (!o) {
			vusd_opts_keys(top_opts, keys, sizeof(keys));
			vusd_errf(err, "%s: unknown key \"%s\" (expected devices, budget, %s)", path, key,
				  keys);
			return -EINVAL;
		}
		rc = vusd_opt_set_json(o, cfg, val, path, err);
		if (rc < 0)
			return rc;
	}
	return devices ? load_devices(path, devices, cfg, err) : 0;
}

int vusd_config_load(const char *path, struct vusd_config *cfg, struct vusd_err *err)
{
	struct json_object *root;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = slurp(path, &text, &len, err);
	if (rc < 0)
		return rc;
	rc = parse_text(path, text, len, &root, err);
	free(text);
	if (rc < 0)
		return rc;
	rc = load_object(path, root, cfg, err);
	json_object_put(root);
	return rc;
}
