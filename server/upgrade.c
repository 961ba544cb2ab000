/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live update, the old image's side (docs/live-update.md): stop every
 * device and describe it (libvus's vus_dev_live_export()), write the
 * state to memfds, have the new binary load all of it in a dry-run child,
 * and only then execve() it in place -- same pid, so systemd, a pid file
 * or a test's wait() see nothing -- with the listeners, the clients'
 * sockets, DMA fds and eventfds, and the control connection that asked
 * inherited. Anything failing before execve() resumes every device and
 * keeps serving, and the request fails with the reason (the dry run's own
 * message when it refused).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vus/live.h>

#include "upgrade.h"
#include "vusd.h"

/* The dry run loads every device's state; a binary that neither answers
 * nor exits within this is refused. */
#define DRY_RUN_MS 30000

extern char **environ;

uint64_t vusd_live_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_cloexec(int fd, bool on)
{
	int fl;

	if (fd < 0)
		return;
	fl = fcntl(fd, F_GETFD);
	if (fl >= 0)
		fcntl(fd, F_SETFD, on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC));
}

/* A memfd holding len bytes, kept across execve. -errno. */
static int memfd_with(const char *name, const void *p, size_t len)
{
	int fd = memfd_create(name, 0);
	size_t off = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (off < len) {
		n = write(fd, (const char *)p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : -EIO;

			close(fd);
			return e;
		}
		off += (size_t)n;
	}
	return fd;
}

/* environ without our variables, plus extra (NULL-ended). */
static char **env_with(char *const *extra)
{
	size_t n = 0, i, k = 0;
	char **env;

	while (environ[n])
		n++;
	for (i = 0; extra[i]; i++)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; environ[i]; i++)
		if (strncmp(environ[i], VUSD_LIVE_ENV_STATE "=", strlen(VUSD_LIVE_ENV_STATE) + 1) &&
		    strncmp(environ[i], VUSD_LIVE_ENV_CHECK "=", strlen(VUSD_LIVE_ENV_CHECK) + 1))
			env[k++] = environ[i];
	for (i = 0; extra[i]; i++)
		env[k++] = extra[i];
	return env;
}

/* Run the new binary's dry run: 0, or -errno with err saying why. */
static int dry_run(const char *exe, char **argv, int state_fd, struct vusd_err *err)
{
	char state_var[48], check_var[48], msg[sizeof(err->msg) - 64] = "";
	char *extra[3] = { state_var, check_var, NULL };
	size_t got = 0;
	uint64_t deadline = vusd_live_now_ns() + DRY_RUN_MS * 1000000ull;
	char **env;
	int p[2], status = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		vusd_errf(err, "upgrade: pipe: %s", strerror(errno));
		return -errno;
	}
	snprintf(state_var, sizeof(state_var), "%s=%d", VUSD_LIVE_ENV_STATE, state_fd);
	snprintf(check_var, sizeof(check_var), "%s=%d", VUSD_LIVE_ENV_CHECK, p[1]);
	env = env_with(extra);
	if (!env) {
		close(p[0]);
		close(p[1]);
		vusd_errf(err, "upgrade: out of memory");
		return -ENOMEM;
	}
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls until execve. */
		int fl = fcntl(p[1], F_GETFD);

		if (fl >= 0)
			fcntl(p[1], F_SETFD, fl & ~FD_CLOEXEC);
		execve(exe, argv, env);
		_exit(127);
	}
	free(env);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		vusd_errf(err, "upgrade: fork: %s", strerror(errno));
		return -errno;
	}
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		uint64_t now = vusd_live_now_ns();
		ssize_t n;

		if (now >= deadline) {
			kill(pid, SIGKILL);
			snprintf(msg, sizeof(msg), "no answer within %d s", DRY_RUN_MS / 1000);
			break;
		}
		if (poll(&pf, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		n = read(p[0], msg + got, sizeof(msg) - 1 - got);
		if (n <= 0 || got + (size_t)n >= sizeof(msg) - 1) {
			if (n > 0)
				got += (size_t)n;
			break;
		}
		got += (size_t)n;
	}
	msg[got < sizeof(msg) ? got : sizeof(msg) - 1] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && strcmp(msg, "ok") == 0)
		return 0;
	msg[strcspn(msg, "\n")] = '\0';
	if (msg[0] && strcmp(msg, "ok") != 0)
		vusd_errf(err, "upgrade refused: %s: %s", exe, msg);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		vusd_errf(err, "upgrade refused: cannot execute %s", exe);
	else if (WIFSIGNALED(status))
		vusd_errf(err, "upgrade refused: %s was killed by signal %d (%s) in its dry run",
			  exe, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		vusd_errf(err, "upgrade refused: %s exited with %d in its dry run without loading "
			  "the state (not a vusd with live update?)", exe,
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return -EINVAL;
}

struct held {
	struct vusd_dev *vd;
	int fd;                  /* memfd of the device's state */
};

static void resume_all(struct held *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int rc = vus_dev_live_resume(h[i].vd->inst.dev);

		if (rc < 0)
			vusd_log(VUS_LOG_WARN, "device %s: resuming after the failed upgrade: %s "
				 "(reset to RUNNING)", h[i].vd->spec.name, strerror(-rc));
		if (h[i].fd >= 0)
			close(h[i].fd);
	}
}

