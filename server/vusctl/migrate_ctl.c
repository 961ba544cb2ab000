/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * migrate by name (docs/migration.md "Migrating by name"):
 *
 *   vusctl --control SRC.ctl migrate NAME --to DST.ctl --socket PATH
 *          [--name NEW] [--remove-source] [--create-only]
 *          [--max-rounds N] [--max-time MS] [--downtime MS]
 *
 * 1. `info NAME` on SRC.ctl: the device's type and options (`spec`), its
 *    socket, whether a client is attached.
 * 2. `add` on DST.ctl: the same spec, named NEW (default NAME), on PATH.
 *    --create-only stops here: for a VMM that migrates the device itself.
 * 3. vusctl becomes the client of both device sockets and moves the state
 *    (migrate.c: pre-copy rounds, stop-copy, resume).
 * 4. Success: the destination runs; the source is removed with
 *    --remove-source, else kept (vusd returns it to RUNNING, with the state
 *    it had at stop-copy, once vusctl leaves: the fallback).
 *    Failure: the destination vusctl created is removed, the source runs on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vus/client.h>

#include "vusctl.h"

struct mig_ctl_args {
	const char *name, *to, *new_name, *socket;
	bool remove_source, create_only;
	struct vusctl_mig_opts o;
};

static int parse(int argc, char **argv, struct mig_ctl_args *a)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "remove-source", no_argument, NULL, 'r' },
		{ "create-only", no_argument, NULL, 'c' },
		{ "max-rounds", required_argument, NULL, 'R' },
		{ "max-time", required_argument, NULL, 'T' },
		{ "downtime", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct vusctl_mig_opts def = VUSCTL_MIG_OPTS_DEFAULT;
	uint64_t n;
	int c;

	memset(a, 0, sizeof(*a));
	a->o = def;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (a->name)
				return vusctl_usage_error("migrate", "unexpected argument '%s'", optarg);
			a->name = optarg;
			break;
		case 't':
			a->to = optarg;
			break;
		case 'n':
			a->new_name = optarg;
			break;
		case 's':
			a->socket = optarg;
			break;
		case 'r':
			a->remove_source = true;
			break;
		case 'c':
			a->create_only = true;
			break;
		case 'R':
		case 'T':
		case 'D':
			if (!vusctl_parse_u64(optarg, &n) || n > 3600000 || (c == 'R' && n > 1000))
				return vusctl_usage_error("migrate", "--%s: expected a number %s",
							  c == 'R' ? "max-rounds" : c == 'T' ?
							  "max-time" : "downtime",
							  c == 'R' ? "from 0 to 1000" :
							  "of ms up to 3600000");
			if (c == 'R')
				a->o.max_rounds = (unsigned)n;
			else if (c == 'T')
				a->o.max_precopy_ms = n;
			else
				a->o.target_downtime_ms = n;
			break;
		default:
			return vusctl_usage_error("migrate", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!a->name || !a->to || !a->socket)
		return vusctl_usage_error("migrate", "NAME, --to CTL and --socket PATH are needed "
					  "(vusctl --control SRC.ctl migrate NAME --to DST.ctl "
					  "--socket PATH)");
	if (a->remove_source && a->create_only)
		return vusctl_usage_error("migrate", "--remove-source does not go with "
					  "--create-only (nothing moves)");
	return -1;
}

static struct json_object *request(const char *cmd, const char *name)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	if (name)
		json_object_object_add(o, "name", json_object_new_string(name));
	return o;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
		json_object_get_string(v) : NULL;
}

/* The destination vusd resolves a relative path against its own directory:
 * give it ours. *out malloc'ed. */
static char *absolute(const char *path)
{
	char *cwd, *out = NULL;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&out, "%s/%s", cwd, path) < 0)
		out = NULL;
	free(cwd);
	return out;
}

/* A device's own budget keys travel in its spec; the rest come from each
 * vusd's top-level budget (docs/control.md "Budgets"): warn when the
 * destination's effective limits are below the source's, since the VMM's
 * mappings may not fit there. */
static void budget_check(const struct vusctl *src, const struct vusctl *dst, const char *name,
			 const char *new_name)
{
	static const char *const keys[] = { "dma_bytes", "dma_windows", "dirty_log_bytes",
					    "output_bytes", "dma_pending" };
	struct json_object *rs = NULL, *rd = NULL, *ds, *dd, *bs, *bd, *vs, *vd;
	size_t i;

	if (vusctl_ctl_call(src, request("stats", name), &rs) != VUSCTL_OK ||
	    vusctl_ctl_call(dst, request("stats", new_name), &rd) != VUSCTL_OK)
		goto out;
	if (!json_object_object_get_ex(rs, "devices", &ds) ||
	    !json_object_object_get_ex(rd, "devices", &dd) ||
	    json_object_array_length(ds) < 1 || json_object_array_length(dd) < 1 ||
	    !json_object_object_get_ex(json_object_array_get_idx(ds, 0), "budget", &bs) ||
	    !json_object_object_get_ex(json_object_array_get_idx(dd, 0), "budget", &bd))
		goto out;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint64_t ls, ld;

		if (!json_object_object_get_ex(bs, keys[i], &vs) ||
		    !json_object_object_get_ex(bd, keys[i], &vd))
			continue;
		if (json_object_is_type(vs, json_type_object))
			json_object_object_get_ex(vs, "limit", &vs);
		if (json_object_is_type(vd, json_type_object))
			json_object_object_get_ex(vd, "limit", &vd);
		ls = json_object_get_uint64(vs);
		ld = json_object_get_uint64(vd);
		if (ld < ls)
			fprintf(stderr, "vusctl: warning: %s: the destination's budget %s is %llu, "
				"below the source's %llu (a vusd setting: docs/control.md "
				"\"Budgets\")\n", new_name, keys[i], (unsigned long long)ld,
				(unsigned long long)ls);
	}
