/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Process-isolated devices, the child's side (docs/security.md
 * "Isolation"; vusd's side is isolate.c).
 *
 * Forked by the spawner (spawner.c) and handed to vusd as its parent,
 * the child holds a copy of the spawner's memory -- vusd's options and
 * configuration as parsed before any device existed -- and, besides
 * stdin/stdout/stderr, the two fds vusd sent for it. In this order it:
 *   1. dies with vusd (PR_SET_PDEATHSIG) and leaves the inherited signal
 *      handlers behind: ending devices is vusd's job;
 *   2. closes every fd but stdin/stdout/stderr, its listening socket and
 *      its control channel (belt and braces now: the spawner holds no
 *      other device's socket or client, nor the control socket);
 *   3. creates its device, listens, drops privileges (--user/--group,
 *      always no_new_privs) and enters the seccomp filter with vusd's
 *      calls and its own type's only;
 *   4. says so on the channel, then serves: the device's poll fd and the
 *      channel's requests on a loop of its own.
 * Other tenants' state is not in the copy: the spawner never held any
 * device, client or guest memory (test_vusd_isolation checks the
 * child's maps and fds while a shared nvme device holds guest data).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vusd.h"

/* A request line from vusd (its control socket's limit, with room). */
#define VUSD_CHILD_REQ_MAX (128u * 1024u)

struct child {
	struct vusd d;
	struct vusd_dev vd;
	int fd; /* control channel */
	char buf[VUSD_CHILD_REQ_MAX];
	size_t len;
};

static void send_reply(struct child *c, struct json_object *o)
{
	size_t len, off = 0;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	ssize_t n;

	while (off <= len) {
		/* The line, then its newline. */
		n = off < len ? write(c->fd, s + off, len - off) : write(c->fd, "\n", 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(VUSD_EXIT_RUNTIME); /* vusd is gone */
		off += (size_t)n;
	}
}

static struct json_object *error_obj(int rc, const char *msg)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		_exit(VUSD_EXIT_RUNTIME);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "errno", json_object_new_int(-rc));
	json_object_object_add(o, "message", json_object_new_string(msg[0] ? msg
									    : strerror(-rc)));
	return o;
}

/* One request from vusd, already authorized there: run it as vusd would
 * (control_cmds.c) on this process's one device. */
static void handle_request(struct child *c, const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct json_object *req = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
	struct json_object *reply = json_object_new_object(), *seq = NULL;
	struct vusd_err err = { "" };
	int rc = -EINVAL;

	json_tokener_free(tok);
	if (req && reply && json_object_is_type(req, json_type_object)) {
		json_object_object_get_ex(req, "seq", &seq);
		seq = json_object_get(seq);
		json_object_object_del(req, "seq");
		json_object_object_add(reply, "ok", json_object_new_boolean(1));
		rc = vusd_control_dispatch(&c->d, req, reply, &err);
	}
	if (rc < 0) {
		json_object_put(reply);
		reply = error_obj(rc, err.msg);
	}
	if (seq)
		json_object_object_add(reply, "seq", seq);
	send_reply(c, reply);
	json_object_put(reply);
	json_object_put(req);
}

static void on_channel(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	char *nl;
	ssize_t n;

	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* vusd closed it: the device is being removed. */
		vusd_loop_stop(&c->d, c->d.exit_code);
		return;
	}
	c->len += (size_t)n;
	while ((nl = memchr(c->buf, '\n', c->len))) {
		handle_request(c, c->buf, (size_t)(nl - c->buf));
		c->len -= (size_t)(nl + 1 - c->buf);
		memmove(c->buf, nl + 1, c->len);
	}
	if (c->len == sizeof(c->buf))
		_exit(VUSD_EXIT_RUNTIME); /* vusd never sends that much */
}

static int setup(struct child *c, struct vusd *parent, int listen_fd, struct vusd_err *err)
{
	struct event *ev_ctl;
	int rc;

	/* The device's requests skip libevent, as in vusd (devloop.c). */
	c->d.base = vusd_devloop_open(&c->d);
	if (!c->d.base) {
		vusd_errf(err, "device %s: cannot create its event loop", c->vd.spec.name);
		return -ENOMEM;
	}
	rc = vusd_dev_create(&c->vd, err);
	if (rc < 0)
		return rc;
	rc = vus_dev_listen_fd(c->vd.inst.dev, listen_fd);
	if (rc < 0) {
		vusd_errf(err, "device %s: cannot serve its socket: %s", c->vd.spec.name,
			  strerror(-rc));
		return rc;
	}
	ev_ctl = event_new(c->d.base, c->fd, EV_READ | EV_PERSIST, on_channel, c);
	if (vusd_devloop_watch(&c->d, &c->vd) < 0 || !ev_ctl || event_add(ev_ctl, NULL) < 0) {
		vusd_errf(err, "device %s: cannot watch its fds", c->vd.spec.name);
		return -ENOMEM;
	}
	/* Already the user when the spawner dropped privileges before
	 * forking (a device added at run time, when vusd and the spawner
	 * have dropped theirs): then only no_new_privs is left to set. */
	rc = vusd_drop_privileges(geteuid() == 0 ? parent->user : NULL,
				  geteuid() == 0 ? parent->group : NULL, err);
	if (rc == 0 && parent->seccomp)
		rc = vusd_sandbox_enter(c->vd.spec.type, false, err);
	return rc;
}

void vusd_child_main(struct vusd *parent, struct vusd_dev *vd, int listen_fd, int ctl_fd)
{
	static struct child c; /* its buffer is large; the child has one */
	struct json_object *ready;
	struct vusd_err err = { "" };
	int keep[2] = { listen_fd, ctl_fd };
	int rc;

	/* vusd is the parent already (spawner.c waits for that). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent->pid)
		_exit(VUSD_EXIT_RUNTIME); /* vusd died before the line above */
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGINT, SIG_IGN); /* a terminal's ^C: vusd ends its children */
	/* Before the fds go: syslog's socket is closed properly and opened
	 * again on first use, so its number is never another fd's. */
	vusd_log_reopen();
	rc = vusd_close_fds_except(keep, 2);
	c.fd = ctl_fd;
	c.vd.d = &c.d;
	c.vd.spec = vd->spec; /* a copy, never freed: the process ends with it */
	c.vd.budget = vd->budget;
	c.d.devs = &c.vd;
	c.d.nr_devs = 1;
	c.d.socket_mode = parent->socket_mode;
	c.d.budget = parent->budget;
	c.d.exit_code = VUSD_EXIT_OK;
	if (rc < 0)
		vusd_errf(&err, "device %s: cannot close vusd's fds: %s", vd->spec.name,
			  strerror(-rc));
	else
		rc = setup(&c, parent, listen_fd, &err);
	if (rc < 0) {
		ready = error_obj(rc, err.msg);
	} else {
		ready = json_object_new_object();
		if (!ready)
			_exit(VUSD_EXIT_SETUP);
		json_object_object_add(ready, "ok", json_object_new_boolean(1));
		json_object_object_add(ready, "pid", json_object_new_int(getpid()));
	}
	send_reply(&c, ready);
	json_object_put(ready);
	if (rc < 0)
		_exit(VUSD_EXIT_SETUP);
	if (vusd_devloop_run(&c.d) < 0)
		c.d.exit_code = VUSD_EXIT_RUNTIME;
	c.vd.spec.type->destroy(&c.vd.inst);
	_exit(c.d.exit_code);
}
