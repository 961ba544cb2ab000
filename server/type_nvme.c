/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device type "nvme": the NVMe controller of samples/nvme-emu
 * (docs/nvme.md). Options:
 *   size=64M        RAM namespace size (K, M, G, T suffixes: powers of 1024),
 *                   or the size a new/short backing file is grown to
 *   file=PATH       back the namespace by a file or block device
 *   lba=512|4096    logical block size
 *   queues=N        I/O queue pairs offered (1..64)
 *   qsize=N         entries per I/O queue (CAP.MQES + 1)
 *   mdts=N          largest transfer 2^N * 4 KiB (1..10)
 *   serial=, model= Identify strings
 *   direct=true     open the file with O_DIRECT (odirect= is the same)
 *   io_uring=false  file I/O with pread/pwrite instead of io_uring
 *   shadow=false    no Doorbell Buffer Config (every doorbell a posted write)
 *   poll=true       a thread polls the queues (a whole host core)
 *   namespaces=N    N RAM namespaces of size bytes each (NSID 1..N)
 *   thp=true        RAM: ask for transparent huge pages (MADV_HUGEPAGE)
 *   holdoff=N       adaptive interrupt holdoff's longest interval, microseconds
 *                   (default 500; 0 off: an interrupt per pass)
 * Control: vusctl --control CTL nvme NAME stats  (per-queue counters, and
 *          the file backend's: io_uring in use, SQEs, CQEs, inline I/O)
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "devtypes.h"
#include "nvme_emu.h"

struct nvme_type_opts {
	char *size;
	char *file;
	uint64_t lba;
	uint64_t queues;
	uint64_t qsize;
	uint64_t mdts;
	char *serial;
	char *model;
	bool odirect;
	bool direct;
	bool io_uring;
	bool shadow;
	bool poll;
	bool thp;
	uint64_t namespaces;
	uint64_t holdoff;
};

static const struct nvme_type_opts nvme_type_defaults = {
	.lba = 512, .queues = 4, .qsize = 1024, .mdts = 8, .shadow = true, .namespaces = 1,
	.io_uring = true, .holdoff = 500,
};

static const struct vusd_opt nvme_type_opts_schema[] = {
	{ .key = "size", .kind = VUSD_OPT_STRING, .offset = offsetof(struct nvme_type_opts, size),
	  .help = "namespace bytes, suffix K/M/G/T (default 64M; with file: grow it to this)" },
	{ .key = "file", .kind = VUSD_OPT_STRING, .offset = offsetof(struct nvme_type_opts, file),
	  .help = "backing file or block device (default: RAM, a memfd)" },
	{ .key = "lba", .kind = VUSD_OPT_UINT, .offset = offsetof(struct nvme_type_opts, lba),
	  .help = "logical block size, 512 (default) or 4096", .min = 512, .max = 4096 },
	{ .key = "queues", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct nvme_type_opts, queues),
	  .help = "I/O queue pairs (default 4)", .min = 1, .max = NVME_EMU_MAX_QUEUES },
	{ .key = "qsize", .kind = VUSD_OPT_UINT, .offset = offsetof(struct nvme_type_opts, qsize),
	  .help = "entries per I/O queue (default 1024)", .min = 2, .max = 65536 },
	{ .key = "mdts", .kind = VUSD_OPT_UINT, .offset = offsetof(struct nvme_type_opts, mdts),
	  .help = "max transfer 2^mdts * 4 KiB (default 8: 1 MiB)", .min = 1, .max = 10 },
	{ .key = "serial", .kind = VUSD_OPT_STRING,
	  .offset = offsetof(struct nvme_type_opts, serial),
	  .help = "serial number, <= 20 characters (default VUS + name)" },
	{ .key = "model", .kind = VUSD_OPT_STRING,
	  .offset = offsetof(struct nvme_type_opts, model),
	  .help = "model number, <= 40 characters (default \"vus nvme-emu\")" },
	{ .key = "direct", .kind = VUSD_OPT_BOOL,
	  .offset = offsetof(struct nvme_type_opts, direct),
	  .help = "open the backing file with O_DIRECT (refused if the file system has none "
		  "or its block is larger than lba; default false)" },
	{ .key = "odirect", .kind = VUSD_OPT_BOOL,
	  .offset = offsetof(struct nvme_type_opts, odirect),
	  .help = "the same as direct" },
	{ .key = "io_uring", .kind = VUSD_OPT_BOOL,
	  .offset = offsetof(struct nvme_type_opts, io_uring),
	  .help = "file I/O through io_uring, asynchronous (default true; false: pread/pwrite)" },
	{ .key = "shadow", .kind = VUSD_OPT_BOOL, .offset = offsetof(struct nvme_type_opts, shadow),
	  .help = "offer shadow doorbells with EventIdx (default true)" },
	{ .key = "namespaces", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct nvme_type_opts, namespaces),
	  .help = "RAM namespaces of size bytes each (default 1; a file gives one)", .min = 1,
	  .max = NVME_EMU_MAX_NS },
	{ .key = "poll", .kind = VUSD_OPT_BOOL, .offset = offsetof(struct nvme_type_opts, poll),
	  .help = "poll the queues from a thread: a core while I/O flows, asleep after "
		  "50 us idle; fewer guest doorbells (default false)" },
	{ .key = "thp", .kind = VUSD_OPT_BOOL, .offset = offsetof(struct nvme_type_opts, thp),
	  .help = "RAM namespace: madvise(MADV_HUGEPAGE), fewer TLB misses on random I/O where "
		  "the kernel's shmem_enabled allows advise (default false)" },
	{ .key = "holdoff", .kind = VUSD_OPT_UINT,
	  .offset = offsetof(struct nvme_type_opts, holdoff),
	  .help = "while the guest has several commands in flight, an I/O queue's "
		  "interrupt waits for its next completion, at most N us (4N from the "
		  "first; never after a read or write over 16 KiB; default 500, 0 off: "
		  "one per pass)", .min = 0, .max = 10000 },
	{ .key = NULL },
};

