/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control requests addressed to one device by name: info, read, write,
 * config, reset, and the type's own commands (docs/control.md).
 *
 * While a VMM is attached the device's socket is the VMM's, so these go
 * through vusd and run on its loop thread between the VMM's messages
 * (device.h "introspection"): no data race with the VMM's accesses. They
 * can still surprise the guest driver: looking (info, read, config) is
 * always allowed; changing (write, reset) with a client attached needs
 * "force": true.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "info_json.h"
#include "vusd.h"

/* One local access at most (the hex reply is twice as long). */
#define VUSD_CTL_ACCESS_MAX (1u << 20)
/* Arguments of a device-specific command. */
#define VUSD_CTL_ARGS_MAX 16

static const char hexdig[] = "0123456789abcdef";

static struct json_object *hex_string(const uint8_t *p, size_t len)
{
	struct json_object *o;
	char *s = malloc(2 * len + 1);
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < len; i++) {
		s[2 * i] = hexdig[p[i] >> 4];
		s[2 * i + 1] = hexdig[p[i] & 15];
	}
	s[2 * len] = '\0';
	o = json_object_new_string_len(s, (int)(2 * len));
	free(s);
	return o;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "0a1b..." -> bytes; *out malloc'ed. */
static int hex_decode(const char *s, size_t slen, uint8_t **out, size_t *len,
		      struct vusd_err *err)
{
	uint8_t *b;
	size_t i;

	if (slen == 0 || slen % 2 || slen / 2 > VUSD_CTL_ACCESS_MAX) {
		vusd_errf(err, "request: key \"data\": expected 1 to %u bytes as an even number "
			  "of hex digits", VUSD_CTL_ACCESS_MAX);
		return -EINVAL;
	}
	b = malloc(slen / 2);
	if (!b)
		return -ENOMEM;
	for (i = 0; i < slen / 2; i++) {
		int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(b);
			vusd_errf(err, "request: key \"data\": expected hex digits, got '%c%c'",
				  s[2 * i], s[2 * i + 1]);
			return -EINVAL;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	*len = slen / 2;
	return 0;
}

static int access_failed(struct vusd_dev *vd, int rc, uint32_t region, uint64_t offset,
			 uint64_t len, bool is_write, struct vusd_err *err)
{
	vusd_errf(err, "%s of %llu bytes at region %u offset 0x%llx of \"%s\" failed: %s%s",
		  is_write ? "write" : "read", (unsigned long long)len, region,
		  (unsigned long long)offset, vd->spec.name, strerror(-rc),
		  rc == -EINVAL ? " (no such region, out of bounds, or a size or alignment the "
				  "device does not take)" : "");
	return rc;
}

/* Region and offset of a read or write request. */
static int req_where(struct vusd_dev *vd, struct json_object *req, uint32_t *region,
		     uint64_t *offset, struct vusd_err *err)
{
	uint64_t r;
	int rc;

	rc = vusd_req_uint(req, "region", true, vus_dev_num_regions(vd->inst.dev) - 1, &r, err);
	if (rc < 0)
		return rc;
	*region = (uint32_t)r;
	return vusd_req_uint(req, "offset", true, UINT64_MAX, offset, err);
}

static int refuse_attached(struct vusd_dev *vd, const char *what, bool force,
			   struct vusd_err *err)
{
	if (!force && vus_dev_client_attached(vd->inst.dev)) {
		vusd_errf(err, "device \"%s\" has a client attached (a VMM?); a %s behind its "
			  "back can confuse the guest's driver: repeat with \"force\": true "
			  "(vusctl --force)", vd->spec.name, what);
		return -EBUSY;
	}
	return 0;
}

/*
 * A read served by the device's read callback may change its state (a
 * gpio read enables interrupts, a FIFO pops, a hole counts its hits):
 * with a client attached that needs force, like a write. Config space
 * (the library's) and regions without callbacks (read from their fd)
 * are pure reads (docs/control.md "read").
 */
static int refuse_side_effects(struct vusd_dev *vd, uint32_t region, bool force,
			       struct vusd_err *err)
{
	struct vus_dev_region_desc rd;

