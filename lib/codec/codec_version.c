/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VERSION (1): major/minor plus an optional NUL-terminated JSON object of
 * capabilities (docs/protocol.md 3.1).
 *
 * Decoding rules (docs/protocol.md states them too):
 *  - payload of exactly 4 bytes: no JSON, spec defaults.
 *  - otherwise the JSON text runs from payload byte 4 to the *first* NUL.
 *    No NUL inside the payload: -EINVAL. Bytes after the first NUL are
 *    ignored (the message length already told us where the stream goes
 *    on). This is what libvfio-user does (it parses the payload as a C
 *    string); QEMU puts the NUL as the very last byte, which fits.
 *  - the text must be one strict JSON value (no trailing garbage, no
 *    trailing commas) and an object; "capabilities", when present, an
 *    object. Known keys must have the right JSON type and range; numbers
 *    must be JSON integers (not strings, not 4096.0), non-negative.
 *    Unknown keys are ignored (QEMU, too, only warns about them).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include <json-c/json.h>

#include <vus/codec.h>

#include "codec_priv.h"

/*
 * Most fds per message a peer may claim to receive: libvfio-user's
 * VFIO_USER_CLIENT_MAX_MSG_FDS_LIMIT (docs/protocol.md 3.1, 8). An fd_index
 * must name one of them.
 */
#define MAX_MSG_FDS_LIMIT 1024u

void vus_caps_defaults(struct vus_caps *caps)
{
	*caps = (struct vus_caps){
		.present = 0,
		.max_msg_fds = VUS_DEFAULT_MAX_MSG_FDS,
		.max_data_xfer_size = VUS_DEFAULT_MAX_DATA_XFER,
		.max_dma_maps = VUS_DEFAULT_MAX_DMA_MAPS,
		.pgsizes = VUS_DEFAULT_PGSIZES,
		.twin_socket = false,
		.twin_fd_index = -1,
		.write_multiple = false,
		.mig_pgsize = 0,
		.mig_max_bitmap_size = 0,
	};
}

/* ---- decode --------------------------------------------------------- */

/*
 * obj[key] as an integer in [min, max]. *found tells whether the key was
 * there at all. json-c keeps integers above INT64_MAX as uint64 (and
 * saturates past UINT64_MAX, which every range below except "any u64"
 * rejects); a negative one reads back < 0 through get_int64.
 */
static int member_uint(struct json_object *obj, const char *key, uint64_t min, uint64_t max,
		       uint64_t *val, bool *found)
{
	struct json_object *o;
	uint64_t v;

	*found = json_object_object_get_ex(obj, key, &o);
	if (!*found)
		return 0;
	if (!json_object_is_type(o, json_type_int) || json_object_get_int64(o) < 0)
		return -EINVAL;
	v = json_object_get_uint64(o);
	if (v < min || v > max)
		return -EINVAL;
	*val = v;
	return 0;
}

static int member_bool(struct json_object *obj, const char *key, bool *val, bool *found)
{
	struct json_object *o;

	*found = json_object_object_get_ex(obj, key, &o);
	if (!*found)
		return 0;
	if (!json_object_is_type(o, json_type_boolean))
		return -EINVAL;
	*val = json_object_get_boolean(o);
	return 0;
}

/* obj[key] must be an object when present; *sub is NULL when absent. */
static int member_object(struct json_object *obj, const char *key, struct json_object **sub)
{
	*sub = NULL;
	if (!json_object_object_get_ex(obj, key, sub))
		return 0;
	return json_object_is_type(*sub, json_type_object) ? 0 : -EINVAL;
}

/* twin_socket {supported: bool, fd_index: int}; fd_index only in replies. */
static int parse_twin_socket(struct json_object *ts, struct vus_caps *c)
{
	uint64_t idx;
	bool found;
	int rc;

	rc = member_bool(ts, "supported", &c->twin_socket, &found);
	if (rc)
		return rc;
	rc = member_uint(ts, "fd_index", 0, MAX_MSG_FDS_LIMIT - 1, &idx, &found);
	if (rc)
		return rc;
	if (found)
		c->twin_fd_index = (int32_t)idx;
	c->present |= VUS_CAP_TWIN_SOCKET;
	return 0;
}

/*
 * migration {pgsize, max_bitmap_size}: dropped from the spec, still sent
 * by QEMU. 0 stands for "absent" in struct vus_caps, so 0 is refused.
 */