/* "64M", "1G", "4096": bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	default: return -EINVAL;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int nvme_type_create(const char *name, const void *opts, struct vusd_inst *out,
			    struct vusd_err *err)
{
	const struct nvme_type_opts *t = opts;
	struct nvme_emu_opts o;
	struct nvme_emu *n;
	int rc;

	nvme_emu_opts_default(&o);
	if (t->size && parse_size(t->size, &o.size) < 0) {
		vusd_errf(err, "nvme '%s': size '%s': expected bytes with an optional K/M/G/T suffix",
			  name, t->size);
		return -EINVAL;
	}
	if (t->file && !t->size)
		o.size = 0;
	if (t->lba != 512 && t->lba != 4096) {
		vusd_errf(err, "nvme '%s': lba must be 512 or 4096", name);
		return -EINVAL;
	}
	o.file = t->file;
	o.lba_size = (uint32_t)t->lba;
	o.max_queues = (uint32_t)t->queues;
	o.max_qsize = (uint32_t)t->qsize;
	o.mdts = (uint32_t)t->mdts;
	o.serial = t->serial;
	o.model = t->model;
	o.odirect = t->odirect || t->direct;
	o.sync_io = !t->io_uring;
	o.no_shadow = !t->shadow;
	o.poll = t->poll;
	o.thp = t->thp;
	o.holdoff_us = (uint32_t)t->holdoff;
	o.no_holdoff = t->holdoff == 0;
	o.namespaces = (uint32_t)t->namespaces;
	if (t->file && t->namespaces > 1) {
		vusd_errf(err, "nvme '%s': a file backs one namespace (namespaces=1)", name);
		return -EINVAL;
	}
	rc = nvme_emu_create(name, &o, &n);
	if (rc < 0) {
		vusd_errf(err, "cannot create nvme '%s': %s%s", name, strerror(-rc),
			  rc == -EINVAL ? " (size below one block, serial > 20 or model > 40 "
					  "printable characters, or direct=true on a file system "
					  "without O_DIRECT or with blocks larger than lba?)" : "");
		return rc;
	}
	out->dev = nvme_emu_dev(n);
	out->handle = n;
	return 0;
}

static void nvme_type_destroy(struct vusd_inst *inst)
{
	nvme_emu_free(inst->handle);
}

static int nvme_type_control(struct vusd_inst *inst, int argc, const char *const *argv,
			     struct json_object *result, struct vusd_err *err)
{
	struct nvme_emu_qstats st[NVME_EMU_MAX_QUEUES + 1];
	struct json_object *arr;
	int k, i;

	if (argc != 1 || strcmp(argv[0], "stats") != 0) {
		vusd_errf(err, "unknown nvme command; usage: stats");
		return -EINVAL;
	}
	k = nvme_emu_queue_stats(inst->handle, st, NVME_EMU_MAX_QUEUES + 1);
	if (k < 0) {
		vusd_errf(err, "stats: the controller is busy, try again");
		return k;
	}
	arr = json_object_new_array();
	for (i = 0; i < k; i++) {
		struct json_object *q = json_object_new_object();

		json_object_object_add(q, "sqid", json_object_new_int(st[i].qid));
		json_object_object_add(q, "cqid", json_object_new_int(st[i].cqid));
		json_object_object_add(q, "size", json_object_new_int64(st[i].size));
		json_object_object_add(q, "commands", json_object_new_int64((int64_t)st[i].cmds));
		json_object_object_add(q, "errors", json_object_new_int64((int64_t)st[i].errors));
		json_object_object_add(q, "interrupts", json_object_new_int64((int64_t)st[i].irqs));
		json_object_object_add(q, "holdoffs", json_object_new_int64((int64_t)st[i].holds));
		json_object_array_add(arr, q);
	}
	json_object_object_add(result, "queues", arr);
	{
		struct nvme_emu_io_stats io;
		struct json_object *b = json_object_new_object();

		nvme_emu_io_stats(inst->handle, &io);
		json_object_object_add(b, "io_uring", json_object_new_boolean(io.uring));
		json_object_object_add(b, "submitted", json_object_new_int64((int64_t)io.submitted));
		json_object_object_add(b, "completed", json_object_new_int64((int64_t)io.completed));
		json_object_object_add(b, "inline_reads",
				       json_object_new_int64((int64_t)io.inline_reads));
		json_object_object_add(b, "inline_writes",
				       json_object_new_int64((int64_t)io.inline_writes));
		json_object_object_add(result, "backend", b);
	}
	return 0;
}

/* File backends: io_uring (samples/nvme-emu/nvme_uring.c); a block
 * device's size and block size are ioctls. */
static const char *const nvme_type_syscalls[] = {
	"io_uring_setup", "io_uring_enter", "io_uring_register", "ioctl", NULL,
};

const struct vusd_type vusd_type_nvme = {
	.name = "nvme",
	.help = "NVMe 1.4 controller 1234:7e59, namespaces in RAM or one in a file (docs/nvme.md)",
	.opts = nvme_type_opts_schema,
	.opts_size = sizeof(struct nvme_type_opts),
	.opts_default = &nvme_type_defaults,
	.create = nvme_type_create,
	.destroy = nvme_type_destroy,
	.control = nvme_type_control,
	.control_usage = "stats",
	.syscalls = nvme_type_syscalls,
};