	if (force || !vus_dev_client_attached(vd->inst.dev) || region == VUS_PCI_CONFIG_REGION)
		return 0;
	if (vus_dev_region_desc(vd->inst.dev, region, &rd) == 0 && !rd.callbacks)
		return 0;
	vusd_errf(err, "device \"%s\" has a client attached (a VMM?) and region %u is served "
		  "by the device's read callback, which may have side effects: repeat with "
		  "\"force\": true (vusctl --force)", vd->spec.name, region);
	return -EBUSY;
}

int vusd_ctl_read(struct vusd *d, struct json_object *req, struct json_object *reply,
		  struct vusd_err *err)
{
	struct vusd_dev *vd;
	uint64_t offset, len = 4;
	uint32_t region;
	uint8_t *buf;
	bool force;
	int rc;

	if ((rc = vusd_req_device(d, req, &vd, err)) < 0 ||
	    (rc = req_where(vd, req, &region, &offset, err)) < 0 ||
	    (rc = vusd_req_uint(req, "len", false, VUSD_CTL_ACCESS_MAX, &len, err)) < 0 ||
	    (rc = vusd_req_bool(req, "force", &force, err)) < 0 ||
	    (rc = refuse_side_effects(vd, region, force, err)) < 0)
		return rc;
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	rc = vus_dev_access_region(vd->inst.dev, region, offset, buf, (uint32_t)len, false);
	if (rc < 0)
		rc = access_failed(vd, rc, region, offset, len, false, err);
	else
		json_object_object_add(reply, "data", hex_string(buf, len));
	free(buf);
	return rc;
}

int vusd_ctl_write(struct vusd *d, struct json_object *req, struct json_object *reply,
		   struct vusd_err *err)
{
	struct vusd_dev *vd;
	const char *hex;
	uint64_t offset;
	uint32_t region;
	uint8_t *buf;
	size_t len;
	bool force;
	int rc;

	if ((rc = vusd_req_device(d, req, &vd, err)) < 0 ||
	    (rc = req_where(vd, req, &region, &offset, err)) < 0 ||
	    (rc = vusd_req_string(req, "data", true, &hex, err)) < 0 ||
	    (rc = vusd_req_bool(req, "force", &force, err)) < 0 ||
	    (rc = refuse_attached(vd, "write", force, err)) < 0 ||
	    (rc = hex_decode(hex, strlen(hex), &buf, &len, err)) < 0)
		return rc;
	rc = vus_dev_access_region(vd->inst.dev, region, offset, buf, (uint32_t)len, true);
	if (rc < 0)
		rc = access_failed(vd, rc, region, offset, len, true, err);
	else
		json_object_object_add(reply, "written", json_object_new_uint64(len));
	free(buf);
	return rc;
}

int vusd_ctl_config(struct vusd *d, struct json_object *req, struct json_object *reply,
		    struct vusd_err *err)
{
	struct vus_dev_region_desc rd;
	uint8_t buf[4096];
	struct vusd_dev *vd;
	int rc;

	if ((rc = vusd_req_device(d, req, &vd, err)) < 0)
		return rc;
	rc = vus_dev_region_desc(vd->inst.dev, VUS_PCI_CONFIG_REGION, &rd);
	if (rc == 0 && rd.size > sizeof(buf))
		rc = -EOVERFLOW;
	if (rc == 0)
		rc = vus_dev_access_region(vd->inst.dev, VUS_PCI_CONFIG_REGION, 0, buf,
					   (uint32_t)rd.size, false);
	if (rc < 0) {
		vusd_errf(err, "reading the config space of \"%s\": %s", vd->spec.name,
			  strerror(-rc));
		return rc;
	}
	json_object_object_add(reply, "size", json_object_new_uint64(rd.size));
	json_object_object_add(reply, "data", hex_string(buf, rd.size));
	return 0;
}

int vusd_ctl_reset(struct vusd *d, struct json_object *req, struct json_object *reply,
		   struct vusd_err *err)
{
	struct vusd_dev *vd;
	bool force;
	int rc;

