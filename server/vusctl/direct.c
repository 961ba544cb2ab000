/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Commands on a device's own socket: vusctl is then the device's one
 * vfio-user client (client.h), so this works with any vfio-user server,
 * vusd or not -- but only while no VMM is attached (a vus server serves
 * one client at a time and closes a second connection at once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <vus/client.h>

#include "../info_json.h"
#include "vusctl.h"

int vusctl_open(const struct vusctl *v, const char *path, struct vus_client **out)
{
	struct vus_client_opts opts = { .timeout_ms = v->timeout_ms };
	struct stat st;
	int rc;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "vusctl: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT ? " (is the device server running?)" : "");
		return VUSCTL_NO_SERVER;
	}
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "vusctl: %s is not a socket\n", path);
		return VUSCTL_NOT_VUS;
	}
	rc = vus_client_connect(path, &opts, out);
	switch (rc) {
	case 0:
		return VUSCTL_OK;
	case -ECONNREFUSED:
		fprintf(stderr, "vusctl: %s: nobody is listening there (a stale socket file "
			"of a server that exited?)\n", path);
		return VUSCTL_NO_SERVER;
	case -EACCES:
	case -EPERM:
		fprintf(stderr, "vusctl: %s: %s (the socket file's permissions are "
			"vfio-user's access control)\n", path, strerror(-rc));
		return VUSCTL_NO_SERVER;
	case -ECONNRESET:
	case -EPIPE:
		/* docs/protocol.md 1.1: a vus server accepts a second
		 * connection and closes it at once. */
		fprintf(stderr, "vusctl: %s: busy: the server closed the connection before "
			"answering VERSION; another client (a VMM?) is attached and a vfio-user "
			"device serves one client at a time. For a device vusd serves, go "
			"through vusd instead: vusctl --control CTL ... NAME\n", path);
		return VUSCTL_BUSY;
	case -ETIMEDOUT:
		fprintf(stderr, "vusctl: %s: no VERSION reply within %d ms: not a vfio-user "
			"server?\n", path, v->timeout_ms);
		return VUSCTL_NOT_VUS;
	default:
		fprintf(stderr, "vusctl: %s: not a vfio-user server (VERSION: %s)\n", path,
			strerror(-rc));
		return VUSCTL_NOT_VUS;
	}
}

/* Report a failed request on an open connection. */
static int failed(const char *path, const char *what, int rc)
{
	fprintf(stderr, "vusctl: %s: %s: %s\n", path, what, strerror(-rc));
	return VUSCTL_FAILED;
}

/*
 * A refused REGION_READ/WRITE, explained as fully as vusd's control socket
 * does (docs/control.md): the server's errno says only EINVAL, so ask the
 * device (the connection is still open) whether the region exists and
 * how big it is, and say which of the reasons applies.
 */
static int access_failed(struct vus_client *c, const char *path, bool is_write,
			 uint32_t region, uint64_t offset, uint64_t len, int rc)
{
	struct vus_client_region r;
	char why[160] = "";

	if (rc == -EINVAL) {
		if (vus_client_region_info(c, region, &r) < 0 || r.info.size == 0) {
			snprintf(why, sizeof(why), " (the device has no region %u)", region);
		} else {
			if (r.fd >= 0)
				close(r.fd);
			if (offset >= r.info.size || len > r.info.size - offset)
				snprintf(why, sizeof(why), " (out of bounds: region %u is 0x%llx "
					 "bytes)", region, (unsigned long long)r.info.size);
			else if (!(r.info.flags & (is_write ? VUS_REGION_INFO_FLAG_WRITE
							    : VUS_REGION_INFO_FLAG_READ)))
				snprintf(why, sizeof(why), " (region %u is not %s)", region,
					 is_write ? "writable" : "readable");
			else
				snprintf(why, sizeof(why), " (within region %u's 0x%llx bytes: "
					 "the device does not take this size or alignment)",
					 region, (unsigned long long)r.info.size);
		}
	}
	fprintf(stderr, "vusctl: %s: %s of %llu bytes at region %u offset 0x%llx failed: "
		"%s%s\n", path, is_write ? "REGION_WRITE" : "REGION_READ",
		(unsigned long long)len, region, (unsigned long long)offset, strerror(-rc), why);
	return VUSCTL_FAILED;
}

/* ---- info ----------------------------------------------------------- */

