/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Running devices: each is a vus device created by its type, listening on
 * its own socket, its poll fd in the loop's wait, which runs
 * vus_dev_process() when it is readable (devloop.c; device.h "poll
 * vus_dev_poll_fd() in your own loop").
 *
 * Sockets: vusd creates them itself (<vus/socket.h> vus_listen_path), so the
 * mode is the configured one from the start, a live server's path is
 * refused, a stale socket file replaced and a symlink never followed; it
 * then hands the listener to the device (vus_dev_listen_fd) and unlinks
 * the path when the device goes. An inherited --fd socket is left alone.
 * A process-isolated device's socket is bound here too, then handed to
 * its child (isolate.c), which creates and serves the device.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vus/live.h>
#include <vus/socket.h>

#include "vusd.h"

/* The device's listening socket: created at spec.socket, or the
 * inherited --fd. */
static int bind_socket(struct vusd_dev *vd, int *out, struct vusd_err *err)
{
	const struct vusd_spec *s = &vd->spec;
	int fd = -1, rc;

	if (!s->socket) {
		*out = s->fd;
		return 0;
	}
	rc = vus_listen_path(s->socket, s->socket_mode, &fd);
	if (rc == -EADDRINUSE) {
		vusd_errf(err, "cannot listen on %s: another server is listening there",
			  s->socket);
		return rc;
	}
	if (rc == -EEXIST) {
		vusd_errf(err, "cannot listen on %s: it exists and is not a socket (a symlink "
			  "or another file); refusing to replace it", s->socket);
		return rc;
	}
	if (rc == -ENOENT) {
		/* The example configuration's /run/vus is made by the systemd
		 * unit (RuntimeDirectory=); by hand it must be made first. */
		vusd_errf(err, "cannot listen on %s: its directory does not exist (create "
			  "it first, e.g. mkdir -p -m 0750 DIR; contrib/vusd.service creates "
			  "/run/vus)", s->socket);
		return rc;
	}
	if (rc < 0) {
		vusd_errf(err, "cannot listen on %s: %s", s->socket, strerror(-rc));
		return rc;
	}
	vd->created_socket = true;
	*out = fd;
	return 0;
}

static void unlink_socket(struct vusd_dev *vd)
{
	/* Before the listener closes: from then on nobody can reach it, and
	 * a new server binding the path meanwhile is not ours to remove. */
	if (vd->created_socket && unlink(vd->spec.socket) < 0 && errno != ENOENT)
		vusd_log(VUS_LOG_WARN, "device %s: cannot remove %s: %s", vd->spec.name,
			 vd->spec.socket, strerror(errno));
	vd->created_socket = false;
}

/* A new device listens on its socket; a live update's takes over the
 * listener and client the previous image had (docs/live-update.md). */
struct live_src {
	const void *state;
	size_t len;
	bool created_socket;
};

static int take_over(struct vusd_dev *vd, const struct live_src *src, struct vusd_err *err)
{
	int rc = vus_dev_live_adopt(vd->inst.dev, src->state, src->len);

	if (rc < 0) {
		vusd_errf(err, "device %s: cannot take it over: %s", vd->spec.name, strerror(-rc));
		return rc;
	}
	vd->created_socket = src->created_socket && vd->spec.socket;
	return 0;
}

static int dev_add(struct vusd *d, struct vusd_spec *spec, struct vusd_dev **out,
		   const struct live_src *src, struct vusd_err *err)
{
	struct vusd_dev *vd, **tail;
	int fd = -1, rc;

	if (vusd_dev_find(d, spec->name)) {
		vusd_errf(err, "a device named \"%s\" exists already", spec->name);
		return -EEXIST;
	}
	if (spec->socket && vusd_dev_socket_used(d, spec->socket)) {
		vusd_errf(err, "%s is the socket of another device already", spec->socket);
		return -EEXIST;
	}
	rc = vusd_fds_check(spec->name, err);
	if (rc < 0)
		return rc;
	vd = calloc(1, sizeof(*vd));
	if (!vd) {
		vusd_errf(err, "out of memory");
		return -ENOMEM;
	}
	vd->d = d;
	vd->spec = *spec;
	rc = vusd_budget_effective(&d->budget, spec, &vd->budget, err);
	if (rc == 0 && src && spec->isolation == VUSD_ISOLATION_PROCESS) {
		vusd_errf(err, "device %s: a process-isolated device is not live-updated",
			  spec->name);
		rc = -EOPNOTSUPP;
	}
	if (rc == 0 && src) {
		/* The listener is the previous image's: adopted below. */
		rc = vusd_dev_create(vd, err);
		if (rc == 0 && (rc = take_over(vd, src, err)) < 0)
			vd->spec.type->destroy(&vd->inst);
		if (rc < 0) {
			free(vd);
			return rc;
		}
		goto watch;
	}
	if (rc == 0)
		rc = bind_socket(vd, &fd, err);
	if (rc < 0) {
		rc = vusd_fds_explain(spec->name, rc, err);
		free(vd);
		return rc;
	}
	if (spec->isolation == VUSD_ISOLATION_PROCESS) {
		rc = vusd_child_spawn(d, vd, fd, err);
		if (rc < 0)
			goto err_socket;
	} else {
		rc = vusd_dev_create(vd, err);
		if (rc < 0)
			goto err_listen;
		rc = vus_dev_listen_fd(vd->inst.dev, fd);
		if (rc < 0) {
			if (spec->socket)
				vusd_errf(err, "cannot serve %s: %s", spec->socket, strerror(-rc));
			else
				vusd_errf(err, "--fd %d is not a usable listening socket: %s",
					  spec->fd, strerror(-rc));
			vd->spec.type->destroy(&vd->inst);
			goto err_listen;
		}
watch:
		rc = vusd_devloop_watch(d, vd);
		if (rc < 0) {
			vusd_errf(err, "device %s: cannot watch its poll fd: %s", spec->name,
				  strerror(-rc));
			vd->spec.type->destroy(&vd->inst); /* closes the listener */
			goto err_socket;
		}
	}
	for (tail = &d->devs; *tail; tail = &(*tail)->next)
		;
	*tail = vd;
	d->nr_devs++;
	memset(spec, 0, sizeof(*spec));
	spec->fd = -1;
	if (vd->spec.socket)
		vusd_log(VUS_LOG_INFO, "serving %s \"%s\" on %s", vd->spec.type->name,
			 vd->spec.name, vd->spec.socket);
	else
		vusd_log(VUS_LOG_INFO, "serving %s \"%s\" on fd %d", vd->spec.type->name,
			 vd->spec.name, vd->spec.fd);
	if (out)
		*out = vd;
	return 0;

err_listen:
	unlink_socket(vd); /* before the listener closes, as in remove */
	if (spec->socket)
		close(fd);
	free(vd);
	return vusd_fds_explain(spec->name, rc, err);
err_socket:
	unlink_socket(vd);
	free(vd);
	return vusd_fds_explain(spec->name, rc, err);
}

int vusd_dev_create(struct vusd_dev *vd, struct vusd_err *err)
{
	const struct vusd_spec *spec = &vd->spec;
	int rc;

	err->msg[0] = '\0';
	rc = spec->type->create(spec->name, spec->opts, &vd->inst, err);
	if (rc < 0) {
		if (!err->msg[0])
			vusd_errf(err, "cannot create %s \"%s\": %s", spec->type->name, spec->name,
				  strerror(-rc));
		return vusd_fds_explain(spec->name, rc, err);
	}
	vus_dev_set_log(vd->inst.dev, vusd_log_device, (void *)vus_dev_name(vd->inst.dev),
			vusd_log_level());
	rc = vus_dev_set_dma_layout(vd->inst.dev, spec->dma_layout);
	if (rc < 0) {
		vusd_errf(err, "device %s: cannot set the DMA layout: %s", spec->name,
			  strerror(-rc));
		goto err_destroy;
	}
	rc = vusd_budget_apply(vd->inst.dev, &vd->budget);
	if (rc < 0) {
		vusd_errf(err, "device %s: cannot set its budget: %s", spec->name, strerror(-rc));
		goto err_destroy;
	}
	/* Live update needs each window's fd to map it again in the next
	 * image (docs/live-update.md): kept, and counted by the fd budget. */
	if (vd->d->live_update && (rc = vus_dev_set_dma_close_fds(vd->inst.dev, false)) < 0) {
		vusd_errf(err, "device %s: cannot keep DMA fds: %s", spec->name, strerror(-rc));
		goto err_destroy;
	}
	return 0;
err_destroy:
	spec->type->destroy(&vd->inst);
	return rc;
}

void vusd_dev_remove(struct vusd *d, struct vusd_dev *vd)
{
	struct vusd_dev **p;

	for (p = &d->devs; *p && *p != vd; p = &(*p)->next)
		;
	if (*p) {
		*p = vd->next;
		d->nr_devs--;
	}
	vusd_devloop_unwatch(d, vd);
	unlink_socket(vd);
	vusd_log(VUS_LOG_INFO, "removed %s \"%s\"", vd->spec.type->name, vd->spec.name);
	/* Frees the vus device: its client is dropped (session end), its
	 * listener closed; or ends its child process, which does the same. */
	if (vd->child)
		vusd_child_free(vd);
	else
		vd->spec.type->destroy(&vd->inst);
	vusd_spec_free(&vd->spec);
	free(vd);
}

void vusd_dev_remove_all(struct vusd *d)
{
	while (d->devs)
		vusd_dev_remove(d, d->devs);
}

struct vusd_dev *vusd_dev_find(struct vusd *d, const char *name)
{
	struct vusd_dev *vd;

	for (vd = d->devs; vd; vd = vd->next)
		if (strcmp(vd->spec.name, name) == 0)
			return vd;
	return NULL;
}

bool vusd_dev_socket_used(struct vusd *d, const char *path)
{
	struct vusd_dev *vd;

	for (vd = d->devs; vd; vd = vd->next)
		if (vd->spec.socket && strcmp(vd->spec.socket, path) == 0)
			return true;
	return false;
}

int vusd_dev_add(struct vusd *d, struct vusd_spec *spec, struct vusd_dev **out,
		 struct vusd_err *err)
{
	return dev_add(d, spec, out, NULL, err);
}

int vusd_dev_add_live(struct vusd *d, struct vusd_spec *spec, bool created_socket,
		      const void *state, size_t len, struct vusd_err *err)
{
	const struct live_src src = { .state = state, .len = len,
				      .created_socket = created_socket };

	return dev_add(d, spec, NULL, &src, err);
}
