/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Opening a vfio-pci device through the legacy container/group API with
 * the type1 IOMMU (Linux Documentation/driver-api/vfio.rst, "VFIO Usage
 * Example"), or through its VFIO device cdev bound to iommufd (same
 * document, "VFIO device cdev"). Every way this fails on a real host gets
 * a message saying what to do (docs/vfio-bridge.md "Errors").
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfio_priv.h"

#define SYS_PCI "/sys/bus/pci/devices"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* "dddd:bb:dd.f" in lower case, or false. */
static bool bdf_valid(const char *s)
{
	static const char pat[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(s) != sizeof(pat) - 1)
		return false;
	for (i = 0; pat[i]; i++) {
		if (pat[i] == 'x' ? !isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])
				  : s[i] != pat[i])
			return false;
	}
	return true;
}

/* host: a BDF with or without domain, or a sysfs path of the device. */
static int resolve(const char *host, char *bdf, size_t len, char *err, size_t errlen)
{
	char path[PATH_MAX], *base;
	size_t i;

	if (host[0] == '/') {
		if (!realpath(host, path))
			return fail(err, errlen, -errno, "vfio: %s: %s", host, strerror(errno));
		base = strrchr(path, '/');
		snprintf(bdf, len, "%s", base + 1);
	} else if (strlen(host) == 7) {
		snprintf(bdf, len, "0000:%s", host);
	} else {
		snprintf(bdf, len, "%s", host);
	}
	for (i = 0; bdf[i]; i++)
		bdf[i] = (char)tolower((unsigned char)bdf[i]);
	if (!bdf_valid(bdf))
		return fail(err, errlen, -EINVAL,
			    "vfio: host=%s is not a PCI address (0000:01:00.0) nor a device's "
			    "sysfs path", host);
	return 0;
}

/* The driver bound to the device: name in out ("" if none). */
static void driver_of(const char *bdf, char *out, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX], *base;
	ssize_t n;

	snprintf(link, sizeof(link), SYS_PCI "/%s/driver", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(out, len, "%s", "");
		return;
	}
	target[n] = '\0';
	base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	n = (ssize_t)strnlen(base, len - 1);
	memcpy(out, base, (size_t)n);
	out[n] = '\0';
}

static int check_bound(const char *bdf, char *err, size_t errlen)
{
	char path[PATH_MAX], drv[128];
	struct stat st;

	snprintf(path, sizeof(path), SYS_PCI "/%s", bdf);
	if (stat(path, &st) < 0)
		return fail(err, errlen, -ENODEV, "vfio: no PCI device %s (lspci -D lists them)",
			    bdf);
	driver_of(bdf, drv, sizeof(drv));
	if (strcmp(drv, "vfio-pci") == 0)
		return 0;
	if (!drv[0])
		return fail(err, errlen, -ENODEV,
			    "vfio: %s is not bound to vfio-pci (no driver); bind it: "
			    "modprobe vfio-pci; echo vfio-pci > " SYS_PCI "/%s/driver_override; "
			    "echo %s > /sys/bus/pci/drivers_probe", bdf, bdf, bdf);
	return fail(err, errlen, -EBUSY,
		    "vfio: %s is bound to %s, not vfio-pci; rebind it: "
		    "echo %s > " SYS_PCI "/%s/driver/unbind; "
		    "echo vfio-pci > " SYS_PCI "/%s/driver_override; "
		    "echo %s > /sys/bus/pci/drivers_probe", bdf, drv, bdf, bdf, bdf, bdf);
}

/* The IOMMU group number, or a message: no group means no IOMMU. */
static int group_of(const char *bdf, int *group, char *err, size_t errlen)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), SYS_PCI "/%s/iommu_group", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return fail(err, errlen, -ENODEV,
			    "vfio: %s has no IOMMU group: the kernel runs without an IOMMU "
			    "(enable VT-d/AMD-Vi in firmware, boot with intel_iommu=on or "
			    "amd_iommu=on); no-IOMMU mode is not supported", bdf);
	target[n] = '\0';
	*group = atoi(strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
	return 0;
}

/* "0000:00:1f.0 (lpc_ich), ..." for the devices of the group. */
static void group_members(int group, char *out, size_t len)
{
	char path[PATH_MAX], drv[128];
	struct dirent *e;
	size_t used = 0;
	DIR *d;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d)) && used < len) {
		if (e->d_name[0] == '.')
			continue;
		driver_of(e->d_name, drv, sizeof(drv));
		used += (size_t)snprintf(out + used, len - used, "%s%s (%s)", used ? ", " : "",
					 e->d_name, drv[0] ? drv : "no driver");
	}
	closedir(d);
}

