/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-mig-bench: migration downtime and total time for a device with
 * 64 MiB of state, against a floor measured in the same run: the same
 * bytes copied through a socketpair between two threads, in the same
 * chunks (docs/migration.md "Benchmark").
 *
 * Two devices, each served on its own thread over a socketpair, with a
 * client for each in the main thread; the source's state is a 64 MiB
 * buffer saved through the library's framed stream (CRC32C included),
 * loaded into the destination's buffer. The migration is stop-copy only,
 * so downtime = total: the source stopping, every byte read, written,
 * checked and loaded, the destination running. The ratio is what counts;
 * absolute times depend on the machine and are never asserted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>
#include <vus/device.h>

#define CHUNK (1u << 20) /* MIG_DATA size: the default max_data_xfer_size */
#define ROUNDS 5

struct bdev {
	struct vus_dev *dev;
	struct vus_client *c;
	pthread_t th;
	uint8_t *mem;
	size_t size, pos, loaded;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int b_transition(struct vus_dev *dev, void *opaque, enum vus_mig_state from,
			enum vus_mig_state to)
{
	struct bdev *b = opaque;

	b->pos = 0;
	if (to == VUS_MIG_STATE_RESUMING)
		b->loaded = 0;
	return 0;
}

static ssize_t b_save(struct vus_dev *dev, void *opaque, void *buf, size_t len)
{
	struct bdev *b = opaque;
	size_t n = b->size - b->pos < len ? b->size - b->pos : len;

	memcpy(buf, b->mem + b->pos, n);
	b->pos += n;
	return (ssize_t)n;
}

static int b_load(struct vus_dev *dev, void *opaque, const void *buf, size_t len)
{
	struct bdev *b = opaque;

	if (len > b->size - b->loaded)
		return -EINVAL;
	memcpy(b->mem + b->loaded, buf, len);
	b->loaded += len;
	return 0;
}

static void *serve(void *arg)
{
	vus_dev_run(arg);
	return NULL;
}

static int bdev_start(struct bdev *b, const char *name, size_t size)
{
	static const struct vus_migration_ops ops = {
		.flags = VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_FRAMED,
		.transition = b_transition, .save = b_save, .load = b_load,
	};
	int sv[2], rc;

	memset(b, 0, sizeof(*b));
	b->size = size;
	b->mem = calloc(1, size);
	b->dev = vus_dev_new(name);
	if (!b->mem || !b->dev)
		return -ENOMEM;
	vus_dev_set_log_level(b->dev, VUS_LOG_ERR);
	if ((rc = vus_dev_set_migration(b->dev, &ops, b)) < 0)
		return rc;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if ((rc = vus_dev_attach_fd(b->dev, sv[1])) < 0)
		return rc;
	if ((rc = -pthread_create(&b->th, NULL, serve, b->dev)) < 0)
		return rc;
	return vus_client_connect_fd(sv[0], NULL, &b->c);
}

static void bdev_stop(struct bdev *b)
{
	vus_client_close(b->c);
	vus_dev_stop(b->dev);
	pthread_join(b->th, NULL);
	vus_dev_free(b->dev);
	free(b->mem);
}

/* One migration src -> dst; its time in ns, or 0 on failure. */
static uint64_t migrate_once(struct bdev *src, struct bdev *dst, uint8_t *buf)
{
	uint64_t t0 = now_ns();
	uint32_t got;

	if (vus_client_mig_set_state(dst->c, VUS_MIG_STATE_RESUMING) < 0 ||
	    vus_client_mig_set_state(src->c, VUS_MIG_STATE_STOP_COPY) < 0)
		return 0;
	do {
		if (vus_client_mig_data_read(src->c, buf, CHUNK, &got) < 0 ||
		    (got && vus_client_mig_data_write(dst->c, buf, got) < 0))
			return 0;
	} while (got == CHUNK);
	if (vus_client_mig_set_state(dst->c, VUS_MIG_STATE_STOP) < 0 ||
	    vus_client_mig_set_state(dst->c, VUS_MIG_STATE_RUNNING) < 0)
		return 0;
	t0 = now_ns() - t0;
	if (vus_client_mig_set_state(src->c, VUS_MIG_STATE_RUNNING) < 0)
		return 0;
	return t0;
}

struct floor_arg {
	int fd;
	size_t bytes;
};

static void *floor_reader(void *arg)
{
	struct floor_arg *f = arg;
	uint8_t *buf = malloc(CHUNK);
	size_t left = f->bytes;
	ssize_t n;

	while (buf && left) {
		n = read(f->fd, buf, left < CHUNK ? left : CHUNK);
		if (n <= 0)
			break;
		left -= (size_t)n;
	}
	free(buf);
	return NULL;
}

/* The floor: bytes through a socketpair to another thread, in CHUNKs. */
static uint64_t floor_once(size_t bytes, const uint8_t *src)
{
	struct floor_arg f = { .bytes = bytes };
	pthread_t th;
	uint64_t t0;
	size_t off = 0;
	ssize_t n;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	f.fd = sv[1];
	t0 = now_ns();
	pthread_create(&th, NULL, floor_reader, &f);
	while (off < bytes) {
		n = write(sv[0], src + off, bytes - off < CHUNK ? bytes - off : CHUNK);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	pthread_join(th, NULL);
	t0 = now_ns() - t0;
	close(sv[0]);
	close(sv[1]);
	return off == bytes ? t0 : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t size = 64u << 20, i;
	uint64_t mig[ROUNDS], flo[ROUNDS];
	struct bdev src, dst;
	uint8_t *buf;
	int r;

	if (argc > 1 && strcmp(argv[1], "--quick") == 0)
		size = 4u << 20;
	else if (argc > 1) {
		fprintf(stderr, "usage: vus-mig-bench [--quick]   (64 MiB of state; --quick: 4)\n");
		return 2;
	}
	buf = malloc(CHUNK);
	if (!buf || bdev_start(&src, "src", size) < 0 || bdev_start(&dst, "dst", size) < 0) {
		fprintf(stderr, "vus-mig-bench: setup failed\n");
		return 1;
	}
	for (i = 0; i < size; i++)
		src.mem[i] = (uint8_t)(i * 131 + (i >> 12));
	for (r = -1; r < ROUNDS; r++) { /* round -1 warms up */
		uint64_t m = migrate_once(&src, &dst, buf), f = floor_once(size, src.mem);

		if (!m || !f || dst.loaded != size || memcmp(src.mem, dst.mem, size)) {
			fprintf(stderr, "vus-mig-bench: migration or floor failed (round %d)\n", r);
			return 1;
		}
		memset(dst.mem, 0, size);
		if (r >= 0) {
			mig[r] = m;
			flo[r] = f;
		}
	}
	qsort(mig, ROUNDS, sizeof(mig[0]), cmp_u64);
	qsort(flo, ROUNDS, sizeof(flo[0]), cmp_u64);
	printf("state %zu MiB, chunks of %u KiB, median of %d rounds\n", size >> 20, CHUNK >> 10,
	       ROUNDS);
	printf("%-34s %10.2f ms\n", "floor: socketpair copy", flo[ROUNDS / 2] / 1e6);
	printf("%-34s %10.2f ms\n", "migration (stop-copy) downtime", mig[ROUNDS / 2] / 1e6);
	printf("ratio migration / floor: %.2f\n", (double)mig[ROUNDS / 2] / (double)flo[ROUNDS / 2]);
	bdev_stop(&src);
	bdev_stop(&dst);
	free(buf);
	return 0;
}