/* The state: {"version", "t0_ns", "control", "reply_fd", "req_id",
 * "devices": [{"spec", "created_socket", "state_fd", "state_len",
 * "stopped_ns"}]}. */
static struct json_object *state_json(struct vusd *d, struct held *h, size_t n, uint64_t t0,
				      const size_t *lens, const uint64_t *stopped)
{
	struct json_object *o = json_object_new_object(), *devs = json_object_new_array();
	size_t i;

	if (!o || !devs) {
		json_object_put(o);
		json_object_put(devs);
		return NULL;
	}
	json_object_object_add(o, "version", json_object_new_int(VUSD_LIVE_VERSION));
	json_object_object_add(o, "t0_ns", json_object_new_uint64(t0));
	if (d->ctl) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "path", json_object_new_string(d->ctl_path));
		json_object_object_add(c, "fd", json_object_new_int(d->ctl_fd));
		json_object_object_add(o, "control", c);
	}
	json_object_object_add(o, "reply_fd", json_object_new_int(d->req_fd));
	if (d->req_id)
		json_object_object_add(o, "req_id", json_object_get(d->req_id));
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_new_object();
		struct json_object *spec = vusd_spec_json(&h[i].vd->spec);

		/* The same device again: its name and socket too. */
		if (spec) {
			json_object_object_add(spec, "name",
					       json_object_new_string(h[i].vd->spec.name));
			if (h[i].vd->spec.socket)
				json_object_object_add(spec, "socket", json_object_new_string(
					h[i].vd->spec.socket));
		}
		json_object_object_add(e, "spec", spec);
		json_object_object_add(e, "created_socket",
				       json_object_new_boolean(h[i].vd->created_socket));
		json_object_object_add(e, "state_fd", json_object_new_int(h[i].fd));
		json_object_object_add(e, "state_len", json_object_new_uint64(lens[i]));
		json_object_object_add(e, "stopped_ns", json_object_new_uint64(stopped[i]));
		json_object_array_add(devs, e);
	}
	json_object_object_add(o, "devices", devs);
	return o;
}

