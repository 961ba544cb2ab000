/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-device budgets (docs/security.md section 2, docs/control.md
 * "budget"): what one client may make vusd hold on its device's behalf.
 * One set of values, from the config file's "budget" object, applies to
 * every device, unless the device's own "budget" object (budget.KEY=N in
 * --device) overrides some keys; each device has its own account. Over budget, that
 * client's request fails with an errno and nothing else changes:
 *
 *   dma_bytes         mapped guest memory (address space)  DMA_MAP: ENOSPC
 *   dma_windows       DMA windows (each may hold an fd)     DMA_MAP: ENOSPC
 *   dirty_log_bytes   dirty-log bitmaps, and so the work of one
 *                     DMA_LOGGING_REPORT                     START/MAP: ENOMEM,
 *                                                            REPORT: E2BIG
 *   output_bytes      replies queued for a client that does not read
 *                                                            the session ends
 *   dma_pending       server->client transfers in flight    EAGAIN to the device
 *
 * And for the process: windows hold no fds (closed once mapped),
 * RLIMIT_NOFILE raised to its hard limit at start, and the library's fd
 * reserve (VUS_FD_RESERVE) on top of it. A device that cannot be made
 * for want of fds is refused with the numbers (vusd_fds_check/explain).
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <json-c/json.h>

#include "vusd.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

const struct vusd_opt vusd_budget_opts[] = {
	{ .key = "dma_bytes", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct vusd_budget, dma_bytes), .min = 4096, .max = 1ull << 47,
	  .help = "most bytes of guest memory one device's client may map (default 512 GiB)" },
	{ .key = "dma_windows", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct vusd_budget, dma_windows), .min = 1, .max = 65535,
	  .help = "most DMA windows (and so fds) of one device's client (default 1024)" },
	{ .key = "dirty_log_bytes", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct vusd_budget, dirty_log_bytes), .min = 4096,
	  .max = 256 * MiB,
	  .help = "most bytes of dirty-log bitmaps of one device (default 17 MiB: 512 GiB "
		  "of guest memory at 4 KiB pages)" },
	{ .key = "output_bytes", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct vusd_budget, output_bytes), .min = 4096, .max = 1ull << 32,
	  .help = "most bytes queued for a client that does not read (default 16 MiB)" },
	{ .key = "dma_pending", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct vusd_budget, dma_pending), .min = 1, .max = 65535,
	  .help = "most server->client DMA transfers in flight per device (default 1024)" },
	{ .key = NULL },
};

void vusd_budget_init(struct vusd_budget *b)
{
	b->dma_bytes = 512 * GiB;
	b->dma_windows = 1024;
	b->dirty_log_bytes = 17 * MiB; /* 512 GiB at 4 KiB pages: 16 MiB of log, 256 KiB of summary */
	b->output_bytes = 16 * MiB;
	b->dma_pending = 1024;
}

int vusd_budget_parse_json(struct json_object *obj, struct vusd_budget *b, const char *where,
			   struct vusd_err *err)
{
	const struct vusd_opt *o;
	char keys[256];
	int rc;