/* A region as a client is told of it; BAR kinds from config space. */
static struct json_object *region_json(const struct vus_client_region *cr, const uint8_t *h)
{
	struct info_region r = {
		.index = cr->info.index,
		.size = cr->info.size,
		.read = cr->info.flags & VUS_REGION_INFO_FLAG_READ,
		.write = cr->info.flags & VUS_REGION_INFO_FLAG_WRITE,
		.mmap = cr->info.flags & VUS_REGION_INFO_FLAG_MMAP,
		/* A client sees an fd only with MMAP (spec GET_REGION_INFO). */
		.fd_backed = cr->fd >= 0,
		.callbacks = -1,
		.has_areas = cr->caps.sparse,
		.nr_areas = cr->caps.nr_areas,
		.areas = cr->caps.areas,
		.has_type = cr->caps.has_type,
		.type = cr->caps.type,
		.subtype = cr->caps.subtype,
	};

	if (h && r.index <= VUS_PCI_BAR5_REGION)
		info_bar_from_hdr(h, r.index, &r);
	return info_region_json(&r);
}

struct json_object *vusctl_irq_json(const struct vus_irq_info *q)
{
	return info_irq_json(q->index, q->count, q->flags);
}

/* The info object (docs/control.md "info") from the device itself. */
static int describe(struct vus_client *c, const char *path, struct json_object **out)
{
	struct json_object *info, *regions, *irqs;
	struct vus_client_region *r;
	struct vus_device_info di;
	struct vus_irq_info qi;
	uint8_t h[INFO_PCI_HDR_LEN];
	bool have_cfg;
	uint32_t i;
	int rc;

	rc = vus_client_device_info(c, &di);
	if (rc < 0)
		return failed(path, "DEVICE_GET_INFO", rc);
	r = malloc(sizeof(*r));
	info = json_object_new_object();
	regions = json_object_new_array();
	irqs = json_object_new_array();
	if (!r || !info || !regions || !irqs) {
		rc = failed(path, "describe", -ENOMEM);
		goto out;
	}
	json_object_object_add(info, "socket", json_object_new_string(path));
	have_cfg = vus_client_region_read(c, VUS_PCI_CONFIG_REGION, 0, h, sizeof(h)) == 0;
	if (have_cfg)
		json_object_object_add(info, "pci", info_pci_json(h));
	json_object_object_add(info, "reset",
			       json_object_new_boolean(di.flags & VUS_DEVICE_FLAGS_RESET));
	for (i = 0; i < di.num_regions; i++) {
		rc = vus_client_region_info(c, i, r);
		if (rc < 0) {
			rc = failed(path, "DEVICE_GET_REGION_INFO", rc);
			goto out;
		}
		if (r->info.size)
			json_object_array_add(regions, region_json(r, have_cfg ? h : NULL));
		if (r->fd >= 0)
			close(r->fd);
	}
	for (i = 0; i < di.num_irqs; i++) {
		rc = vus_client_irq_info(c, i, &qi);
		if (rc < 0) {
			rc = failed(path, "DEVICE_GET_IRQ_INFO", rc);
			goto out;
		}
		if (qi.count)
			json_object_array_add(irqs, vusctl_irq_json(&qi));
	}
	json_object_object_add(info, "regions", json_object_get(regions));
	json_object_object_add(info, "irqs", json_object_get(irqs));
	*out = json_object_get(info);
	rc = VUSCTL_OK;
out:
	json_object_put(irqs);
	json_object_put(regions);
	json_object_put(info);
	free(r);
	return rc;
}

int vusctl_direct_info(const struct vusctl *v, int argc, char **argv)
{
	struct json_object *info = NULL;
	struct vusctl_args a;
	struct vus_client *c;
	int rc;

	if ((rc = vusctl_args(argc, argv, "info", "", 1, 1, &a)) >= 0 ||
	    (rc = vusctl_open(v, a.pos[0], &c)) != VUSCTL_OK)
		return rc;
	rc = describe(c, a.pos[0], &info);
	vus_client_close(c);
	if (rc != VUSCTL_OK)
		return rc;
	if (v->json)
		vusctl_print_json(info);
	else
		vusctl_print_info(info);
	json_object_put(info);
	return VUSCTL_OK;
}

/* ---- config space, read, write, reset ------------------------------- */

int vusctl_direct_config(const struct vusctl *v, int argc, char **argv)
{
	struct vus_client_region r;
	struct vusctl_args a;
	struct vus_client *c;
	uint8_t cfg[4096];
	size_t len;
	int rc;

	if ((rc = vusctl_args(argc, argv, "config", "H", 1, 1, &a)) >= 0 ||
	    (rc = vusctl_open(v, a.pos[0], &c)) != VUSCTL_OK)
		return rc;
	rc = vus_client_region_info(c, VUS_PCI_CONFIG_REGION, &r);
	if (rc == 0 && r.fd >= 0)
		close(r.fd);
	if (rc == 0 && (r.info.size == 0 || r.info.size > sizeof(cfg)))
		rc = -EPROTO;
	if (rc < 0) {
		vus_client_close(c);
		return failed(a.pos[0], "config space region", rc);
	}
	/* lspci -x shows the standard header; -xxx/-xxxx all of it. */
	len = a.header ? 64 : (size_t)r.info.size;
	rc = vus_client_region_read(c, VUS_PCI_CONFIG_REGION, 0, cfg, len);
	vus_client_close(c);
	if (rc < 0)
		return failed(a.pos[0], "reading config space", rc);
	if (v->json) {
		struct json_object *o = vusctl_data_json(VUS_PCI_CONFIG_REGION, 0, cfg, len);

		vusctl_print_json(o);
		json_object_put(o);
	} else {
		vusctl_print_config(a.pos[0], cfg, len);
	}
	return VUSCTL_OK;
}