static int parse_migration(struct json_object *mig, struct vus_caps *c)
{
	bool found;
	int rc;

	rc = member_uint(mig, "pgsize", 1, UINT64_MAX, &c->mig_pgsize, &found);
	if (rc)
		return rc;
	rc = member_uint(mig, "max_bitmap_size", 1, UINT64_MAX, &c->mig_max_bitmap_size, &found);
	if (rc)
		return rc;
	c->present |= VUS_CAP_MIGRATION;
	return 0;
}

/* Top-level integer capabilities: key, presence bit, accepted range. */
struct uint_cap {
	const char *key;
	uint32_t bit;
	uint64_t min, max;
};

static const struct uint_cap uint_caps[] = {
	{ "max_msg_fds", VUS_CAP_MAX_MSG_FDS, 0, MAX_MSG_FDS_LIMIT },
	/* 0 bytes per transfer or 0 DMA windows would make the peer unusable. */
	{ "max_data_xfer_size", VUS_CAP_MAX_XFER, 1, UINT32_MAX },
	{ "max_dma_maps", VUS_CAP_MAX_DMA_MAPS, 1, UINT32_MAX },
	/* A bitmap of page sizes; an empty one allows no DMA_MAP at all. */
	{ "pgsizes", VUS_CAP_PGSIZES, 1, UINT64_MAX },
};

static void store_uint_cap(struct vus_caps *c, uint32_t bit, uint64_t v)
{
	switch (bit) {
	case VUS_CAP_MAX_MSG_FDS:
		c->max_msg_fds = (uint32_t)v;
		break;
	case VUS_CAP_MAX_XFER:
		c->max_data_xfer_size = (uint32_t)v;
		break;
	case VUS_CAP_MAX_DMA_MAPS:
		c->max_dma_maps = (uint32_t)v;
		break;
	default:
		c->pgsizes = v;
		break;
	}
	c->present |= bit;
}

static int parse_caps(struct json_object *caps, struct vus_caps *c)
{
	struct json_object *sub;
	uint64_t v;
	bool found, wm;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(uint_caps) / sizeof(uint_caps[0]); i++) {
		rc = member_uint(caps, uint_caps[i].key, uint_caps[i].min, uint_caps[i].max,
				 &v, &found);
		if (rc)
			return rc;
		if (found)
			store_uint_cap(c, uint_caps[i].bit, v);
	}

	/* QEMU insists on a JSON boolean here (docs/protocol.md 8.1
	 * "QEMU's VERSION"). */
	rc = member_bool(caps, "write_multiple", &wm, &found);
	if (rc)
		return rc;
	if (found) {
		c->write_multiple = wm;
		c->present |= VUS_CAP_WRITE_MULTIPLE;
	}

	rc = member_object(caps, "twin_socket", &sub);
	if (rc)
		return rc;
	if (sub) {
		rc = parse_twin_socket(sub, c);
		if (rc)
			return rc;
	}

	rc = member_object(caps, "migration", &sub);
	if (rc)
		return rc;
	return sub ? parse_migration(sub, c) : 0;
}

static int parse_json(const char *text, size_t len, struct vus_caps *c)
{
	struct json_tokener *tok;
	struct json_object *root, *caps;
	const char *nul;
	size_t n;
	int rc;

	nul = memchr(text, '\0', len);
	if (!nul)
		return -EINVAL;
	n = (size_t)(nul - text);
	/* json-c takes an int length; the NUL is passed too, as end of input. */
	if (n >= INT_MAX)
		return -EINVAL;

	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	/* Strict: a second value or garbage after the object is an error. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, text, (int)n + 1);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object)) {
		rc = -EINVAL;
		goto out;
	}
	rc = member_object(root, "capabilities", &caps);
	if (rc == 0 && caps)
		rc = parse_caps(caps, c);
out:
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

int vus_version_decode(const struct vus_msg_view *m, struct vus_version_msg *out)
{
	int rc;

	/* libvfio-user refuses a VERSION carrying fds as well (docs/protocol.md 3.1). */
	if (m->nfds != 0 || m->len < sizeof(struct vus_version))
		return -EINVAL;
	out->major = get_u16(m->payload + offsetof(struct vus_version, major));
	out->minor = get_u16(m->payload + offsetof(struct vus_version, minor));
	out->has_json = false;
	vus_caps_defaults(&out->caps);
	if (m->len == sizeof(struct vus_version))
		return 0;

	rc = parse_json((const char *)m->payload + sizeof(struct vus_version),
			m->len - sizeof(struct vus_version), &out->caps);
	if (rc)
		return rc;
	out->has_json = true;
	return 0;
}

