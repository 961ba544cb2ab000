/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The framed migration stream (mig_stream.h; format in docs/migration.md
 * "Stream format"). All fields little-endian.
 *
 *   header (32): magic u32, version u16, header length u16, PCI vendor,
 *                device, subsystem vendor, subsystem u16 each, class code
 *                | revision << 24 u32, reserved u32 x 2, CRC32C of bytes
 *                0..27 u32
 *   section:     tag u32 ("DATA", "IRQS" or "END!"), length u32, CRC32C
 *                of the data u32, then length bytes; IRQS (once, in
 *                STOP_COPY, right before the end) carries the interrupts
 *                the library owes the guest (irq_state.c); END! carries
 *                the total of DATA bytes as u64 and ends the stream.
 *
 * Saving: what save() returns for one MIG_DATA_READ becomes one section.
 * Loading: everything is buffered and checked as it arrives; load() sees
 * the data only at RESUMING -> STOP, once the end marker arrived and every
 * checksum matched, so a wrong stream is never half loaded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dev_priv.h"
#include "le.h"
#include "mig_stream.h"

struct vus_mig_stream {
	/* saving: bytes queued for the client */
	uint8_t *pend;
	size_t pend_len, pend_pos, pend_cap;
	bool end_sent;
	uint64_t total;
	/* loading */
	uint8_t *in;
	size_t in_len, in_cap;
	size_t checked;           /* bytes of in verified: header + whole sections */
	uint64_t in_total;        /* DATA bytes verified */
	size_t irqs_off;          /* the IRQS section's data in in, 0: none yet */
	uint32_t irqs_len;
	unsigned sections;
	bool ended, refused;
	bool committed;           /* load() has the data; the IRQS state is next */
};

/* ---- CRC32C ------------------------------------------------------------ */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32c_table(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction computes the same CRC32C, 8 bytes at a time:
 * the stream's checksum then costs a fraction of the copy it protects. */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc, v;

	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

uint32_t vus_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_sse42(~crc, buf, len);
#endif
	return ~crc32c_table(~crc, buf, len);
}

/* ---- helpers ----------------------------------------------------------- */

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t cap2 = *cap ? *cap : 4096;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	while (cap2 < need)
		cap2 *= 2;
	p = realloc(*buf, cap2);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = cap2;
	return 0;
}

static struct vus_mig_stream *stream_get(struct vus_dev *dev)
{
	if (!dev->mig.stream)
		dev->mig.stream = calloc(1, sizeof(struct vus_mig_stream));
	return dev->mig.stream;
}

static void header_build(const struct vus_dev *dev, uint8_t *h)
{
	memset(h, 0, VUS_MIG_STREAM_HDR);
	le_put32(h, VUS_MIG_STREAM_MAGIC);
	le_put16(h + 4, VUS_MIG_STREAM_VERSION);
	le_put16(h + 6, VUS_MIG_STREAM_HDR);
	le_put16(h + 8, dev->id.vendor);
	le_put16(h + 10, dev->id.device);
	le_put16(h + 12, dev->id.subsys_vendor);
	le_put16(h + 14, dev->id.subsys);
	le_put32(h + 16, (dev->id.class_code & 0xffffffu) | (uint32_t)dev->id.revision << 24);
	le_put32(h + 28, vus_crc32c(0, h, 28));
}

static void frame_put(uint8_t *p, uint32_t tag, const uint8_t *data, uint32_t len)
{
	le_put32(p, tag);
	le_put32(p + 4, len);
	le_put32(p + 8, vus_crc32c(0, data, len));
}

/* ---- saving ------------------------------------------------------------ */

int vus_mig_stream_save_begin(struct vus_dev *dev)
{
	struct vus_mig_stream *s;

	vus_mig_stream_end(dev);
	s = stream_get(dev);
	if (!s || reserve(&s->pend, &s->pend_cap, VUS_MIG_STREAM_HDR) < 0)
		return -ENOMEM;
	header_build(dev, s->pend);
	s->pend_len = VUS_MIG_STREAM_HDR;
	return 0;
}