/* REGION and OFFSET positional arguments (after the target). */
static int region_offset(const char *cmd, char **pos, uint32_t *region, uint64_t *offset)
{
	if (!vusctl_parse_region(pos[0], region))
		return vusctl_usage_error(cmd, "'%s' is not a region (0-99, bar0-bar5, rom, "
					  "config, vga)", pos[0]);
	if (!vusctl_parse_u64(pos[1], offset))
		return vusctl_usage_error(cmd, "'%s' is not an offset", pos[1]);
	return -1;
}

/*
 * --force lets a request through vusd reach a device while a VMM is
 * attached (docs/control.md). On the device's own socket vusctl is its
 * one client (vusctl_open() fails while another is attached), so there
 * is nothing to force: said rather than ignored.
 */
static int no_force(const char *cmd, const struct vusctl_args *a)
{
	if (!a->force)
		return -1;
	return vusctl_usage_error(cmd, "--force goes only with --control (a device of vusd "
				  "with a client attached); on a device socket vusctl is "
				  "the device's only client");
}

int vusctl_direct_read(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl_args a;
	struct vus_client *c;
	uint64_t offset;
	uint32_t region;
	uint8_t *buf;
	int rc;

	if ((rc = vusctl_args(argc, argv, "read", "lf", 3, 3, &a)) >= 0 ||
	    (rc = no_force("read", &a)) >= 0 ||
	    (rc = region_offset("read", a.pos + 1, &region, &offset)) >= 0)
		return rc;
	if (!a.len_set)
		a.len = 4;
	if (a.len == 0 || a.len > (64u << 20))
		return vusctl_usage_error("read", "--len: expected 1 to 64 MiB");
	if ((rc = vusctl_open(v, a.pos[0], &c)) != VUSCTL_OK)
		return rc;
	buf = malloc(a.len);
	rc = buf ? vus_client_region_read(c, region, offset, buf, a.len) : -ENOMEM;
	if (rc < 0) {
		rc = access_failed(c, a.pos[0], false, region, offset, a.len, rc);
		vus_client_close(c);
		free(buf);
		return rc;
	}
	vus_client_close(c);
	if (v->json) {
		struct json_object *o = vusctl_data_json(region, offset, buf, a.len);

		vusctl_print_json(o);
		json_object_put(o);
	} else {
		vusctl_print_data(offset, buf, a.len);
	}
	free(buf);
	return VUSCTL_OK;
}

int vusctl_direct_write(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl_args a;
	struct vus_client *c;
	uint64_t offset;
	uint32_t region;
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = vusctl_args(argc, argv, "write", "wxf", 4, 4, &a)) >= 0 ||
	    (rc = no_force("write", &a)) >= 0 ||
	    (rc = region_offset("write", a.pos + 1, &region, &offset)) >= 0 ||
	    (rc = vusctl_write_bytes(&a, a.pos[3], &buf, &len)) >= 0)
		return rc;
	rc = vusctl_open(v, a.pos[0], &c);
	if (rc != VUSCTL_OK) {
		free(buf);
		return rc;
	}
	rc = vus_client_region_write(c, region, offset, buf, len);
	if (rc < 0)
		rc = access_failed(c, a.pos[0], true, region, offset, len, rc);
	else
		rc = VUSCTL_OK;
	vus_client_close(c);
	free(buf);
	if (rc != VUSCTL_OK)
		return rc;
	if (v->json)
		printf("{\"written\":%zu}\n", len);
	return VUSCTL_OK;
}

int vusctl_direct_reset(const struct vusctl *v, int argc, char **argv)
{
	struct vusctl_args a;
	struct vus_client *c;
	int rc;

	if ((rc = vusctl_args(argc, argv, "reset", "f", 1, 1, &a)) >= 0 ||
	    (rc = no_force("reset", &a)) >= 0 ||
	    (rc = vusctl_open(v, a.pos[0], &c)) != VUSCTL_OK)
		return rc;
	rc = vus_client_reset(c);
	vus_client_close(c);
	if (rc < 0)
		return failed(a.pos[0], "DEVICE_RESET", rc);
	if (v->json)
		printf("{}\n");
	return VUSCTL_OK;
}
