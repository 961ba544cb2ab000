/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd internals, shared by its files:
 *
 *   main.c         main(): command line or config file -> devices -> loop
 *   cmdline.c      the command line
 *   config.c       the JSON configuration file
 *   devspec.c      device specifications: "TYPE,key=value..." and JSON
 *                  objects checked against the option schemas
 *   devtypes.c     the device-type registry (how to add a type: its top)
 *   type_*.c       one device type each
 *   devices.c      running devices: create, listen, watch, remove
 *   spec_json.c    a running device's spec as `add` takes it (info)
 *   loop.c         the loop's setup, signals, shutdown
 *   devloop.c      the loop's wait: devices served from an epoll set of
 *                  vusd's own, libevent (control, signals) nested in it
 *   control.c      the control socket: connections and framing
 *   control_cmds.c daemon-wide requests (list, add, remove, stats, ...)
 *   control_dev.c  requests addressed to one device (read, write, info, ...)
 *   isolate.c      process-isolated devices, vusd's side: fork, forward
 *                  control requests, notice a death, remove
 *   spawner.c      the process isolated devices are forked from, forked
 *                  before any device exists: holds no tenant's state
 *   child.c        process-isolated devices, the child's side: close what
 *                  is not its own, sandbox, serve one device
 *   closefds.c     close every fd but some (the spawner, a child)
 *   log.c          logging to stderr or syslog
 *
 * Threads (docs/control.md "Threads"): one loop thread runs everything
 * here -- every device's vus_dev_process() (devloop.c), the control
 * socket and signals (libevent, on that thread). Device code may run its own worker threads and call
 * the library's any-thread functions (vus_irq_trigger(), vus_dma_*_async())
 * from them; those wake the loop through the device's poll fd. Nothing in
 * vusd itself is shared with such threads except the log (log.c).
 * A device with "isolation": "process" runs in a child process instead,
 * with a loop of its own (isolate.c, child.c, docs/security.md).
 */
#ifndef VUSD_H
#define VUSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vus/device.h>

#include "devtypes.h"

struct event;
struct event_base;
struct json_object;
struct vusd;
struct vusd_spec;
struct vusd_control;

/* Exit codes, also listed in --help. */
enum {
	VUSD_EXIT_OK = 0,      /* stopped by SIGTERM/SIGINT */
	VUSD_EXIT_RUNTIME = 1, /* a listener failed while serving */
	VUSD_EXIT_USAGE = 2,   /* bad command line or configuration */
	VUSD_EXIT_SETUP = 3,   /* device creation, socket or event loop setup failed */
};

/* Socket files vusd creates are owner-only unless configured otherwise:
 * the file's permissions are vfio-user's only access control (spec
 * "Authentication"). */
#define VUSD_DEFAULT_SOCKET_MODE 0600u

/* ---- log.c ---------------------------------------------------------- */

enum vusd_log_target {
	VUSD_LOG_STDERR,
	VUSD_LOG_SYSLOG,
};
void vusd_log_open(enum vusd_log_target target);
void vusd_log_close(void);
/* In a device's child process, before it closes vusd's fds: syslog's
 * socket closed, to be opened again on first use. */