/* In STOP_COPY, after the device's last data: the interrupts the library
 * still owes its guest (the device is quiesced), then the end marker,
 * queued in pend. -ENOMEM. */
static int queue_tail(struct vus_dev *dev, struct vus_mig_stream *s)
{
	size_t ni = vus_irq_state_size(dev);
	uint8_t *e;

	if (reserve(&s->pend, &s->pend_cap, s->pend_len + 2 * VUS_MIG_FRAME_HDR + 8 + ni) < 0)
		return -ENOMEM;
	e = s->pend + s->pend_len;
	vus_irq_state_save(dev, e + VUS_MIG_FRAME_HDR);
	frame_put(e, VUS_MIG_FRAME_IRQS, e + VUS_MIG_FRAME_HDR, (uint32_t)ni);
	s->pend_len += VUS_MIG_FRAME_HDR + ni;
	e = s->pend + s->pend_len;
	le_put64(e + VUS_MIG_FRAME_HDR, s->total);
	frame_put(e, VUS_MIG_FRAME_END, e + VUS_MIG_FRAME_HDR, 8);
	s->pend_len += VUS_MIG_FRAME_HDR + 8;
	s->end_sent = true;
	return 0;
}

/* One section of what save() gives now, built at dst (room for its header
 * and want bytes). Returns the data bytes (0: none, the section not
 * written), or -errno. */
static ssize_t section_save(struct vus_dev *dev, struct vus_mig_stream *s, uint8_t *dst,
			    size_t want)
{
	ssize_t got = dev->mig.ops.save(dev, dev->mig.opaque, dst + VUS_MIG_FRAME_HDR, want);

	if (got < 0)
		return got;
	if ((size_t)got > want) {
		vus_log(dev, VUS_LOG_ERR, "migration save returned %zd > %zu bytes", got, want);
		return -EIO;
	}
	if (got) {
		frame_put(dst, VUS_MIG_FRAME_DATA, dst + VUS_MIG_FRAME_HDR, (uint32_t)got);
		s->total += (uint64_t)got;
	}
	return got;
}

ssize_t vus_mig_stream_read(struct vus_dev *dev, uint8_t *buf, size_t len, int stop_copy)
{
	struct vus_mig_stream *s = dev->mig.stream;
	size_t out = 0, want, n;
	bool dry = false;
	ssize_t got;

	if (!s)
		return 0;
	while (out < len) {
		if (s->pend_pos < s->pend_len) {
			n = s->pend_len - s->pend_pos;
			if (n > len - out)
				n = len - out;
			memcpy(buf + out, s->pend + s->pend_pos, n);
			s->pend_pos += n;
			out += n;
			continue;
		}
		s->pend_len = s->pend_pos = 0;
		if (dry || s->end_sent)
			break;
		if (len - out > VUS_MIG_FRAME_HDR) {
			/* Straight into the reply: the device's save() writes
			 * where the client's bytes go, one copy less per byte
			 * than through pend (docs/migration.md "Benchmark"). */
			want = len - out - VUS_MIG_FRAME_HDR;
			if (want > VUS_MIG_FRAME_MAX)
				want = VUS_MIG_FRAME_MAX;
			got = section_save(dev, s, buf + out, want);
			if (got < 0)
				return got;
			if (got)
				out += VUS_MIG_FRAME_HDR + (size_t)got;
		} else {
			/* Not even a section header fits: a section into pend,
			 * its rest goes out with the next read. */
			want = 64u << 10;
			if (reserve(&s->pend, &s->pend_cap, VUS_MIG_FRAME_HDR + want) < 0)
				return -ENOMEM;
			got = section_save(dev, s, s->pend, want);
			if (got < 0)
				return got;
			if (got)
				s->pend_len = VUS_MIG_FRAME_HDR + (size_t)got;
		}
		if ((size_t)got < want) {
			dry = true; /* the device has no more for now */
			if (stop_copy && queue_tail(dev, s) < 0)
				return -ENOMEM;
		}
	}
	return (ssize_t)out;
}

