/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd device types and their option schemas.
 *
 * A device type is one `const struct vusd_type` in its own file
 * (server/type_NAME.c) plus one entry in the table in devtypes.c; the top
 * of devtypes.c says how to add one. Options are declared, not parsed, by
 * the type: devspec.c reads them from "TYPE,key=value,..." (vusd --device,
 * vusctl add) and from JSON objects (the config file, the control
 * socket's "add"), checks them against the schema, and hands the type a
 * filled options struct.
 *
 * Every function a type provides runs on vusd's loop thread.
 */
#ifndef VUSD_DEVTYPES_H
#define VUSD_DEVTYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <vus/device.h>

struct json_object;

/* An error message for the user: where, which key, what was expected. */
struct vusd_err {
	char msg[512];
};
void vusd_errf(struct vusd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- option schemas ------------------------------------------------- */

enum vusd_opt_kind {
	VUSD_OPT_STRING, /* char * (malloc'ed; freed by vusd_opts_free) */
	VUSD_OPT_UINT,   /* uint64_t, inside [min, max] */
	VUSD_OPT_BOOL,   /* bool: JSON true/false; key=true|false|yes|no|on|off|1|0 */
	VUSD_OPT_CHOICE, /* int: the value of one of choices[] */
	VUSD_OPT_MODE,   /* unsigned: permission bits, an octal string "0660" */
};

struct vusd_choice {
	const char *name;
	int value;
};

struct vusd_opt {
	const char *key;
	enum vusd_opt_kind kind;
	size_t offset;                     /* of the field in the options struct */
	const char *help;
	bool required;
	uint64_t min, max;                 /* UINT: inclusive range */
	const struct vusd_choice *choices; /* CHOICE: ends with name NULL */
};

/* ---- device types --------------------------------------------------- */

/* A created device: the vus device to serve and the type's own handle. */
struct vusd_inst {
	struct vus_dev *dev;
	void *handle;
};

struct vusd_type {
	const char *name;                  /* "testdev": [a-z0-9_-] */
	const char *help;                  /* one line */
	const struct vusd_opt *opts;       /* ends with key NULL; NULL: none; <= 64 */
	size_t opts_size;                  /* sizeof the options struct */
	const void *opts_default;          /* its defaults; NULL: all zero */
	/*
	 * Create the device, set up but not listening (vusd applies the
	 * common options and listens). name: the instance's name, for logs.
	 * Return 0 or -errno, with err set to say why when it helps.
	 */
	int (*create)(const char *name, const void *opts, struct vusd_inst *out,
		      struct vusd_err *err);
	/* Free what create made (the vus device included). */
	void (*destroy)(struct vusd_inst *inst);
	/*
	 * Optional device-specific control commands: `vusctl --control CTL
	 * TYPE NAME ARG...` arrives here as argv (argc >= 1). Fill result (a
	 * JSON object printed by vusctl) and return 0, or -errno with err set.
	 * control_usage is the one-line synopsis of the arguments.
	 */
	int (*control)(struct vusd_inst *inst, int argc, const char *const *argv,
		       struct json_object *result, struct vusd_err *err);
	const char *control_usage;
	/*
	 * Optional, for a type whose device migrates by itself rather than
	 * through the library's migration (the vfio bridge passes it to the
	 * kernel): its migration state for `info`, a VUS_MIG_STATE_* value,
	 * or -errno when there is none to tell (no migration there, or the
	 * device does not say). NULL: the library's state is the device's.
	 */
	int (*mig_state)(struct vusd_inst *inst);
	/*
	 * System calls the type needs beyond vusd's own list (server/sandbox.c),
	 * by name, ending with NULL; NULL: none. Allowed whenever the type is
	 * registered, since the control socket may add one at any time.
	 */
	const char *const *syscalls;
};

/* The registry (devtypes.c). */
const struct vusd_type *vusd_type_find(const char *name);
size_t vusd_type_count(void);
const struct vusd_type *vusd_type_at(size_t i);
/* "  testdev    edu-like test device ..." for each type, with its keys. */
void vusd_types_print(FILE *f);

/* ---- device specifications (devspec.c) ------------------------------ */

/* Keys every device takes, whatever its type. */
struct vusd_spec {
	char *name;
	char *type_name;
	char *socket;                      /* NULL with an inherited --fd */
	unsigned socket_mode;
	int dma_layout;                    /* enum vus_dma_layout */
	const struct vusd_type *type;
	void *opts;                        /* the type's options struct */
	int fd;                            /* inherited listening socket or -1 */
	int isolation;                     /* enum vusd_isolation */
	struct json_object *budget;        /* this device's budget keys over the
					    * global "budget" (checked), or NULL */
};

/* Where a device runs (docs/security.md "Isolation"). */
enum vusd_isolation {
	VUSD_ISOLATION_SHARED,  /* vusd's own loop, with every other shared device */
	VUSD_ISOLATION_PROCESS, /* a child process of its own, its own loop */
};

/* The common keys' schema (for help texts). */
extern const struct vusd_opt vusd_common_opts[];
/* "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$": names appear in logs and paths. */
bool vusd_name_valid(const char *name);

/*
 * Parse "TYPE[,key=value...]" (vusd --device, vusctl add). where prefixes
 * error messages (e.g. "--device"). socket_mode defaults to mode; name to
 * the type's name. The socket may be left unset (the caller decides).
 */
int vusd_spec_parse_kv(const char *text, unsigned mode, const char *where,
		       struct vusd_spec *out, struct vusd_err *err);
/* The same from a JSON object: { "type": ..., "name": ..., ... }. */
int vusd_spec_parse_json(struct json_object *obj, unsigned mode, const char *where,
			 struct vusd_spec *out, struct vusd_err *err);
void vusd_spec_free(struct vusd_spec *spec);

/*
 * Generic schema parsing (also used for the config file's top level):
 * one key from a JSON value or a string, into the struct at base.
 */
const struct vusd_opt *vusd_opt_find(const struct vusd_opt *opts, const char *key);
int vusd_opt_set_json(const struct vusd_opt *o, void *base, struct json_object *v,
		      const char *where, struct vusd_err *err);
int vusd_opt_set_string(const struct vusd_opt *o, void *base, const char *v, const char *where,
			struct vusd_err *err);
/* Free the STRING fields of the struct at base. */
void vusd_opts_free(const struct vusd_opt *opts, void *base);
/* "a, b, c": the keys of opts (for "unknown key" errors). */
void vusd_opts_keys(const struct vusd_opt *opts, char *buf, size_t len);

#endif /* VUSD_DEVTYPES_H */