	if ((rc = vusd_req_device(d, req, &vd, err)) < 0 ||
	    (rc = vusd_req_bool(req, "force", &force, err)) < 0 ||
	    (rc = refuse_attached(vd, "reset", force, err)) < 0)
		return rc;
	rc = vus_dev_reset(vd->inst.dev);
	if (rc == -EINVAL)
		vusd_errf(err, "device \"%s\" cannot be reset (no reset callback)", vd->spec.name);
	else if (rc < 0)
		vusd_errf(err, "resetting \"%s\": %s", vd->spec.name, strerror(-rc));
	return rc;
}

/* ---- info ----------------------------------------------------------- */

/* config space -> "pci" (info_json.c). */
static struct json_object *pci_json(struct vus_dev *dev)
{
	uint8_t h[INFO_PCI_HDR_LEN];

	if (vus_dev_access_region(dev, VUS_PCI_CONFIG_REGION, 0, h, sizeof(h), false) < 0)
		return NULL;
	return info_pci_json(h);
}

/* A region as the device set it up (not as a client would be told). */
static struct json_object *region_json(uint32_t index, const struct vus_dev_region_desc *d)
{
	struct info_region r = {
		.index = index,
		.size = d->size,
		.read = d->flags & VUS_REGION_READ,
		.write = d->flags & VUS_REGION_WRITE,
		.mmap = d->mmap,
		.fd_backed = d->fd_backed,
		.callbacks = d->callbacks,
		.prefetchable = d->flags & VUS_REGION_BAR_PREFETCH,
		.has_areas = d->mmap,
		.nr_areas = d->nr_areas,
		.areas = d->areas,
		.has_type = d->has_type,
		.type = d->type,
		.subtype = d->subtype,
	};

	if (d->flags & VUS_REGION_BAR_IO)
		r.bar = "io";
	else if (index <= VUS_PCI_BAR5_REGION)
		r.bar = d->flags & VUS_REGION_BAR_MEM64 ? "mem64" : "mem32";
	return info_region_json(&r);
}

/* info_irq_json() plus what only the server knows. */
static struct json_object *irq_json(uint32_t index, const struct vus_dev_irq_desc *q)
{
	struct json_object *o = info_irq_json(index, q->count, q->flags);

	if (!o)
		return NULL;
	json_object_object_add(o, "assigned", json_object_new_int64(q->assigned));
	json_object_object_add(o, "masked", json_object_new_int64(q->masked));
	json_object_object_add(o, "pending", json_object_new_int64(q->pending));
	if (q->passthrough)
		json_object_object_add(o, "passthrough", json_object_new_boolean(1));
	return o;
}

static const char *const mig_states[VUS_MIG_STATE_NR] = {
	[VUS_MIG_STATE_ERROR] = "error",
	[VUS_MIG_STATE_STOP] = "stop",
	[VUS_MIG_STATE_RUNNING] = "running",
	[VUS_MIG_STATE_STOP_COPY] = "stop-copy",
	[VUS_MIG_STATE_RESUMING] = "resuming",
	[VUS_MIG_STATE_RUNNING_P2P] = "running-p2p",
	[VUS_MIG_STATE_PRE_COPY] = "pre-copy",
	[VUS_MIG_STATE_PRE_COPY_P2P] = "pre-copy-p2p",
};

int vusd_ctl_info(struct vusd *d, struct json_object *req, struct json_object *reply,
		  struct vusd_err *err)
{
	struct json_object *regions, *irqs;
	struct vus_dev_region_desc rd;
	struct vus_dev_irq_desc qd;
	struct vusd_dev *vd;
	enum vus_mig_state ms;
	uint32_t i;
	int rc;