/* ---- loading ----------------------------------------------------------- */

int vus_mig_stream_load_begin(struct vus_dev *dev)
{
	vus_mig_stream_end(dev);
	return stream_get(dev) ? 0 : -ENOMEM;
}

/* Refuse the stream for good, with the reason in the log; returns. */
#define REFUSE(dev, s, fmt, ...)                                                         \
	do {                                                                             \
		(s)->refused = true;                                                     \
		vus_log(dev, VUS_LOG_ERR, "migration stream refused at byte %zu (section " \
			"%u): " fmt, (s)->checked, (s)->sections, __VA_ARGS__);          \
		return -EINVAL;                                                          \
	} while (0)

static int header_check(struct vus_dev *dev, struct vus_mig_stream *s)
{
	const uint8_t *h = s->in;
	uint8_t want[VUS_MIG_STREAM_HDR];

	if (le_get32(h) != VUS_MIG_STREAM_MAGIC)
		REFUSE(dev, s, "not a vus migration stream (magic %#x, want %#x)",
			      le_get32(h), VUS_MIG_STREAM_MAGIC);
	if (le_get16(h + 4) != VUS_MIG_STREAM_VERSION)
		REFUSE(dev, s, "stream version %u; this library reads version %u",
			      le_get16(h + 4), VUS_MIG_STREAM_VERSION);
	if (le_get16(h + 6) != VUS_MIG_STREAM_HDR || le_get32(h + 28) != vus_crc32c(0, h, 28))
		REFUSE(dev, s, "header damaged (length %u, checksum %#x)",
			      le_get16(h + 6), le_get32(h + 28));
	header_build(dev, want);
	if (memcmp(h + 8, want + 8, 12))
		REFUSE(dev, s, "stream of another device type (PCI %04x:%04x class "
			      "%06x, this is %04x:%04x class %06x)", le_get16(h + 8), le_get16(h + 10),
			      le_get32(h + 16) & 0xffffffu, dev->id.vendor, dev->id.device,
			      dev->id.class_code & 0xffffffu);
	return 0;
}

/* Check what arrived completely since the last call. */
static int verify(struct vus_dev *dev, struct vus_mig_stream *s)
{
	while (true) {
		const uint8_t *f = s->in + s->checked;
		size_t left = s->in_len - s->checked;
		uint32_t tag, len;
		int rc;

		if (s->checked == 0) {
			if (left < VUS_MIG_STREAM_HDR)
				return 0;
			rc = header_check(dev, s);
			if (rc)
				return rc;
			s->checked = VUS_MIG_STREAM_HDR;
			continue;
		}
		if (s->ended) {
			if (left)
				REFUSE(dev, s, "%zu bytes after the end marker", left);
			return 0;
		}
		if (left < VUS_MIG_FRAME_HDR)
			return 0;
		tag = le_get32(f);
		len = le_get32(f + 4);
		if ((tag != VUS_MIG_FRAME_DATA && tag != VUS_MIG_FRAME_END &&
		     tag != VUS_MIG_FRAME_IRQS) ||
		    len > VUS_MIG_FRAME_MAX || (tag == VUS_MIG_FRAME_END && len != 8) ||
		    (tag == VUS_MIG_FRAME_IRQS && (len > VUS_MIG_IRQS_MAX || s->irqs_off)))
			REFUSE(dev, s, "bad section (tag %#x, length %u)", tag, len);
		if (left - VUS_MIG_FRAME_HDR < len)
			return 0;
		if (vus_crc32c(0, f + VUS_MIG_FRAME_HDR, len) != le_get32(f + 8))
			REFUSE(dev, s, "checksum mismatch (%u data bytes, stored CRC %#x)",
				      len, le_get32(f + 8));
		if (tag == VUS_MIG_FRAME_END) {
			if (le_get64(f + VUS_MIG_FRAME_HDR) != s->in_total)
				REFUSE(dev, s, "end marker says %llu data bytes, %llu came",
					      (unsigned long long)le_get64(f + VUS_MIG_FRAME_HDR),
					      (unsigned long long)s->in_total);
			if (!s->irqs_off)
				REFUSE(dev, s, "%s", "no interrupt state before the end marker");
			s->ended = true;
		} else if (tag == VUS_MIG_FRAME_IRQS) {
			s->irqs_off = s->checked + VUS_MIG_FRAME_HDR;
			s->irqs_len = len;
		} else {
			s->in_total += len;
		}
		s->checked += VUS_MIG_FRAME_HDR + len;
		s->sections++;
	}
}

