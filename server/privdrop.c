/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dropping privileges once the sockets are bound (docs/security.md
 * section 1, "user"/"group" in docs/control.md): a device exploited by
 * its guest then runs as an ordinary user, and never regains more
 * (no_new_privs: no setuid binary, no file capability lifts it again).
 *
 * What vusd still needs after the drop: to create the sockets of devices
 * added at run time (add_socket_dir must be writable by that user) and
 * to remove its socket files at exit (their directory must be too;
 * otherwise they stay, and the next vusd replaces them as stale).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vusd.h"

/* A name from the databases, or a number. */
static int lookup(const char *s, bool group, uid_t *out, gid_t *pgid)
{
	char *end;
	unsigned long v;

	if (group) {
		struct group *g = getgrnam(s);

		if (g) {
			*out = g->gr_gid;
			return 0;
		}
	} else {
		struct passwd *p = getpwnam(s);

		if (p) {
			*out = p->pw_uid;
			*pgid = p->pw_gid;
			return 0;
		}
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v >= (uid_t)-1)
		return -ENOENT;
	*out = (uid_t)v;
	return 0;
}

int vusd_drop_privileges(const char *user, const char *group, struct vusd_err *err)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1, pgid = (gid_t)-1;

	if (user && lookup(user, false, &uid, &pgid) < 0) {
		vusd_errf(err, "user \"%s\": no such user", user);
		return -ENOENT;
	}
	if (group && lookup(group, true, &gid, NULL) < 0) {
		vusd_errf(err, "group \"%s\": no such group", group);
		return -ENOENT;
	}
	if (!group && user)
		gid = pgid; /* the user's primary group, or the number's own */
	if (!group && user && gid == (gid_t)-1)
		gid = (gid_t)uid;
	/* Group first: after setuid() we could no longer change it. */
	if (gid != (gid_t)-1 && (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0)) {
		vusd_errf(err, "cannot switch to group %u: %s", (unsigned)gid, strerror(errno));
		return -errno;
	}
	if (uid != (uid_t)-1 && setresuid(uid, uid, uid) < 0) {
		vusd_errf(err, "cannot switch to user %u: %s", (unsigned)uid, strerror(errno));
		return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		vusd_errf(err, "no_new_privs: %s", strerror(errno));
		return -errno;
	}
	if (uid != (uid_t)-1 || gid != (gid_t)-1)
		vusd_log(VUS_LOG_INFO, "running as uid %u gid %u", (unsigned)getuid(),
			 (unsigned)getgid());
	return 0;
}