/* ---- encode --------------------------------------------------------- */

struct text {
	char *p;
	size_t cap;
	size_t len;
	bool full;
};

static void __attribute__((format(printf, 2, 3))) emit(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	/* ">=": the terminating NUL must fit as well. */
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->full = true;
		return;
	}
	t->len += (size_t)n;
}

static void emit_twin_socket(struct text *t, const struct vus_caps *c)
{
	emit(t, "\"twin_socket\":{\"supported\":%s", c->twin_socket ? "true" : "false");
	if (c->twin_fd_index >= 0)
		emit(t, ",\"fd_index\":%" PRId32, c->twin_fd_index);
	emit(t, "}");
}

static void emit_migration(struct text *t, const struct vus_caps *c)
{
	const char *sep = "";

	emit(t, "\"migration\":{");
	if (c->mig_pgsize) {
		emit(t, "\"pgsize\":%" PRIu64, c->mig_pgsize);
		sep = ",";
	}
	if (c->mig_max_bitmap_size)
		emit(t, "%s\"max_bitmap_size\":%" PRIu64, sep, c->mig_max_bitmap_size);
	emit(t, "}");
}

/*
 * Compact JSON, keys in a fixed order, only those in caps.present. JSON is
 * written when has_json is set or any capability is present; otherwise
 * the payload is the bare 4 bytes. The NUL is counted in the length.
 */
ssize_t vus_version_encode(uint8_t *buf, size_t cap, const struct vus_version_msg *v)
{
	const struct vus_caps *c = &v->caps;
	struct text t;
	const char *sep = "";

	if (cap < sizeof(struct vus_version))
		return -ENOSPC;
	put_u16(buf + offsetof(struct vus_version, major), v->major);
	put_u16(buf + offsetof(struct vus_version, minor), v->minor);
	if (!v->has_json && c->present == 0)
		return (ssize_t)sizeof(struct vus_version);

	t = (struct text){ .p = (char *)buf + sizeof(struct vus_version),
			   .cap = cap - sizeof(struct vus_version) };
	emit(&t, "{\"capabilities\":{");
	if (c->present & VUS_CAP_MAX_MSG_FDS) {
		emit(&t, "%s\"max_msg_fds\":%" PRIu32, sep, c->max_msg_fds);
		sep = ",";
	}
	if (c->present & VUS_CAP_MAX_XFER) {
		emit(&t, "%s\"max_data_xfer_size\":%" PRIu32, sep, c->max_data_xfer_size);
		sep = ",";
	}
	if (c->present & VUS_CAP_MAX_DMA_MAPS) {
		emit(&t, "%s\"max_dma_maps\":%" PRIu32, sep, c->max_dma_maps);
		sep = ",";
	}
	if (c->present & VUS_CAP_PGSIZES) {
		emit(&t, "%s\"pgsizes\":%" PRIu64, sep, c->pgsizes);
		sep = ",";
	}
	if (c->present & VUS_CAP_TWIN_SOCKET) {
		emit(&t, "%s", sep);
		emit_twin_socket(&t, c);
		sep = ",";
	}
	if (c->present & VUS_CAP_WRITE_MULTIPLE) {
		emit(&t, "%s\"write_multiple\":%s", sep, c->write_multiple ? "true" : "false");
		sep = ",";
	}
	if (c->present & VUS_CAP_MIGRATION) {
		emit(&t, "%s", sep);
		emit_migration(&t, c);
	}
	emit(&t, "}}");
	if (t.full)
		return -ENOSPC;
	return (ssize_t)(sizeof(struct vus_version) + t.len + 1);
}

/*
 * QEMU 10.x sends minor 0 and the "migration" object the spec dropped in
 * 2023, and never offers twin_socket (docs/protocol.md 4.2, 8.1); a spec
 * client that sends "migration" still differs by minor or twin_socket.
 */
bool vus_version_looks_like_qemu(const struct vus_version_msg *v)
{
	return v->minor == 0 && (v->caps.present & VUS_CAP_MIGRATION) &&
	       !(v->caps.present & VUS_CAP_TWIN_SOCKET);
}