	if (!json_object_is_type(obj, json_type_object)) {
		vusd_errf(err, "%s: expected an object such as {\"dma_bytes\": 1073741824}", where);
		return -EINVAL;
	}
	json_object_object_foreach(obj, key, val) {
		o = vusd_opt_find(vusd_budget_opts, key);
		if (!o) {
			vusd_opts_keys(vusd_budget_opts, keys, sizeof(keys));
			vusd_errf(err, "%s: unknown key \"%s\" (expected %s)", where, key, keys);
			return -EINVAL;
		}
		rc = vusd_opt_set_json(o, b, val, where, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int vusd_budget_effective(const struct vusd_budget *global, const struct vusd_spec *spec,
			  struct vusd_budget *out, struct vusd_err *err)
{
	char where[128];

	*out = *global;
	if (!spec->budget)
		return 0;
	snprintf(where, sizeof(where), "device %s: key \"budget\"", spec->name);
	return vusd_budget_parse_json(spec->budget, out, where, err);
}

int vusd_budget_apply(struct vus_dev *dev, const struct vusd_budget *b)
{
	int rc;

	/* Windows hold no fds: the mapping keeps the client's file alive. */
	rc = vus_dev_set_dma_close_fds(dev, true);
	if (rc == 0)
		rc = vus_dev_set_dma_limits(dev, (uint32_t)b->dma_windows, b->dma_bytes);
	if (rc == 0)
		rc = vus_dev_set_dirty_log_limit(dev, b->dirty_log_bytes);
	if (rc == 0)
		rc = vus_dev_set_output_limit(dev, b->output_bytes);
	if (rc == 0)
		rc = vus_dev_set_dma_request_limits(dev, (uint32_t)b->dma_pending, 30000);
	return rc;
}

static void add_pair(struct json_object *o, const char *key, uint64_t used, uint64_t limit)
{
	struct json_object *p = json_object_new_object();

	if (!p)
		return;
	json_object_object_add(p, "used", json_object_new_uint64(used));
	json_object_object_add(p, "limit", json_object_new_uint64(limit));
	json_object_object_add(o, key, p);
}

struct json_object *vusd_budget_json(const struct vusd_budget *b, const struct vus_dev_stats *st)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	add_pair(o, "dma_bytes", st->cur_mapped_bytes, b->dma_bytes);
	add_pair(o, "dma_windows", st->cur_maps, b->dma_windows);
	add_pair(o, "dirty_log_bytes", st->cur_dirty_bytes, b->dirty_log_bytes);
	json_object_object_add(o, "output_bytes", json_object_new_uint64(b->output_bytes));
	json_object_object_add(o, "dma_pending", json_object_new_uint64(b->dma_pending));
	return o;
}

void vusd_raise_nofile(void)
{
	struct rlimit rl;

	/*
	 * systemd starts services with a soft limit of 1024 and a hard one
	 * of 524288: every client connection and every fd a message carries
	 * costs one, so take what we may.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			vusd_log(VUS_LOG_WARN, "cannot raise the open file limit: %s",
				 strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		vusd_log(VUS_LOG_INFO, "open file limit %llu (about %u devices; each needs about %u "
			 "fds)", (unsigned long long)rl.rlim_cur,
			 rl.rlim_cur == RLIM_INFINITY ? 0u :
			 (unsigned)(rl.rlim_cur / VUSD_FDS_PER_DEVICE), VUSD_FDS_PER_DEVICE);
}

/* fds open in this process now; at the limit (opendir() itself needs
 * one) the limit is the answer. */
static unsigned long long open_fds(unsigned long long limit)
{
	unsigned long long n = 0;
	struct dirent *e;
	DIR *dir = opendir("/proc/self/fd");

	if (!dir)
		return errno == EMFILE ? limit : 0;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n ? n - 1 : 0; /* not the directory's own fd */
}

/* 1 with the numbers when fewer than `need` fds are left below the soft
 * limit, else 0. */
static int fds_short(unsigned need, unsigned long long *open, unsigned long long *limit)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	*limit = rl.rlim_cur;
	*open = open_fds(*limit);
	return *open + need > *limit;
}

static void fds_message(const char *name, unsigned long long open, unsigned long long limit,
			struct vusd_err *err)
{
	vusd_errf(err, "device %s: too many open files: %llu open, limit %llu; each device "
		  "needs about %u (raise the limit: ulimit -n, LimitNOFILE= in the unit)",
		  name, open, limit, VUSD_FDS_PER_DEVICE);
}

int vusd_fds_check(const char *name, struct vusd_err *err)
{
	unsigned long long open, limit;

	if (!fds_short(VUSD_FDS_PER_DEVICE, &open, &limit))
		return 0;
	fds_message(name, open, limit, err);
	return -EMFILE;
}

int vusd_fds_explain(const char *name, int rc, struct vusd_err *err)
{
	unsigned long long open = 0, limit = 0;

	/* A library call that ran out of fds may report it as anything
	 * (ENOMEM from an allocation that needed an fd): look. */
	if (fds_short(VUSD_FDS_PER_DEVICE, &open, &limit) || rc == -EMFILE || rc == -ENFILE) {
		if (!limit) {
			struct rlimit rl;

			if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
				limit = rl.rlim_cur;
			open = open_fds(limit);
		}
		fds_message(name, open, limit, err);
		return -EMFILE;
	}
	return rc;
}
