/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live update, the new image's side (docs/live-update.md): started by
 * upgrade.c with the state's fd in VUSD_LIVE_STATE. As a dry run
 * (VUSD_LIVE_CHECK) it creates every device and has libvus check its
 * state (vus_dev_live_check(): format, checksum, layout, the device's own
 * loader) and reports "ok" or why not, touching no inherited fd. For real
 * it takes every device, client and the control socket over, answers the
 * control request that asked for the upgrade with the pause it caused,
 * and serves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vus/live.h>

#include "upgrade.h"
#include "vusd.h"

bool vusd_live_started(void)
{
	return getenv(VUSD_LIVE_ENV_STATE) != NULL;
}

static int env_fd(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long fd;

	if (!v)
		return -1;
	fd = strtol(v, &end, 10);
	return (*end || fd < 0 || fd > 65535) ? -1 : (int)fd;
}

/* All of fd's bytes from offset 0 (malloc'ed), or NULL. */
static void *read_fd(int fd, size_t len)
{
	char *p = malloc(len + 1);
	size_t off = 0;
	ssize_t n;

	if (!p)
		return NULL;
	while (off < len) {
		n = pread(fd, p + off, len - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return NULL;
		}
		off += (size_t)n;
	}
	p[len] = '\0';
	return p;
}

static struct json_object *load_state(struct vusd_err *err)
{
	int fd = env_fd(VUSD_LIVE_ENV_STATE);
	off_t len = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	struct json_object *st, *v;
	char *text;

	if (len <= 0 || !(text = read_fd(fd, (size_t)len))) {
		vusd_errf(err, "live update: cannot read the state (fd %d)", fd);
		return NULL;
	}
	close(fd);
	st = json_tokener_parse(text);
	free(text);
	if (!st || !json_object_object_get_ex(st, "version", &v) ||
	    json_object_get_int(v) != VUSD_LIVE_VERSION) {
		vusd_errf(err, "live update: state version %d, this vusd reads %d",
			  st && v ? json_object_get_int(v) : -1, VUSD_LIVE_VERSION);
		json_object_put(st);
		return NULL;
	}
	return st;
}

static int64_t get_int(struct json_object *o, const char *key, int64_t dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : dflt;
}

/* One device's spec and state from entry e. */
static int entry(struct json_object *e, struct vusd_spec *spec, void **blob, size_t *len,
		 struct vusd_err *err)
{
	struct json_object *js;
	int fd = (int)get_int(e, "state_fd", -1);
	int rc;

	if (!json_object_object_get_ex(e, "spec", &js)) {
		vusd_errf(err, "live update: a device without spec");
		return -EINVAL;
	}
	rc = vusd_spec_parse_json(js, VUSD_DEFAULT_SOCKET_MODE, "live update", spec, err);
	if (rc < 0)
		return rc;
	*len = (size_t)get_int(e, "state_len", 0);
	*blob = fd >= 0 ? read_fd(fd, *len) : NULL;
	if (fd >= 0)
		close(fd);
	if (!*blob) {
		vusd_errf(err, "device %s: cannot read its state", spec->name);
		vusd_spec_free(spec);
		return -EIO;
	}
	return 0;
}