int vusd_upgrade(struct vusd *d, const char *binary, struct vusd_err *err)
{
	const char *exe = binary ? binary : d->exe;
	struct held *h = NULL;
	size_t *lens = NULL, n = 0;
	uint64_t *stopped = NULL, t0;
	struct json_object *st = NULL;
	char state_var[48], *extra[2] = { state_var, NULL }, **env = NULL;
	const char *text;
	int state_fd = -1, rc;

	if (!d->live_update) {
		vusd_errf(err, "live update is off: start vusd with --live-update (or "
			  "\"live_update\": true in its configuration; docs/live-update.md)");
		return -EOPNOTSUPP;
	}
	if (!exe || access(exe, X_OK) < 0) {
		vusd_errf(err, "upgrade: cannot execute %s: %s", exe ? exe : "(unknown binary)",
			  strerror(errno));
		return -ENOENT;
	}
	/* A device in its own process (isolation=process) has its state and
	 * its client there; handing those over is not done (yet). */
	for (struct vusd_dev *vd = d->devs; vd; vd = vd->next)
		if (vd->spec.isolation == VUSD_ISOLATION_PROCESS) {
			vusd_errf(err, "upgrade refused: device %s runs in its own process "
				  "(isolation=process), which live update does not hand over "
				  "(docs/live-update.md)", vd->spec.name);
			return -EOPNOTSUPP;
		}
	h = calloc(d->nr_devs + 1, sizeof(*h));
	lens = calloc(d->nr_devs + 1, sizeof(*lens));
	stopped = calloc(d->nr_devs + 1, sizeof(*stopped));
	if (!h || !lens || !stopped) {
		vusd_errf(err, "upgrade: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	t0 = vusd_live_now_ns();
	rc = 0;
	for (struct vusd_dev *vd = d->devs; vd; vd = vd->next) {
		void *blob;

		h[n].vd = vd;
		h[n].fd = -1;
		stopped[n] = vusd_live_now_ns();
		rc = vus_dev_live_export(vd->inst.dev, &blob, &lens[n]);
		if (rc < 0) {
			vusd_errf(err, "upgrade refused: device %s cannot be handed over: %s%s",
				  vd->spec.name, strerror(-rc),
				  rc == -EOPNOTSUPP ? " (no migration support, or IRQs passed "
						      "through; docs/live-update.md)" : "");
			break;
		}
		n++;
		rc = memfd_with("vusd-live-device", blob, lens[n - 1]);
		free(blob);
		if (rc < 0) {
			vusd_errf(err, "upgrade: memfd: %s", strerror(-rc));
			break;
		}
		h[n - 1].fd = rc;
		rc = 0;
	}
	if (rc == 0) {
		st = state_json(d, h, n, t0, lens, stopped);
		text = st ? json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN) : NULL;
		state_fd = text ? memfd_with("vusd-live", text, strlen(text)) : -ENOMEM;
		if (state_fd < 0) {
			vusd_errf(err, "upgrade: cannot write the state: %s", strerror(-state_fd));
			rc = state_fd;
		}
	}
	if (rc == 0) {
		uint64_t t1 = vusd_live_now_ns(), t2;

		rc = dry_run(exe, d->argv, state_fd, err);
		t2 = vusd_live_now_ns();
		/* The phases of the pause, for the report (docs/live-update.md). */
		json_object_object_add(st, "saved_ns", json_object_new_uint64(t1));
		json_object_object_add(st, "checked_ns", json_object_new_uint64(t2));
		text = json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN);
		if (rc == 0 && (ftruncate(state_fd, 0) < 0 ||
				pwrite(state_fd, text, strlen(text), 0) != (ssize_t)strlen(text))) {
			vusd_errf(err, "upgrade: cannot write the state: %s", strerror(errno));
			rc = -EIO;
		}
	}
	if (rc == 0) {
		snprintf(state_var, sizeof(state_var), "%s=%d", VUSD_LIVE_ENV_STATE, state_fd);
		env = env_with(extra);
		set_cloexec(d->ctl_fd, false);
		set_cloexec(d->req_fd, false);
		vusd_log(VUS_LOG_INFO, "upgrade: %zu device(s) handed over, executing %s", n, exe);
		if (env)
			execve(exe, d->argv, env);
		/* Still here: nothing was handed over after all. */
		rc = env ? -errno : -ENOMEM;
		vusd_errf(err, "upgrade: execve %s: %s", exe, strerror(-rc));
		set_cloexec(d->ctl_fd, true);
		set_cloexec(d->req_fd, true);
	}
	resume_all(h, n);
	vusd_log(VUS_LOG_WARN, "%s; every device serves on", err->msg);
out:
	free(env);
	if (state_fd >= 0)
		close(state_fd);
	json_object_put(st);
	free(h);
	free(lens);
	free(stopped);
	return rc;
}