void vusd_log_reopen(void);
/* Any thread. */
void vusd_log_set_level(enum vus_log_level level);
enum vus_log_level vusd_log_level(void);
void vusd_log(enum vus_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The vus_log_fn given to every device; opaque is the device's name. */
void vusd_log_device(void *opaque, enum vus_log_level level, const char *msg);
/* "err", "warn", "info", "debug", "trace" <-> levels. */
extern const struct vusd_choice vusd_log_levels[];
const char *vusd_log_level_name(enum vus_log_level level);

/* ---- control_auth.c ------------------------------------------------- */

#define VUSD_NO_ID UINT64_MAX

/* Control socket access (docs/control.md "Access"). */
struct vusd_ctl_policy {
	unsigned control_mode;         /* the control socket's permission bits */
	uint64_t admin_uid, admin_gid; /* VUSD_NO_ID: none (root only) */
	char *add_dir;                 /* add: sockets only directly here; NULL: root only */
	unsigned add_mode;             /* add: socket_mode within these bits */
};

/* A control connection's peer, from the kernel (SO_PEERCRED). */
struct vusd_peer {
	int pid;
	unsigned uid, gid;
	bool admin;
};

/* control_mode 0600, no admin_uid/gid, no add_dir, add_mode 0660. */
void vusd_ctl_policy_init(struct vusd_ctl_policy *p);
int vusd_peer_identify(int fd, const struct vusd_ctl_policy *p, struct vusd_peer *out);
/* May peer make this request? 0, or -EPERM with err set. */
int vusd_ctl_authorize(const struct vusd_peer *peer, struct json_object *req,
		       struct vusd_err *err);
/* May the request's peer (d->peer) add a device with this socket? */
int vusd_ctl_check_add(const struct vusd *d, const struct vusd_spec *spec, struct vusd_err *err);

/* ---- privdrop.c ----------------------------------------------------- */

/* Become user/group (names or numbers; either may be NULL) and set
 * no_new_privs. 0, or -errno with err set. */
int vusd_drop_privileges(const char *user, const char *group, struct vusd_err *err);

/* ---- sandbox.c ------------------------------------------------------ */

/* Install the seccomp allow-list (vusd's calls and every registered
 * type's syscalls, or only type's when it is not NULL: a device's child
 * process; with live_update also what exec'ing the next image needs) on
 * every thread; others then fail with EPERM, each logged
 * once. Left off, with a warning, in sanitizer builds. 0, or -errno with
 * err set. */
int vusd_sandbox_enter(const struct vusd_type *type, bool live_update, struct vusd_err *err);

/* ---- budget.c ------------------------------------------------------- */

/* Per-device budgets (docs/security.md section 2): the global one for
 * every device, a device's own "budget" keys over it; each device its
 * own account. */
struct vusd_budget {
	uint64_t dma_bytes;
	uint64_t dma_windows;
	uint64_t dirty_log_bytes;
	uint64_t output_bytes;
	uint64_t dma_pending;
};
extern const struct vusd_opt vusd_budget_opts[];
void vusd_budget_init(struct vusd_budget *b);
int vusd_budget_parse_json(struct json_object *obj, struct vusd_budget *b, const char *where,
			   struct vusd_err *err);
/* Before the device listens. 0 or -errno. */
int vusd_budget_apply(struct vus_dev *dev, const struct vusd_budget *b);
/* The device's effective budget: global, then spec's own keys. 0, or
 * -EINVAL with err naming the bad key (config.c checks every configured
 * device's this way before anything starts). */
int vusd_budget_effective(const struct vusd_budget *global, const struct vusd_spec *spec,
			  struct vusd_budget *out, struct vusd_err *err);
/* {"dma_bytes": {"used", "limit"}, ...} for stats and info. */
struct json_object *vusd_budget_json(const struct vusd_budget *b, const struct vus_dev_stats *st);
/* RLIMIT_NOFILE soft limit up to the hard one (logged at info; a refusal
 * as a warning). */
void vusd_raise_nofile(void);
/*
 * fds one device holds while no client is attached: its listener, the
 * library's epoll set and wake eventfd, plus one per fd-backed region
 * (testdev's BAR2) -- 3 or 4 (docs/performance.md "fds per device").
 */
#define VUSD_FDS_PER_DEVICE 4u
/* -EMFILE with err saying so ("too many open files: N open, limit L; each
 * device needs about K") if device `name` would not fit under the limit. */
int vusd_fds_check(const char *name, struct vusd_err *err);
/* After device `name` failed to come up with rc: if the process is out of
 * fds, err says so and -EMFILE is returned; else rc, err untouched. */
int vusd_fds_explain(const char *name, int rc, struct vusd_err *err);

/* ---- config.c ------------------------------------------------------- */

struct vusd_config {
	char *control;                 /* control socket path, NULL: none */
	unsigned socket_mode;          /* default mode of sockets vusd creates */
	int log_level;                 /* enum vus_log_level */
	int log_target;                /* enum vusd_log_target */
	struct vusd_spec *devices;
	size_t nr_devices;
	struct vusd_budget budget;     /* "budget": every device's */
	struct vusd_ctl_policy policy; /* control socket access (control_auth.c) */
	char *user, *group;            /* run as these once the sockets are bound */
	bool seccomp;                  /* "seccomp": the filter (sandbox.c), default on */
	bool live_update;              /* "live_update": upgrade allowed (upgrade.c) */
};
/* Defaults: no control socket, mode 0600, level info, stderr. */
void vusd_config_init(struct vusd_config *cfg);
/* Parse FILE into cfg (which holds the defaults). Errors name the file,
 * the key and what was expected; -errno. */
int vusd_config_load(const char *path, struct vusd_config *cfg, struct vusd_err *err);
/* Set one top-level key from a string (the command line's access
 * options); where names it in errors. */
int vusd_config_set(struct vusd_config *cfg, const char *key, const char *value,
		    const char *where, struct vusd_err *err);
/* Append a device spec (taken over: *spec is cleared). Checks that its
 * name and socket are not already used; where names the new one. */
int vusd_config_add_device(struct vusd_config *cfg, struct vusd_spec *spec, const char *where,
			   struct vusd_err *err);
void vusd_config_free(struct vusd_config *cfg);

/* ---- cmdline.c ------------------------------------------------------ */

/* Parse argv into cfg (the --config file is loaded there too). Returns -1
 * to go on, else the exit code (--help, --version, errors). */
int vusd_cmdline(int argc, char **argv, struct vusd_config *cfg);

/* ---- devices.c ------------------------------------------------------ */

struct vusd_child;

struct vusd_dev {
	struct vusd_dev *next;
	struct vusd *d;
	struct vusd_spec spec;         /* owned */
	struct vusd_budget budget;     /* effective: global + spec's own keys */
	struct vusd_inst inst;         /* the type's device; .dev NULL in vusd for
					* a process-isolated one (it is the child's) */
	struct vusd_child *child;      /* process-isolated: its child, else NULL */
	bool watched;                  /* its poll fd is in d->dev_ep (devloop.c) */
	bool created_socket;           /* spec.socket is ours to unlink */
};

struct vusd {
	struct event_base *base;
	struct vusd_dev *devs;         /* in the order added */
	size_t nr_devs;
	unsigned socket_mode;          /* default for devices added at run time */
	struct vusd_budget budget;     /* applied to every device */
	struct vusd_ctl_policy policy; /* who may do what on the control socket */
	const struct vusd_peer *peer;  /* the control request being handled, or NULL */
	struct vusd_control *ctl;      /* NULL without a control socket */
	struct event *sig[4];          /* SIGTERM, SIGINT, SIGCHLD, SIGHUP */
	int exit_code;
	/* devloop.c: the loop's wait, with every device's poll fd */
	int dev_ep;                    /* the epoll set it waits in, or -1 */
	int lev_fd;                    /* libevent's epoll set, nested in dev_ep; -1:
					* libevent waits and watches dev_ep (dev_ev) */
	struct event *dev_ev;          /* that fallback's event, else NULL */
	int lev_timeout_ms;            /* a libevent timer is armed: wake at least
					* this often (-1: none) */
	bool loop_done;                /* vusd_devloop_stop() was called */
	/* What a device's child process needs of the configuration. */
	const char *user, *group;      /* cfg's: drop to these */
	bool seccomp;
	/* vusd_child_main (child.c), set by main(): the child serves with
	 * control_cmds.c and devices.c, which sit above isolate.c and
	 * spawner.c, so spawner.c reaches it through this pointer. */
	void (*child_main)(struct vusd *d, struct vusd_dev *vd, int listen_fd, int ctl_fd);
	pid_t pid;                     /* vusd's: the parent its children check */
	int spawner_fd;                /* spawner.c: its socket, -1 once gone */
	pid_t spawner_pid;             /* 0 once reaped */
	/* live update (upgrade.c; docs/live-update.md) */
	bool live_update;              /* allowed: DMA fds kept, execve allowed */
	char **argv;                   /* main()'s, for the next image */
	char *exe;                     /* this image's binary (resolved at start) */
	int req_fd;                    /* the control request's connection, or -1 */
	struct json_object *req_id;    /* its "id", or NULL */
	int ctl_fd;                    /* control.c: its listener, or -1 */
	const char *ctl_path;          /* control.c: its path, or NULL */
};

/* Create the device spec describes, listen on its socket and watch it.
 * Takes spec over on success (cleared); on failure it stays the caller's. */
int vusd_dev_add(struct vusd *d, struct vusd_spec *spec, struct vusd_dev **out,
		 struct vusd_err *err);
/* Stop watching, free the device (its client is dropped), unlink the
 * socket vusd created. */
void vusd_dev_remove(struct vusd *d, struct vusd_dev *vd);
void vusd_dev_remove_all(struct vusd *d);
/* Create spec's device (type, log, DMA layout, vd->budget) into vd->inst;
 * vusd's loop, or a device's child process. */
int vusd_dev_create(struct vusd_dev *vd, struct vusd_err *err);
/* The device's entry in list, add and stats: name, type, socket,
 * attached, clients (control_cmds.c). */
struct json_object *vusd_dev_entry(struct vusd_dev *vd);

/* ---- isolate.c ------------------------------------------------------ */

/* Have the spawner fork vd's child process, which serves listen_fd (taken over, closed
 * here) and nothing else; returns once the child is serving or has
 * failed. 0, or -errno with err set (the child's own message). */
int vusd_child_spawn(struct vusd *d, struct vusd_dev *vd, int listen_fd, struct vusd_err *err);
/* Send req to vd's child and copy its reply's members into reply; the
 * child's error as -errno with err set. Blocks up to a few seconds. */
int vusd_child_forward(struct vusd_dev *vd, struct json_object *req, struct json_object *reply,
		       struct vusd_err *err);
/* The one object in the "devices" array of the child's reply to req
 * (list, stats), with isolation, pid and state ("running", "dead",
 * "unresponsive"); without the child's part if it cannot answer. */
struct json_object *vusd_child_device_obj(struct vusd_dev *vd, struct json_object *req);
/* vd's list entry from its child, with isolation, pid and state. */
struct json_object *vusd_child_entry(struct vusd_dev *vd);
/* Is the child's client attached? (false if it is dead; true if it
 * does not answer: it may be) */
bool vusd_child_attached(struct vusd_dev *vd);
/* info for a dead child: who, and how it ended. */
void vusd_child_dead_info(struct vusd_dev *vd, struct json_object *reply);
bool vusd_child_dead(const struct vusd_dev *vd);
/* SIGCHLD: reap every child that ended, log it, mark its device dead. */
void vusd_children_reap(struct vusd *d);
/* Stop the child (SIGKILL: it holds nothing to save) and reap it. */
void vusd_child_free(struct vusd_dev *vd);

/* ---- spawner.c ------------------------------------------------------ */

/* Become a child subreaper and fork the spawner (d->pid, spawner_fd,
 * spawner_pid set): before any device, client or control connection
 * exists. 0, or -errno with err set. */
int vusd_spawner_start(struct vusd *d, struct vusd_err *err);
/* Have the spawner fork spec's child, which serves listen_fd and answers
 * on ctl_fd (both stay the caller's to close) and is vusd's child. Its
 * pid, or -errno with err set (also once the spawner is gone). */
pid_t vusd_spawner_spawn(struct vusd *d, const struct vusd_spec *spec, int listen_fd,
			 int ctl_fd, struct vusd_err *err);
/* The spawner drops privileges and enters its seccomp filter, as vusd
 * does once its sockets are bound. 0, or -errno with err set. */
int vusd_spawner_sandbox(struct vusd *d, struct vusd_err *err);
/* vusd_children_reap(): is pid the spawner? Then its end is logged. */
bool vusd_spawner_reaped(struct vusd *d, pid_t pid, int status);
/* Close its socket, kill and reap it. */
void vusd_spawner_stop(struct vusd *d);

/* ---- child.c -------------------------------------------------------- */

/* In the forked child (spawner.c forks it, vusd is its parent): serve vd alone on listen_fd, answering control
 * requests on ctl_fd. Never returns. */
void vusd_child_main(struct vusd *parent, struct vusd_dev *vd, int listen_fd, int ctl_fd)
	__attribute__((noreturn));
/* closefds.c: close every fd but 0, 1, 2 and keep[0..n): close_range(),
 * or a walk of /proc/self/fd where the kernel lacks it. 0 or -errno. */
int vusd_close_fds_except(const int *keep, size_t n);
struct vusd_dev *vusd_dev_find(struct vusd *d, const char *name);
/* Is path the socket of a device already? */
bool vusd_dev_socket_used(struct vusd *d, const char *path);

/* ---- upgrade.c, upgrade_in.c: live update ----------- */

/*
 * Replace this image by binary (NULL: the running one) with every device
 * and client kept (docs/live-update.md). Returns only on failure, with
 * every device serving again and err saying why; on success the next
 * image answers the control request on d->req_fd and serves.
 */
int vusd_upgrade(struct vusd *d, const char *binary, struct vusd_err *err);
/* main(): this image was started by an upgrade (VUSD_LIVE_STATE in the
 * environment)? Then run the dry run (exit code) or take every device
 * over (0, -1 on failure, logged). */
bool vusd_live_started(void);
int vusd_live_check_main(void);
int vusd_live_take_over(struct vusd *d);
/* devices.c: add a device taking over its listener and client from the
 * live-update state instead of binding its socket. */
int vusd_dev_add_live(struct vusd *d, struct vusd_spec *spec, bool created_socket,
		      const void *state, size_t len, struct vusd_err *err);
/* control.c: serve the control socket on an inherited listener. */
int vusd_control_adopt(struct vusd *d, const char *path, int fd, struct vusd_err *err);

/* ---- spec_json.c ---------------------------------------------------- */

/* The object `add` would take to make this device again, without its
 * name and socket: type, socket_mode, dma_layout and every type option
 * (docs/control.md "info"). NULL without memory. */
struct json_object *vusd_spec_json(const struct vusd_spec *spec);

/* ---- loop.c --------------------------------------------------------- */

/* The event base, with SIGTERM/SIGINT handled from here on. */
int vusd_loop_init(struct vusd *d);
/* Run until SIGTERM/SIGINT or a fatal listener error; the exit code. */
int vusd_loop_run(struct vusd *d);
/* Leave the loop with this exit code. */
void vusd_loop_stop(struct vusd *d, int exit_code);
void vusd_loop_free(struct vusd *d);

/* ---- devloop.c ------------------------------------------------------ */

/* d's device epoll set and a libevent base configured for vusd's loops
 * (one thread, no cached time) whose epoll set is nested in it (or,
 * failing that, which watches it); NULL on failure. */
struct event_base *vusd_devloop_open(struct vusd *d);
void vusd_devloop_close(struct vusd *d);
/* Serve vd's requests from the loop's wait (its poll fd in d->dev_ep). */
int vusd_devloop_watch(struct vusd *d, struct vusd_dev *vd);
void vusd_devloop_unwatch(struct vusd *d, struct vusd_dev *vd);
/* Wait and serve until vusd_devloop_stop(); 0 or -errno. */
int vusd_devloop_run(struct vusd *d);
/* Leave vusd_devloop_run() (and libevent's loop) with this exit code. */
void vusd_devloop_stop(struct vusd *d, int exit_code);

/* ---- control.c ------------------------------------------------------ */

/* Listen on path (mode) for control connections. */
int vusd_control_open(struct vusd *d, const char *path, unsigned mode, struct vusd_err *err);
/* Close every connection and the listener, unlink the socket. */
void vusd_control_close(struct vusd *d);

/* ---- control_cmds.c / control_dev.c --------------------------------- */

/*
 * One request, already parsed: fill reply (a JSON object the caller sends
 * with "ok": true) and return 0, or return -errno with err set. Loop
 * thread. vusd_control_dispatch() picks the handler by "cmd".
 */
typedef int (*vusd_ctl_fn)(struct vusd *d, struct json_object *req, struct json_object *reply,
			   struct vusd_err *err);
int vusd_control_dispatch(struct vusd *d, struct json_object *req, struct json_object *reply,
			  struct vusd_err *err);

int vusd_ctl_info(struct vusd *d, struct json_object *req, struct json_object *reply,
		  struct vusd_err *err);
int vusd_ctl_read(struct vusd *d, struct json_object *req, struct json_object *reply,
		  struct vusd_err *err);
int vusd_ctl_write(struct vusd *d, struct json_object *req, struct json_object *reply,
		   struct vusd_err *err);
int vusd_ctl_config(struct vusd *d, struct json_object *req, struct json_object *reply,
		    struct vusd_err *err);
int vusd_ctl_reset(struct vusd *d, struct json_object *req, struct json_object *reply,
		   struct vusd_err *err);
int vusd_ctl_device(struct vusd *d, struct json_object *req, struct json_object *reply,
		    struct vusd_err *err);
int vusd_ctl_upgrade(struct vusd *d, struct json_object *req, struct json_object *reply,
		     struct vusd_err *err);

/* Request fields (control_cmds.c): -EINVAL with err naming the key. */
int vusd_req_string(struct json_object *req, const char *key, bool required, const char **out,
		    struct vusd_err *err);
int vusd_req_uint(struct json_object *req, const char *key, bool required, uint64_t max,
		  uint64_t *out, struct vusd_err *err);
int vusd_req_bool(struct json_object *req, const char *key, bool *out, struct vusd_err *err);
/* The device named by the request's "name": -ENOENT if none. */
int vusd_req_device(struct vusd *d, struct json_object *req, struct vusd_dev **out,
		    struct vusd_err *err);

#endif /* VUSD_H */