	if ((rc = vusd_req_device(d, req, &vd, err)) < 0)
		return rc;
	json_object_object_add(reply, "name", json_object_new_string(vd->spec.name));
	json_object_object_add(reply, "type", json_object_new_string(vd->spec.type->name));
	json_object_object_add(reply, "spec", vusd_spec_json(&vd->spec));
	if (vd->spec.socket)
		json_object_object_add(reply, "socket", json_object_new_string(vd->spec.socket));
	json_object_object_add(reply, "attached",
			       json_object_new_boolean(vus_dev_client_attached(vd->inst.dev)));
	json_object_object_add(reply, "pci", pci_json(vd->inst.dev));
	regions = json_object_new_array();
	for (i = 0; regions && i < vus_dev_num_regions(vd->inst.dev); i++)
		if (vus_dev_region_desc(vd->inst.dev, i, &rd) == 0 && rd.size)
			json_object_array_add(regions, region_json(i, &rd));
	json_object_object_add(reply, "regions", regions);
	irqs = json_object_new_array();
	for (i = 0; irqs && i < VUS_PCI_NUM_IRQS; i++)
		if (vus_dev_irq_desc(vd->inst.dev, i, &qd) == 0 && qd.count)
			json_object_array_add(irqs, irq_json(i, &qd));
	json_object_object_add(reply, "irqs", irqs);
	if (vd->spec.type->mig_state) {
		/* Passed through (the vfio bridge: the kernel's); the library's
		 * state would be a constant "running" here. */
		rc = vd->spec.type->mig_state(&vd->inst);
		json_object_object_add(reply, "migration", json_object_new_string(
			rc >= 0 && rc < VUS_MIG_STATE_NR ? mig_states[rc] : "passthrough"));
		json_object_object_add(reply, "migration_passthrough", json_object_new_boolean(1));
		return 0;
	}
	ms = vus_dev_mig_state(vd->inst.dev);
	json_object_object_add(reply, "migration", json_object_new_string(
		(unsigned)ms < VUS_MIG_STATE_NR ? mig_states[ms] : "?"));
	return 0;
}

/* ---- device-specific commands --------------------------------------- */

int vusd_ctl_device(struct vusd *d, struct json_object *req, struct json_object *reply,
		    struct vusd_err *err)
{
	const char *argv[VUSD_CTL_ARGS_MAX], *type = NULL;
	struct json_object *args, *result;
	const struct vusd_type *t;
	struct vusd_dev *vd;
	size_t i, argc;
	int rc;

	if ((rc = vusd_req_device(d, req, &vd, err)) < 0 ||
	    (rc = vusd_req_string(req, "type", false, &type, err)) < 0)
		return rc;
	t = vd->spec.type;
	if (type && strcmp(type, t->name) != 0) {
		vusd_errf(err, "device \"%s\" is a %s, not a %s", vd->spec.name, t->name, type);
		return -EINVAL;
	}
	if (!t->control) {
		vusd_errf(err, "device type %s has no device commands", t->name);
		return -ENOTSUP;
	}
	if (!json_object_object_get_ex(req, "args", &args) ||
	    !json_object_is_type(args, json_type_array) ||
	    (argc = json_object_array_length(args)) == 0 || argc > VUSD_CTL_ARGS_MAX) {
		vusd_errf(err, "request: key \"args\": expected 1 to %d strings: %s",
			  VUSD_CTL_ARGS_MAX, t->control_usage ? t->control_usage : "");
		return -EINVAL;
	}
	for (i = 0; i < argc; i++) {
		struct json_object *a = json_object_array_get_idx(args, i);

		if (!json_object_is_type(a, json_type_string)) {
			vusd_errf(err, "request: key \"args\": expected strings: %s",
				  t->control_usage ? t->control_usage : "");
			return -EINVAL;
		}
		argv[i] = json_object_get_string(a);
	}
	result = json_object_new_object();
	if (!result)
		return -ENOMEM;
	err->msg[0] = '\0';
	rc = t->control(&vd->inst, (int)argc, argv, result, err);
	if (rc < 0) {
		json_object_put(result);
		if (!err->msg[0])
			vusd_errf(err, "%s %s: %s", t->name, argv[0], strerror(-rc));
		return rc;
	}
	json_object_object_add(reply, "result", result);
	return 0;
}