int vus_mig_stream_write(struct vus_dev *dev, const uint8_t *data, size_t len)
{
	struct vus_mig_stream *s = dev->mig.stream;

	if (!s)
		return -EINVAL;
	if (s->refused)
		return -EINVAL;
	/* An empty MIG_DATA_WRITE adds nothing to check; before the first
	 * bytes there is no buffer to point into (s->in is NULL). */
	if (!len)
		return 0;
	if (reserve(&s->in, &s->in_cap, s->in_len + len) < 0)
		return -ENOMEM;
	memcpy(s->in + s->in_len, data, len);
	s->in_len += len;
	return verify(dev, s);
}

uint8_t *vus_mig_stream_write_place(struct vus_dev *dev, size_t len)
{
	struct vus_mig_stream *s = dev->mig.stream;

	if (!s || s->refused || reserve(&s->in, &s->in_cap, s->in_len + len) < 0)
		return NULL;
	return s->in + s->in_len;
}

int vus_mig_stream_write_placed(struct vus_dev *dev, size_t len)
{
	struct vus_mig_stream *s = dev->mig.stream;

	/* _place reserved the room; checked again in case the stream went. */
	if (!s || s->refused || s->in_len + len > s->in_cap)
		return -EINVAL;
	s->in_len += len;
	return verify(dev, s);
}

int vus_mig_stream_commit(struct vus_dev *dev)
{
	struct vus_mig_stream *s = dev->mig.stream;
	char why[160];
	size_t off;
	int rc;

	if (!s || s->in_len == 0)
		return 0; /* nothing came: an aborted migration, nothing to load */
	if (s->refused)
		return -EINVAL; /* logged when it was refused */
	if (!s->ended) {
		vus_log(dev, VUS_LOG_ERR, "migration stream refused: cut short after %zu bytes "
			"(%u sections, no end marker)", s->in_len, s->sections);
		return -EINVAL;
	}
	/* The interrupt layout must match before the device sees a byte. */
	if (vus_irq_state_check(dev, s->in + s->irqs_off, s->irqs_len, why, sizeof(why)) < 0) {
		vus_log(dev, VUS_LOG_ERR, "migration stream refused: %s", why);
		return -EINVAL;
	}
	for (off = VUS_MIG_STREAM_HDR; off < s->checked;) {
		uint32_t tag = le_get32(s->in + off), len = le_get32(s->in + off + 4);

		if (tag == VUS_MIG_FRAME_DATA && len) {
			rc = dev->mig.ops.load(dev, dev->mig.opaque, s->in + off + VUS_MIG_FRAME_HDR,
					       len);
			if (rc < 0)
				return rc;
		}
		off += VUS_MIG_FRAME_HDR + len;
	}
	s->committed = true;
	return 0;
}

void vus_mig_stream_loaded(struct vus_dev *dev)
{
	struct vus_mig_stream *s = dev->mig.stream;

	if (s && s->committed)
		vus_irq_state_load(dev, s->in + s->irqs_off);
}

void vus_mig_stream_end(struct vus_dev *dev)
{
	struct vus_mig_stream *s = dev->mig.stream;

	if (!s)
		return;
	free(s->pend);
	free(s->in);
	free(s);
	dev->mig.stream = NULL;
}