/*
 * IOMMU groups this process holds, shared by the bridges of their
 * functions: the kernel lets a group be opened once, so two functions of
 * one group (a multifunction device without ACS, docs/vfio-bridge.md
 * "Groups") are served from one group fd and one container, and a hot
 * reset needs the fd of every group it touches (vfio_reset.c).
 */
struct vfio_group_ref {
	int id;
	bool iommufd;        /* the group's functions are opened through their cdevs */
	int fd, container;   /* legacy: group and container fds; iommufd: -1 */
	uint32_t ioas;       /* iommufd: the group's IOAS (one domain per group) */
	int ictx;            /* iommufd: the process's /dev/iommu (not owned) */
	unsigned refs;
	struct vfio_group_ref *next;
};

static struct vfio_group_ref *groups;
static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
/* iommufd: one context for the process (/dev/iommu), so a hot reset
 * finds every function it opened bound to it; under groups_lock. */
static int iommufd = -1;
static unsigned iommufd_refs;

static void group_ref_free(struct vfio_group_ref *g)
{
	if (g->fd >= 0)
		close(g->fd);
	if (g->container >= 0)
		close(g->container);
	if (g->iommufd) {
		struct iommu_destroy d = { .size = sizeof(d), .id = g->ioas };

		(void)ioctl(iommufd, IOMMU_DESTROY, &d);
		if (--iommufd_refs == 0) {
			close(iommufd);
			iommufd = -1;
		}
	}
	free(g);
}

/* iommufd mode: the process's context and a new IOAS for the group. */
static int group_open_iommufd(int group, struct vfio_group_ref **out, char *err, size_t errlen)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	struct vfio_group_ref *g;

	if (iommufd < 0) {
		iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (iommufd < 0 && (errno == EACCES || errno == EPERM))
			return fail(err, errlen, -errno,
				    "vfio: /dev/iommu: permission denied; run vusd as root or give "
				    "its user the devices (/dev/iommu and the function's "
				    "/dev/vfio/devices/vfioN) and enough RLIMIT_MEMLOCK for the "
				    "client's DMA maps");
		if (iommufd < 0)
			return fail(err, errlen, -errno,
				    "vfio: /dev/iommu: %s (iommu=iommufd needs a kernel with "
				    "CONFIG_IOMMUFD; iommu=legacy uses the container API)",
				    strerror(errno));
	}
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &a) < 0) {
		int rc = -errno;

		if (!iommufd_refs) {
			close(iommufd);
			iommufd = -1;
		}
		return fail(err, errlen, rc, "vfio: IOMMU_IOAS_ALLOC: %s", strerror(-rc));
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		struct iommu_destroy d = { .size = sizeof(d), .id = a.out_ioas_id };

		(void)ioctl(iommufd, IOMMU_DESTROY, &d);
		return fail(err, errlen, -ENOMEM, "vfio: out of memory");
	}
	iommufd_refs++;
	g->id = group;
	g->iommufd = true;
	g->fd = g->container = -1;
	g->ioas = a.out_ioas_id;
	g->ictx = iommufd;
	*out = g;
	return 0;
}