static int check_all(struct json_object *st, struct vusd_err *err)
{
	struct json_object *devs;
	size_t i;

	if (!json_object_object_get_ex(st, "devices", &devs))
		return 0;
	for (i = 0; i < json_object_array_length(devs); i++) {
		struct vusd_spec spec;
		struct vusd_inst inst = { 0 };
		void *blob;
		size_t len;
		int rc;

		rc = entry(json_object_array_get_idx(devs, i), &spec, &blob, &len, err);
		if (rc < 0)
			return rc;
		err->msg[0] = '\0';
		rc = spec.type->create(spec.name, spec.opts, &inst, err);
		if (rc == 0) {
			vus_dev_set_log(inst.dev, vusd_log_device,
					(void *)vus_dev_name(inst.dev), vusd_log_level());
			rc = vus_dev_live_check(inst.dev, blob, len);
			if (rc < 0)
				vusd_errf(err, "device %s: its state cannot be loaded: %s",
					  spec.name, strerror(-rc));
			spec.type->destroy(&inst);
		} else if (!err->msg[0]) {
			vusd_errf(err, "device %s: cannot create it: %s", spec.name, strerror(-rc));
		}
		free(blob);
		vusd_spec_free(&spec);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int vusd_live_check_main(void)
{
	struct vusd_err err = { "" };
	int report = env_fd(VUSD_LIVE_ENV_CHECK);
	struct json_object *st = load_state(&err);
	int rc = st ? check_all(st, &err) : -EINVAL;
	const char *msg = rc == 0 ? "ok" : err.msg;
	ssize_t n;

	/* A test hook: a binary that cannot load anything (docs/live-update.md). */
	if (rc == 0 && getenv("VUSD_LIVE_REFUSE")) {
		msg = "VUSD_LIVE_REFUSE is set: refusing every state";
		rc = -EINVAL;
	}
	if (report >= 0) {
		n = write(report, msg, strlen(msg));
		(void)n;
		close(report);
	}
	json_object_put(st);
	return rc == 0 ? 0 : 1;
}

int vusd_live_take_over(struct vusd *d)
{
	struct json_object *st, *devs, *ctl, *reply, *list, *id;
	struct vusd_err err = { "" };
	uint64_t t0, done;
	int reply_fd, failed = 0;
	size_t i;

	st = load_state(&err);
	if (!st) {
		vusd_log(VUS_LOG_ERR, "%s", err.msg);
		return -1;
	}
	t0 = (uint64_t)get_int(st, "t0_ns", 0);
	reply_fd = (int)get_int(st, "reply_fd", -1);
	list = json_object_new_array();
	if (json_object_object_get_ex(st, "devices", &devs)) {
		for (i = 0; i < json_object_array_length(devs); i++) {
			struct json_object *e = json_object_array_get_idx(devs, i), *r;
			struct vusd_spec spec;
			uint64_t stopped = (uint64_t)get_int(e, "stopped_ns", 0);
			struct json_object *c;
			void *blob;
			size_t len;
			char name[80];
			int rc;

			rc = entry(e, &spec, &blob, &len, &err);
			if (rc == 0) {
				snprintf(name, sizeof(name), "%s", spec.name);
				rc = vusd_dev_add_live(d, &spec, json_object_object_get_ex(
					e, "created_socket", &c) && json_object_get_boolean(c),
						       blob, len, &err);
				if (rc < 0)
					vusd_spec_free(&spec);
				free(blob);
			}
			if (rc < 0) {
				vusd_log(VUS_LOG_ERR, "live update: %s", err.msg);
				failed++;
				continue;
			}
			r = json_object_new_object();
			json_object_object_add(r, "name", json_object_new_string(name));
			json_object_object_add(r, "pause_us", json_object_new_uint64(
				(vusd_live_now_ns() - stopped) / 1000u));
			json_object_array_add(list, r);
		}
	}
	if (json_object_object_get_ex(st, "control", &ctl)) {
		struct json_object *p;
		const char *path = json_object_object_get_ex(ctl, "path", &p)
					   ? json_object_get_string(p) : "?";

		if (vusd_control_adopt(d, path, (int)get_int(ctl, "fd", -1), &err) < 0) {
			vusd_log(VUS_LOG_ERR, "live update: %s", err.msg);
			failed++;
		}
	}
	done = vusd_live_now_ns();
	vusd_log(VUS_LOG_INFO, "upgrade done: pid %d serves %zu device(s); pause %.3f ms",
		 (int)getpid(), json_object_array_length(list), (double)(done - t0) / 1e6);
	if (reply_fd >= 0) {
		const char *s;
		ssize_t n;

		reply = json_object_new_object();
		json_object_object_add(reply, "ok", json_object_new_boolean(failed == 0));
		if (json_object_object_get_ex(st, "req_id", &id))
			json_object_object_add(reply, "id", json_object_get(id));
		if (failed)
			json_object_object_add(reply, "message", json_object_new_string(
				"the new image could not take every device over (see its log)"));
		json_object_object_add(reply, "pid", json_object_new_int((int)getpid()));
		json_object_object_add(reply, "pause_us", json_object_new_uint64((done - t0) / 1000u));
		/* Where it went: stopping and saving every device, the dry
		 * run, exec and taking over. */
		json_object_object_add(reply, "save_us", json_object_new_uint64(
			(uint64_t)(get_int(st, "saved_ns", (int64_t)t0) - (int64_t)t0) / 1000u));
		json_object_object_add(reply, "dry_run_us", json_object_new_uint64(
			(uint64_t)(get_int(st, "checked_ns", 0) - get_int(st, "saved_ns", 0)) / 1000u));
		json_object_object_add(reply, "exec_us", json_object_new_uint64(
			(done - (uint64_t)get_int(st, "checked_ns", (int64_t)done)) / 1000u));
		json_object_object_add(reply, "devices", json_object_get(list));
		s = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
		n = write(reply_fd, s, strlen(s));
		n = write(reply_fd, "\n", 1);
		(void)n;
		close(reply_fd);
		json_object_put(reply);
	}
	json_object_put(list);
	json_object_put(st);
	return failed ? -1 : 0;
}
