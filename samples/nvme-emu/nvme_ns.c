/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Namespace backends: RAM (a memfd mapped into the server, so data moves
 * with one copy straight between guest memory and it), a regular file or
 * a block device (io_uring in nvme_uring.c, or pread/pwrite here; O_DIRECT
 * on request). Write Zeroes and
 * deallocation punch holes, so the range reads back as zeroes and RAM is
 * given back. docs/nvme.md "Backends".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme_priv.h"

/*
 * O_DIRECT needs offsets and lengths in multiples of the file's direct-I/O
 * block (the device's logical block) and buffers aligned to its memory
 * alignment. Offsets and lengths are whole LBAs, so an LBA smaller than
 * that block cannot work: refused here, with the reason on stderr.
 * Buffers that are not aligned (a PRP1 offset) are bounced (nvme_uring.c).
 */
static int dio_limits(struct nvme_ns *ns, const struct nvme_emu_opts *o, bool blk)
{
	uint32_t off_align = 512, mem_align = 512;
	struct statx sx;
	int ssz;

	if (blk && ioctl(ns->fd, BLKSSZGET, &ssz) == 0 && ssz > 0)
		off_align = mem_align = (uint32_t)ssz;
	if (statx(ns->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		off_align = sx.stx_dio_offset_align;
		mem_align = sx.stx_dio_mem_align;
	}
	if (o->lba_size < off_align) {
		fprintf(stderr, "nvme-emu: %s: O_DIRECT needs %u-byte blocks, lba=%u is smaller\n",
			o->file, off_align, o->lba_size);
		return -EINVAL;
	}
	ns->odirect = true;
	ns->dio_mem_align = mem_align ? mem_align : 1;
	return 0;
}

static int open_file(struct nvme_ns *ns, const struct nvme_emu_opts *o)
{
	struct stat sb;
	uint64_t bytes;
	int flags = O_RDWR | O_CLOEXEC | (o->odirect ? O_DIRECT : 0);
	int rc;

	ns->fd = open(o->file, flags);
	if (ns->fd < 0 && errno == ENOENT && o->size)
		ns->fd = open(o->file, flags | O_CREAT, 0600);
	if (ns->fd < 0 && errno == EINVAL && o->odirect) {
		/* tmpfs and some others have no O_DIRECT: say so, and fail
		 * (the user asked for it; silently buffered would lie). */
		fprintf(stderr, "nvme-emu: %s: the file system does not support O_DIRECT "
			"(tmpfs?): drop the direct option or use another file system\n",
			o->file);
		return -EINVAL;
	}
	if (ns->fd < 0)
		return -errno;
	if (fstat(ns->fd, &sb) < 0)
		return -errno;
	if (o->odirect && (rc = dio_limits(ns, o, S_ISBLK(sb.st_mode))) < 0)
		return rc;
	if (S_ISBLK(sb.st_mode)) {
		if (ioctl(ns->fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
		ns->is_blkdev = true;
	} else if (S_ISREG(sb.st_mode)) {
		bytes = (uint64_t)sb.st_size;
		if (o->size && o->size > bytes) {
			if (ftruncate(ns->fd, (off_t)o->size) < 0)
				return -errno;
			bytes = o->size;
		}
	} else {
		return -EINVAL;
	}
	ns->bytes = bytes;
	ns->is_file = true;
	return 0;
}

static int open_ram(struct nvme_ns *ns, const struct nvme_emu_opts *o, const char *name)
{
	char label[64];

	snprintf(label, sizeof(label), "nvme-emu-%s", name);
	ns->fd = memfd_create(label, MFD_CLOEXEC);
	if (ns->fd < 0)
		return -errno;
	ns->bytes = o->size - o->size % o->lba_size;
	if (ftruncate(ns->fd, (off_t)ns->bytes) < 0)
		return -errno;
	/* MAP_NORESERVE: pages are allocated as the guest writes them. */
	ns->ram = mmap(NULL, ns->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, ns->fd,
		       0);
	if (ns->ram == MAP_FAILED) {
		ns->ram = NULL;
		return -errno;
	}
	/* A hint: refused or ignored (shmem_enabled "never") it changes
	 * nothing but the page size. */
	if (o->thp)
		(void)madvise(ns->ram, ns->bytes, MADV_HUGEPAGE);
	return 0;
}

struct nvme_ns *nvme_ns_get(struct nvme_emu *n, uint32_t nsid)
{
	return nsid >= 1 && nsid <= n->nn ? &n->ns[nsid - 1] : NULL;
}

int nvme_ns_flush_all(struct nvme_emu *n)
{
	uint32_t i;
	int rc = 0;

	for (i = 0; i < n->nn; i++)
		if (nvme_ns_flush(&n->ns[i]) < 0)
			rc = -EIO;
	return rc;
}

int nvme_ns_open(struct nvme_ns *ns, const struct nvme_emu_opts *o, const char *name)
{
	int rc;

	ns->fd = -1;
	ns->lba_shift = o->lba_size == 4096 ? 12 : 9;
	rc = o->file ? open_file(ns, o) : open_ram(ns, o, name);
	if (rc < 0)
		return rc;
	ns->nlb = ns->bytes >> ns->lba_shift;
	if (!ns->nlb)
		return -EINVAL;
	return 0;
}

void nvme_ns_close(struct nvme_ns *ns)
{
	if (ns->ram)
		munmap(ns->ram, ns->bytes);
	ns->ram = NULL;
	if (ns->fd >= 0)
		close(ns->fd);
	ns->fd = -1;
}

int nvme_ns_read(struct nvme_ns *ns, uint64_t off, void *buf, uint64_t len)
{
	uint8_t *p = buf;
	ssize_t r;

	while (len) {
		r = pread(ns->fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) { /* a file shrunk behind us: zeroes */
			memset(p, 0, len);
			return 0;
		}
		p += r;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

int nvme_ns_write(struct nvme_ns *ns, uint64_t off, const void *buf, uint64_t len)
{
	const uint8_t *p = buf;
	ssize_t r;

	while (len) {
		r = pwrite(ns->fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		p += r;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

/* Zero a byte range: punch a hole (memfd, file), ask the block device to
 * zero it, or write zeroes. */
int nvme_ns_zero(struct nvme_ns *ns, uint64_t off, uint64_t len)
{
	static _Alignas(4096) const uint8_t zeroes[65536]; /* O_DIRECT */
	uint64_t range[2] = { off, len };
	int rc;

	if (!len)
		return 0;
	if (!ns->is_blkdev &&
	    fallocate(ns->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (ns->is_blkdev && ioctl(ns->fd, BLKZEROOUT, range) == 0)
		return 0;
	if (ns->ram) {
		memset(ns->ram + off, 0, len);
		return 0;
	}
	while (len) {
		uint64_t l = len < sizeof(zeroes) ? len : sizeof(zeroes);

		rc = nvme_ns_write(ns, off, zeroes, l);
		if (rc < 0)
			return rc;
		off += l;
		len -= l;
	}
	return 0;
}

int nvme_ns_flush(struct nvme_ns *ns)
{
	if (!ns->is_file)
		return 0;
	return fdatasync(ns->fd) < 0 ? -errno : 0;
}
