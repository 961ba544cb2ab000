/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusctl internals:
 *
 *   main.c    global options, the command table, usage, exit codes
 *   args.c    numbers, region names, per-command option parsing
 *   direct.c  commands on a device socket, as its vfio-user client
 *             (info, config, read, write, reset)
 *   irqs.c    irqs [--watch]: eventfds assigned and interrupts printed
 *   migrate.c save, load, migrate: device state through migration v2
 *   migrate_ctl.c migrate by name: the destination made from the
 *             source's spec through the control sockets, then migrate.c
 *   ctl.c     commands through vusd's control socket
 *   print.c   output shared by both paths: the same JSON object from a
 *             device socket or from vusd, printed as text or as JSON
 *
 * One thread. Every command returns an exit code (enum below).
 */
#ifndef VUSCTL_H
#define VUSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct vus_client;
struct vus_irq_info;

/* Exit codes, also in --help. */
enum {
	VUSCTL_OK = 0,
	VUSCTL_FAILED = 1,    /* the device or vusd refused the request */
	VUSCTL_USAGE = 2,
	VUSCTL_NO_SERVER = 3, /* no socket there, or nobody listening */
	VUSCTL_BUSY = 4,      /* the device has a client already */
	VUSCTL_NOT_VUS = 5,   /* the socket does not speak vfio-user / vusd control */
};

struct vusctl {
	const char *control;  /* --control PATH, or NULL */
	bool json;            /* --json */
	int timeout_ms;       /* --timeout */
	bool timeout_set;     /* given: upgrade keeps it, else waits longer */
};

/* ---- args.c --------------------------------------------------------- */

bool vusctl_parse_u64(const char *s, uint64_t *out);
/* "0".."N", "bar0".."bar5", "rom", "config", "vga" (any case). */
bool vusctl_parse_region(const char *s, uint32_t *out);
/* "BAR0", ..., "config", "region9": for output. */
const char *vusctl_region_name(uint32_t index, char *buf, size_t len);
const char *vusctl_irq_name(uint32_t index);

/* Per-command options, in any order with the positional arguments. */
#define VUSCTL_MAX_POS 8
struct vusctl_args {
	int npos;
	char *pos[VUSCTL_MAX_POS];
	uint64_t len;         /* --len N (read) */
	bool len_set;
	uint64_t width;       /* --width N (write) */
	uint64_t count;       /* --count N (irqs --watch) */
	bool force;           /* --force */
	bool watch;           /* --watch */
	bool hex;             /* --hex (write VALUE is bytes in hex) */
	bool header;          /* --header (config: first 64 bytes) */
};
/* Returns -1 to go on, else an exit code (usage errors printed). */
int vusctl_args(int argc, char **argv, const char *cmd, const char *allowed, int min_pos,
		int max_pos, struct vusctl_args *a);
/* Print "vusctl: CMD: ..." and return VUSCTL_USAGE. */
int vusctl_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* VALUE of write as the bytes to write (little-endian --width bytes, or
 * --hex). *buf malloc'ed. */
int vusctl_write_bytes(const struct vusctl_args *a, const char *value, uint8_t **buf,
		       size_t *len);

/* ---- direct.c ------------------------------------------------------- */

/* Connect to a device socket; on failure prints why and returns the exit
 * code (no socket, busy, not vfio-user). */
int vusctl_open(const struct vusctl *v, const char *path, struct vus_client **out);
/* {"index", "count", "flags": [...]} of GET_IRQ_INFO. */
struct json_object *vusctl_irq_json(const struct vus_irq_info *q);
int vusctl_direct_info(const struct vusctl *v, int argc, char **argv);
int vusctl_direct_config(const struct vusctl *v, int argc, char **argv);
int vusctl_direct_read(const struct vusctl *v, int argc, char **argv);
int vusctl_direct_write(const struct vusctl *v, int argc, char **argv);
int vusctl_direct_reset(const struct vusctl *v, int argc, char **argv);