/* A new group: container, type1 backend, the group checked and attached. */
static int group_open(int group, struct vfio_group_ref **out, char *err, size_t errlen)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_group_ref *g = calloc(1, sizeof(*g));
	char path[64], members[1024];
	int rc, iommu;

	if (!g)
		return fail(err, errlen, -ENOMEM, "vfio: out of memory");
	g->id = group;
	g->fd = -1;
	g->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (g->container < 0) {
		rc = fail(err, errlen, -errno, "vfio: /dev/vfio/vfio: %s (modprobe vfio)",
			  strerror(errno));
		goto out;
	}
	if (ioctl(g->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		rc = fail(err, errlen, -EPROTO, "vfio: unknown VFIO API version");
		goto out;
	}
	if (ioctl(g->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0) {
		iommu = VFIO_TYPE1v2_IOMMU;
	} else if (ioctl(g->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0) {
		iommu = VFIO_TYPE1_IOMMU;
	} else {
		rc = fail(err, errlen, -ENODEV,
			  "vfio: no type1 IOMMU backend (modprobe vfio_iommu_type1)");
		goto out;
	}

	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	g->fd = open(path, O_RDWR | O_CLOEXEC);
	if (g->fd < 0) {
		rc = -errno;
		if (rc == -EACCES || rc == -EPERM)
			fail(err, errlen, rc,
			     "vfio: %s: permission denied; run vusd as root or give its "
			     "user the group (chown USER %s) and enough RLIMIT_MEMLOCK for "
			     "the client's DMA maps", path, path);
		else if (rc == -EBUSY)
			fail(err, errlen, rc,
			     "vfio: %s is busy: another process holds IOMMU group %d", path,
			     group);
		else
			fail(err, errlen, rc, "vfio: %s: %s", path, strerror(-rc));
		goto out;
	}
	if (ioctl(g->fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
		rc = fail(err, errlen, -errno, "vfio: group %d status: %s", group,
			  strerror(errno));
		goto out;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		group_members(group, members, sizeof(members));
		rc = fail(err, errlen, -EBUSY,
			  "vfio: IOMMU group %d is not viable: every device in it must be "
			  "bound to vfio-pci or to no driver; it holds %s", group, members);
		goto out;
	}
	if (ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &g->container) < 0) {
		rc = fail(err, errlen, -errno, "vfio: group %d: set container: %s", group,
			  strerror(errno));
		goto out;
	}
	if (ioctl(g->container, VFIO_SET_IOMMU, iommu) < 0) {
		rc = fail(err, errlen, -errno, "vfio: set type1 IOMMU: %s", strerror(errno));
		goto out;
	}
	*out = g;
	return 0;
out:
	group_ref_free(g);
	return rc;
}

/* The group, opened or shared (one more reference). */
static int group_get(int group, bool use_iommufd, struct vfio_group_ref **out, char *err,
		     size_t errlen)
{
	struct vfio_group_ref *g;
	int rc = 0;

	pthread_mutex_lock(&groups_lock);
	for (g = groups; g && g->id != group; g = g->next)
		;
	if (g && g->iommufd != use_iommufd) {
		rc = fail(err, errlen, -EBUSY,
			  "vfio: IOMMU group %d is already open through %s; give every "
			  "function of a group the same iommu= option", group,
			  g->iommufd ? "iommufd" : "the legacy container");
	} else if (g) {
		g->refs++;
	} else {
		rc = use_iommufd ? group_open_iommufd(group, &g, err, errlen)
				 : group_open(group, &g, err, errlen);
		if (rc == 0) {
			g->refs = 1;
			g->next = groups;
			groups = g;
		}
	}
	pthread_mutex_unlock(&groups_lock);
	if (rc == 0)
		*out = g;
	return rc;
}

static void group_put(struct vfio_group_ref *g)
{
	struct vfio_group_ref **pp;

	pthread_mutex_lock(&groups_lock);
	if (--g->refs == 0) {
		for (pp = &groups; *pp && *pp != g; pp = &(*pp)->next)
			;
		if (*pp)
			*pp = g->next;
		group_ref_free(g);
	}
	pthread_mutex_unlock(&groups_lock);
}

uint32_t vfio_bridge_ioas(const struct vfio_bridge *b)
{
	return b->grp ? b->grp->ioas : 0;
}

int vfio_bridge_group_fd(int group)
{
	struct vfio_group_ref *g;
	int fd = -1;

	pthread_mutex_lock(&groups_lock);
	for (g = groups; g; g = g->next) {
		if (g->id == group && !g->iommufd)
			fd = g->fd;
	}
	pthread_mutex_unlock(&groups_lock);
	return fd;
}

/* Without the legacy group's VIABLE flag: every function of the group
 * bound to vfio-pci, to no driver, or to a driver the kernel lets share a
 * group with a VFIO user (pci-stub, pcieport: Linux drivers/vfio/
 * group.c's allowlist). */
static bool group_viable_sysfs(int group)
{
	char path[PATH_MAX], drv[128];
	struct dirent *e;
	bool ok = true;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group);
	d = opendir(path);
	if (!d)
		return true;
	while (ok && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		driver_of(e->d_name, drv, sizeof(drv));
		ok = !drv[0] || !strcmp(drv, "vfio-pci") || !strcmp(drv, "pci-stub") ||
		     !strcmp(drv, "pcieport");
	}
	closedir(d);
	return ok;
}

/* The function's VFIO cdev (/dev/vfio/devices/vfioN, Linux 6.6+), or
 * false when the kernel offers none for it. */
static bool cdev_of(const char *bdf, char *out, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), SYS_PCI "/%s/vfio-dev", bdf);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		if (strncmp(e->d_name, "vfio", 4) == 0 && strlen(e->d_name) < 32) {
			snprintf(out, len, "/dev/vfio/devices/%.31s", e->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/* iommufd mode: open the cdev, bind it to the process's iommufd, attach
 * it to its group's IOAS (Linux Documentation/driver-api/vfio.rst,
 * "IOMMUFD and vfio_iommu_type1" and "VFIO device cdev"). */
static int open_cdev(struct vfio_bridge *b, char *err, size_t errlen)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	char cdev[64], members[1024];
	int rc;

	if (!cdev_of(b->bdf, cdev, sizeof(cdev)))
		return fail(err, errlen, -ENODEV,
			    "vfio: %s has no VFIO device cdev (vfio-dev/vfioN in sysfs): "
			    "iommu=iommufd needs Linux 6.6+ with CONFIG_VFIO_DEVICE_CDEV; use "
			    "iommu=legacy", b->bdf);
	b->device = open(cdev, O_RDWR | O_CLOEXEC);
	if (b->device < 0) {
		rc = -errno;
		if (rc == -EACCES || rc == -EPERM)
			return fail(err, errlen, rc,
				    "vfio: %s: permission denied; run vusd as root or give its "
				    "user the device (chown USER %s, and /dev/iommu) and enough "
				    "RLIMIT_MEMLOCK for the client's DMA maps", cdev, cdev);
		return fail(err, errlen, rc, "vfio: %s: %s", cdev, strerror(-rc));
	}
	bind.iommufd = b->iommufd;
	if (ioctl(b->device, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		rc = -errno;
		if (!group_viable_sysfs(b->group_id)) {
			group_members(b->group_id, members, sizeof(members));
			return fail(err, errlen, -EBUSY,
				    "vfio: IOMMU group %d is not viable: every device in it must "
				    "be bound to vfio-pci or to no driver; it holds %s",
				    b->group_id, members);
		}
		if (rc == -EBUSY) {
			return fail(err, errlen, rc,
				    "vfio: %s is busy: another process (or a legacy user of "
				    "group %d) has it", b->bdf, b->group_id);
		}
		group_members(b->group_id, members, sizeof(members));
		return fail(err, errlen, rc,
			    "vfio: %s: bind to iommufd: %s (every device of IOMMU group %d must "
			    "be bound to vfio-pci or to no driver; it holds %s)", b->bdf,
			    strerror(-rc), b->group_id, members);
	}
	b->devid = bind.out_devid;
	at.pt_id = b->grp->ioas;
	if (ioctl(b->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0)
		return fail(err, errlen, -errno, "vfio: %s: attach to IOAS %u: %s", b->bdf,
			    b->grp->ioas, strerror(errno));
	return 0;
}

int vfio_bridge_open_fds(struct vfio_bridge *b, const char *host, char *err, size_t errlen)
{
	char cdev[64];
	bool use_iommufd;
	int rc, group = -1;

	b->container = b->group = b->device = b->iommufd = -1;
	b->grp = NULL;
	rc = resolve(host, b->bdf, sizeof(b->bdf), err, errlen);
	if (rc < 0)
		return rc;
	rc = check_bound(b->bdf, err, errlen);
	if (rc < 0)
		return rc;
	rc = group_of(b->bdf, &group, err, errlen);
	if (rc < 0)
		return rc;
	/* auto: iommufd when the kernel has it and the function has a cdev. */
	use_iommufd = b->iommu_mode == VFIO_BRIDGE_IOMMUFD ||
		      (b->iommu_mode == VFIO_BRIDGE_IOMMU_AUTO && access("/dev/iommu", F_OK) == 0 &&
		       cdev_of(b->bdf, cdev, sizeof(cdev)));
	b->group_id = group;
	rc = group_get(group, use_iommufd, &b->grp, err, errlen);
	if (rc < 0)
		return rc;
	if (use_iommufd) {
		b->iommufd = b->grp->ictx;
		rc = open_cdev(b, err, errlen);
		if (rc < 0)
			return rc;
	} else {
		b->group = b->grp->fd;
		b->container = b->grp->container;
		b->device = ioctl(b->group, VFIO_GROUP_GET_DEVICE_FD, b->bdf);
		if (b->device < 0) {
			rc = -errno;
			if (rc == -EBUSY)
				return fail(err, errlen, rc,
					    "vfio: %s is busy: this vusd (or another user of "
					    "group %d) already has it open", b->bdf, group);
			return fail(err, errlen, rc, "vfio: %s: get device fd: %s", b->bdf,
				    strerror(-rc));
		}
	}
	b->info.argsz = sizeof(b->info);
	if (ioctl(b->device, VFIO_DEVICE_GET_INFO, &b->info) < 0)
		return fail(err, errlen, -errno, "vfio: %s: device info: %s", b->bdf,
			    strerror(errno));
	if (!(b->info.flags & VFIO_DEVICE_FLAGS_PCI))
		return fail(err, errlen, -ENODEV, "vfio: %s is not a PCI device", b->bdf);
	return 0;
}

void vfio_bridge_close_fds(struct vfio_bridge *b)
{
	if (b->device >= 0)
		close(b->device);
	if (b->grp)
		group_put(b->grp);
	b->grp = NULL;
	b->container = b->group = b->device = b->iommufd = -1;
}

void vfio_bridge_log(const struct vfio_bridge *b, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vfio-bridge %s (%s): %s\n", b->name, b->bdf, msg);
}