out:
	json_object_put(rs);
	json_object_put(rd);
}

static void remove_dev(const struct vusctl *v, const char *name)
{
	struct json_object *req = request("remove", name), *reply = NULL;

	if (!req)
		return;
	json_object_object_add(req, "force", json_object_new_boolean(1));
	if (vusctl_ctl_call(v, req, &reply) == VUSCTL_OK)
		json_object_put(reply);
}

int vusctl_migrate_ctl(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl dstv = *v;
	struct json_object *info = NULL, *spec, *dev, *req, *reply = NULL, *att;
	struct vus_client *src = NULL, *dst = NULL;
	struct vusctl_mig_result r;
	struct mig_ctl_args a;
	const char *src_sock, *type;
	char *dst_sock = NULL, src_label[160], dst_label[160];
	bool created = false;
	int rc;

	if ((rc = parse(argc, argv, &a)) >= 0)
		return rc;
	if (!a.new_name)
		a.new_name = a.name;
	dstv.control = a.to;
	/* 1. What the source is. */
	if ((rc = vusctl_ctl_call(v, request("info", a.name), &info)) != VUSCTL_OK)
		return rc;
	src_sock = get_str(info, "socket");
	type = get_str(info, "type");
	if (!json_object_object_get_ex(info, "spec", &spec) || !type) {
		fprintf(stderr, "vusctl: %s: vusd's info has no spec for %s: a vusd older than "
			"this vusctl? (it cannot tell the device's options)\n", v->control, a.name);
		rc = VUSCTL_FAILED;
		goto out;
	}
	if (!src_sock && !a.create_only) {
		fprintf(stderr, "vusctl: %s serves an inherited socket (--fd) whose path vusd "
			"does not know: migrate it with `vusctl migrate SRC DST` on the sockets\n",
			a.name);
		rc = VUSCTL_FAILED;
		goto out;
	}
	if (!a.create_only && json_object_object_get_ex(info, "attached", &att) &&
	    json_object_get_boolean(att)) {
		fprintf(stderr, "vusctl: %s has a client (a VMM): a vfio-user device has one "
			"client, so vusctl cannot move its state; the VMM migrates it itself "
			"(--create-only makes the destination for it; docs/migration.md "
			"\"Migrating by name\")\n", a.name);
		rc = VUSCTL_BUSY;
		goto out;
	}
	/* 2. The destination: the source's spec, its own name and socket. */
	dst_sock = absolute(a.socket);
	dev = json_object_new_object();
	req = request("add", NULL);
	if (!dst_sock || !dev || !req) {
		json_object_put(dev);
		json_object_put(req);
		rc = VUSCTL_FAILED;
		goto out;
	}
	json_object_object_foreach(spec, key, val)
		json_object_object_add(dev, key, json_object_get(val));
	json_object_object_add(dev, "name", json_object_new_string(a.new_name));
	json_object_object_add(dev, "socket", json_object_new_string(dst_sock));
	json_object_object_add(req, "device", dev);
	if ((rc = vusctl_ctl_call(&dstv, req, &reply)) != VUSCTL_OK) {
		fprintf(stderr, "vusctl: %s: could not create %s (a %s) there; nothing moved\n",
			a.to, a.new_name, type);
		goto out;
	}
	json_object_put(reply);
	reply = NULL;
	created = true;
	budget_check(v, &dstv, a.name, a.new_name);
	if (a.create_only) {
		if (v->json)
			printf("{\"created\":\"%s\",\"socket\":\"%s\"}\n", a.new_name, dst_sock);
		else
			printf("created %s (%s) on %s at %s\n", a.new_name, type, a.to, dst_sock);
		rc = VUSCTL_OK;
		created = false; /* the caller's now */
		goto out;
	}
	/* 3. The move, as both devices' client. */
	if ((rc = vusctl_open(v, src_sock, &src)) != VUSCTL_OK ||
	    (rc = vusctl_open(v, dst_sock, &dst)) != VUSCTL_OK)
		goto out;
	snprintf(src_label, sizeof(src_label), "%s (%s)", a.name, v->control);
	snprintf(dst_label, sizeof(dst_label), "%s (%s)", a.new_name, a.to);
	rc = vusctl_mig_move(v, src, src_label, dst, dst_label, &a.o, &r);
	if (rc != VUSCTL_OK)
		goto out;
	created = false;
	/* 4. The source: removed while vusctl is still its client, so it never
	 * runs again; or kept as the fallback. */
	if (a.remove_source)
		remove_dev(v, a.name);
	vusctl_mig_report(v, src_label, dst_label, &r);
	if (!v->json)
		printf("%s now serves %s at %s; the source %s\n", a.to, a.new_name, dst_sock,
		       a.remove_source ? "was removed" :
		       "stays in its vusd (RUNNING once vusctl leaves, with the state it had "
		       "at stop-copy; remove it once the VMM uses the destination)");
out:
	if (src)
		vus_client_close(src);
	if (dst)
		vus_client_close(dst);
	if (created) {
		/* Failed after creating it: leave nothing half-made behind. */
		remove_dev(&dstv, a.new_name);
		fprintf(stderr, "vusctl: migration failed: %s removed from %s; %s runs on in "
			"%s\n", a.new_name, a.to, a.name, v->control);
	}
	free(dst_sock);
	json_object_put(info);
	return rc;
}
