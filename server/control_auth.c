/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who may do what on the control socket (docs/security.md section 1,
 * docs/control.md "Access").
 *
 * Three gates, each enough on its own for what it guards:
 *  1. the socket file's mode ("control_mode", default 0600: only vusd's
 *     own user, normally root, can connect at all);
 *  2. the peer's credentials, taken from the kernel when it connects
 *     (SO_PEERCRED, SO_PEERGROUPS): root, the configured "admin_uid" or a
 *     member of "admin_gid" is an admin; anyone else who can connect is a
 *     reader, and may only look (version, list, types, stats, info,
 *     config, log-level without a level);
 *  3. "add" puts a socket file on the disk with vusd's privileges: its
 *     path must lie directly in "add_socket_dir" (resolved, no symlinks
 *     in the way) and its mode within "add_socket_mode". Without an
 *     add_socket_dir only root may add, anywhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "vusd.h"

#define VUSD_PEER_GROUPS_MAX 256

/* Requests that only look: everything else changes state or runs device
 * callbacks (a region read may have side effects: section 3 of
 * docs/control.md). */
static const char *const read_only[] = {
	"version", "list", "types", "stats", "info", "config", NULL,
};

void vusd_ctl_policy_init(struct vusd_ctl_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->control_mode = VUSD_DEFAULT_SOCKET_MODE;
	p->admin_uid = VUSD_NO_ID;
	p->admin_gid = VUSD_NO_ID;
	p->add_mode = 0660;
}

static bool in_group(int fd, uint64_t gid, gid_t primary)
{
	gid_t groups[VUSD_PEER_GROUPS_MAX];
	socklen_t len = sizeof(groups);
	size_t i;

	if (primary == gid)
		return true;
	/* Supplementary groups: Linux 4.13+; without it, the primary only. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int vusd_peer_identify(int fd, const struct vusd_ctl_policy *p, struct vusd_peer *out)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	memset(out, 0, sizeof(*out));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	out->pid = cr.pid;
	out->uid = cr.uid;
	out->gid = cr.gid;
	out->admin = cr.uid == 0 || (p->admin_uid != VUSD_NO_ID && cr.uid == p->admin_uid) ||
		     (p->admin_gid != VUSD_NO_ID && in_group(fd, p->admin_gid, cr.gid));
	return 0;
}

static bool is_read_only(struct json_object *req)
{
	struct json_object *v;
	const char *cmd;
	size_t i;

	if (!json_object_object_get_ex(req, "cmd", &v) || !json_object_is_type(v, json_type_string))
		return true; /* dispatch answers EINVAL */
	cmd = json_object_get_string(v);
	if (strcmp(cmd, "log-level") == 0)
		return !json_object_object_get_ex(req, "level", NULL);
	for (i = 0; read_only[i]; i++)
		if (strcmp(cmd, read_only[i]) == 0)
			return true;
	return false; /* a reader learns nothing of unknown requests either */
}

int vusd_ctl_authorize(const struct vusd_peer *peer, struct json_object *req,
		       struct vusd_err *err)
{
	if (peer->admin || is_read_only(req))
		return 0;
	vusd_errf(err, "not allowed: uid %u is not a vusd admin (root, admin_uid or "
		  "admin_gid; docs/control.md \"Access\") and this request changes state",
		  (unsigned)peer->uid);
	return -EPERM;
}

int vusd_ctl_check_add(const struct vusd *d, const struct vusd_spec *spec, struct vusd_err *err)
{
	const struct vusd_ctl_policy *p = &d->policy;
	char want[PATH_MAX], got[PATH_MAX], name[PATH_MAX], *copy, *dir, *base;
	int rc = 0;

	if (!p->add_dir) {
		if (d->peer && d->peer->uid != 0) {
			vusd_errf(err, "add: only root may add devices while no add_socket_dir "
				  "is configured");
			return -EPERM;
		}
		return 0;
	}
	if ((spec->socket_mode & ~p->add_mode) != 0) {
		vusd_errf(err, "add: socket_mode %04o is not within add_socket_mode %04o",
			  spec->socket_mode, p->add_mode);
		return -EPERM;
	}
	if (strlen(spec->socket) >= sizeof(got)) {
		vusd_errf(err, "add: socket path too long");
		return -ENAMETOOLONG;
	}
	copy = strdup(spec->socket);
	if (!copy) {
		vusd_errf(err, "out of memory");
		return -ENOMEM;
	}
	dir = dirname(copy);
	base = basename(strcpy(name, spec->socket)); /* fits: checked above */
	/* realpath() of both: no "..", no symlinked directory on the way. */
	if (!realpath(p->add_dir, want) || !realpath(dir, got) || strcmp(want, got) != 0 ||
	    !strcmp(base, ".") || !strcmp(base, "..")) {
		vusd_errf(err, "add: socket %s is not directly in add_socket_dir %s",
			  spec->socket, p->add_dir);
		rc = -EPERM;
	}
	free(copy);
	return rc;
}