/* ---- migrate.c ------------------------------------------------------ */

int vusctl_save(const struct vusctl *v, int argc, char **argv);
int vusctl_load(const struct vusctl *v, int argc, char **argv);
int vusctl_migrate(const struct vusctl *v, int argc, char **argv);

/* Pre-copy limits of a move (docs/migration.md "vusctl save, load, migrate"). */
struct vusctl_mig_opts {
	unsigned max_rounds;          /* pre-copy rounds at most */
	uint64_t max_precopy_ms;      /* pre-copy time at most; 0: no limit */
	uint64_t target_downtime_ms;  /* stop converging once the estimate is within */
};
#define VUSCTL_MIG_OPTS_DEFAULT { .max_rounds = 16, .max_precopy_ms = 0, \
				  .target_downtime_ms = 0 }
struct vusctl_mig_result {
	bool pre_copy;                /* the source offered PRE_COPY */
	bool source_stopped;          /* the source reached STOP_COPY */
	unsigned rounds;
	uint64_t pre, last, fin;      /* bytes: pre-copy, its last round, stop-copy */
	uint64_t estimated_downtime_ns, downtime_ns, total_ns;
};
/*
 * Move the state of src (a client of the source device) into dst: dst
 * RESUMING, pre-copy rounds (a progress line each on stderr), stop-copy,
 * dst STOP and RUNNING; src is left in STOP. The names are for messages.
 * An exit code (failures printed).
 */
int vusctl_mig_move(const struct vusctl *v, struct vus_client *src, const char *src_name,
		    struct vus_client *dst, const char *dst_name, const struct vusctl_mig_opts *o,
		    struct vusctl_mig_result *r);
/* The final report on stdout (text or JSON). */
void vusctl_mig_report(const struct vusctl *v, const char *src_name, const char *dst_name,
		       const struct vusctl_mig_result *r);

/* ---- migrate_ctl.c -------------------------------------------------- */

/* migrate NAME --to CTL ... through control sockets (argv[0] "migrate"). */
int vusctl_migrate_ctl(const struct vusctl *v, int argc, char **argv);
/* ctl.c's request: send req (consumed) to v->control, *reply without "ok";
 * failures printed, an exit code. */
int vusctl_ctl_call(const struct vusctl *v, struct json_object *req,
		    struct json_object **reply);

/* ---- irqs.c --------------------------------------------------------- */

int vusctl_irqs(const struct vusctl *v, int argc, char **argv);

/* ---- ctl.c ---------------------------------------------------------- */

/* Commands through --control; argv[0] is the command word. */
int vusctl_ctl(const struct vusctl *v, int argc, char **argv);

/* ---- print.c -------------------------------------------------------- */

/* One JSON object, compact, on its own line. */
void vusctl_print_json(struct json_object *o);
/* info: {"pci":..., "regions": [...], "irqs": [...], ...} as text. */
void vusctl_print_info(struct json_object *info);
/* irqs part of info only. */
void vusctl_print_irqs(struct json_object *info);
/* Config space in `lspci -x` format: "00:00.0 label" then hex lines. */
void vusctl_print_config(const char *label, const uint8_t *cfg, size_t len);
/* Data read: a value for 1/2/4/8 bytes, else a hex dump. */
void vusctl_print_data(uint64_t offset, const uint8_t *p, size_t len);
/* {"region", "offset", "len", "data", "value"?} for --json. */
struct json_object *vusctl_data_json(uint32_t region, uint64_t offset, const uint8_t *p,
				     size_t len);
void vusctl_print_list(struct json_object *reply);
void vusctl_print_stats(struct json_object *reply);
void vusctl_print_types(struct json_object *reply);
/* Members of an object as "key: value" lines. */
void vusctl_print_members(struct json_object *o);
/* Hex string (as vusd sends data) -> bytes; -1 if malformed. */
int vusctl_hex_decode(const char *s, uint8_t **out, size_t *len);

#endif /* VUSCTL_H */
