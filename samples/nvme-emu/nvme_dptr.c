/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data pointers (NVMe 1.4 4.3 PRPs, 4.4 SGLs) -> a list of guest memory
 * segments, and the copies through it. Everything here is guest input:
 * offsets, list pointers, descriptor types and lengths are checked and
 * answered with the specification's status, list walks are bounded.
 * docs/nvme.md "Data pointers".
 */
#include <endian.h>
#include <string.h>

#include "nvme_priv.h"

#define PAGE NVME_PAGE_SIZE

static uint16_t st(uint16_t sc)
{
	return nvme_sc(sc, true);
}

/* Append, merging with the previous segment when contiguous. */
static bool seg_add(struct nvme_sglist *l, uint64_t iova, uint32_t len)
{
	struct nvme_seg *last = l->nseg ? &l->seg[l->nseg - 1] : NULL;

	if (!len)
		return true;
	l->len += len;
	if (last && last->iova != NVME_SEG_BITBUCKET && iova != NVME_SEG_BITBUCKET &&
	    last->iova + last->len == iova && (uint64_t)last->len + len <= UINT32_MAX) {
		last->len += len;
		return true;
	}
	if (l->nseg == NVME_MAX_SEGS)
		return false;
	l->seg[l->nseg].iova = iova;
	l->seg[l->nseg].len = len;
	l->nseg++;
	return true;
}

/*
 * PRP1 covers up to the end of its page (its offset must be dword
 * aligned); the rest is PRP2 as a second page (offset 0) when it fits in
 * one page, else PRP2 points at a PRP list (qword aligned, any offset)
 * whose entries are page aligned and whose last entry in each list page
 * chains to the next list page when more entries are needed.
 */
uint16_t nvme_prp_walk(const struct nvme_sqe *c, uint64_t len, nvme_mem_read_fn rd, void *opaque,
		       struct nvme_sglist *out)
{
	uint64_t prp1 = le64toh(c->prp1), prp2 = le64toh(c->prp2), list, rem;
	uint64_t ents[PAGE / 8];
	uint32_t first, nent, need, i;

	out->nseg = 0;
	out->len = 0;
	if (!len)
		return 0;
	if (prp1 & 3)
		return st(NVME_SC_PRP_OFFSET_INVALID);
	first = PAGE - (uint32_t)(prp1 & (PAGE - 1));
	if (first > len)
		first = (uint32_t)len;
	seg_add(out, prp1, first);
	rem = len - first;
	if (!rem)
		return 0;
	if (rem <= PAGE) {
		if (prp2 & (PAGE - 1))
			return st(NVME_SC_PRP_OFFSET_INVALID);
		seg_add(out, prp2, (uint32_t)rem);
		return 0;
	}
	if (prp2 & 7)
		return st(NVME_SC_PRP_OFFSET_INVALID);
	list = prp2;
	while (rem) {
		nent = (uint32_t)((PAGE - (list & (PAGE - 1))) / 8);
		need = (uint32_t)((rem + PAGE - 1) / PAGE);
		/* All remaining entries fit: no chain entry in this page. */
		if (need <= nent)
			nent = need;
		if (rd(opaque, list, ents, (size_t)nent * 8) < 0)
			return st(NVME_SC_DATA_XFER_ERROR);
		for (i = 0; i < nent; i++) {
			uint64_t e = le64toh(ents[i]);
			uint32_t l;

			if (e & (PAGE - 1))
				return st(NVME_SC_PRP_OFFSET_INVALID);
			if (i == nent - 1 && need > nent) {
				list = e; /* chain to the next list page */
				break;
			}
			l = rem < PAGE ? (uint32_t)rem : PAGE;
			if (!seg_add(out, e, l))
				return st(NVME_SC_INVALID_FIELD);
			rem -= l;
		}
	}
	return 0;
}

/* ---- SGLs ---------------------------------------------------------- */

static uint8_t sgl_type(const struct nvme_sgl_desc *d)
{
	return d->type >> 4;
}

/*
 * One descriptor that is not a segment pointer. Data Block and Bit
 * Bucket with subtype 0 (address); anything else is SGL Descriptor Type
 * Invalid. More data described than the command moves is Data SGL
 * Length Invalid (SGLS does not advertise excess data).
 */
static uint16_t sgl_data(const struct nvme_sgl_desc *d, uint64_t len, struct nvme_sglist *out)
{
	uint32_t l = le32toh(d->len);
	uint8_t t = sgl_type(d);

	if ((d->type & 0xf) != 0 || (t != NVME_SGL_DATA_BLOCK && t != NVME_SGL_BIT_BUCKET))
		return st(NVME_SC_SGL_DESC_TYPE_INVALID);
	if (out->len + l > len)
		return st(NVME_SC_DATA_SGL_LEN_INVALID);
	if (!seg_add(out, t == NVME_SGL_BIT_BUCKET ? NVME_SEG_BITBUCKET : le64toh(d->addr), l))
		return st(NVME_SC_INVALID_NUM_SGL_DESC);
	return 0;
}

static bool is_seg_type(uint8_t t)
{
	return t == NVME_SGL_SEGMENT || t == NVME_SGL_LAST_SEGMENT;
}

uint16_t nvme_sgl_walk(const struct nvme_sqe *c, uint64_t len, nvme_mem_read_fn rd, void *opaque,
		       struct nvme_sglist *out)
{
	struct nvme_sgl_desc d, buf[PAGE / 16];
	uint32_t walked = 0, n, i, chunk, done;
	uint16_t s;

	out->nseg = 0;
	out->len = 0;
	memcpy(&d, &c->prp1, sizeof(d));
	/* The SQE's SGL1 is a data descriptor or points at the first segment. */
	while (is_seg_type(sgl_type(&d))) {
		bool last = sgl_type(&d) == NVME_SGL_LAST_SEGMENT;
		uint64_t addr = le64toh(d.addr);
		uint32_t l = le32toh(d.len);

		if ((d.type & 0xf) != 0)
			return st(NVME_SC_SGL_DESC_TYPE_INVALID);
		/* Figure 128, Invalid SGL Segment Descriptor: a length of zero
		 * or not a multiple of 16. */
		if (!l || l % 16)
			return st(NVME_SC_INVALID_SGL_SEG_DESC);
		n = l / 16;
		if (walked + n > NVME_SGL_MAX_DESC)
			return st(NVME_SC_INVALID_NUM_SGL_DESC);
		walked += n;
		/* Read the segment in pages; the last descriptor of a
		 * (non-last) segment may chain to the next one. */
		for (done = 0; done < n; done += chunk) {
			chunk = n - done < PAGE / 16 ? n - done : PAGE / 16;
			if (rd(opaque, addr + (uint64_t)done * 16, buf, (size_t)chunk * 16) < 0)
				return st(NVME_SC_DATA_XFER_ERROR);
			for (i = 0; i < chunk; i++) {
				bool final = done + i == n - 1;

				/* A segment pointer only as the last descriptor,
				 * never inside a Last Segment (Figure 128). */
				if (is_seg_type(sgl_type(&buf[i]))) {
					if (!final || last)
						return st(NVME_SC_INVALID_SGL_SEG_DESC);
					d = buf[i];
					break;
				}
				s = sgl_data(&buf[i], len, out);
				if (s)
					return s;
				if (final) {
					/* A Segment must end in a segment pointer. */
					if (!last)
						return st(NVME_SC_INVALID_SGL_SEG_DESC);
					d.type = 0xff; /* done */
				}
			}
		}
		if (d.type == 0xff)
			break;
	}
	if (d.type != 0xff) {
		s = sgl_data(&d, len, out);
		if (s)
			return s;
	}
	if (out->len != len)
		return st(NVME_SC_DATA_SGL_LEN_INVALID);
	return 0;
}

/* ---- through the vus DMA API --------------------------------------- */

static int dma_rd(void *opaque, uint64_t iova, void *buf, size_t len)
{
	struct nvme_emu *n = opaque;

	return vus_dma_read(n->dev, iova, buf, len);
}

uint16_t nvme_dptr_map(struct nvme_emu *n, const struct nvme_sqe *c, uint64_t len, bool admin)
{
	switch (NVME_SQE_PSDT(c->flags)) {
	case 0:
		return nvme_prp_walk(c, len, dma_rd, n, &n->sgl);
	case 1:
	case 2:
		/* MPTR is unused: namespaces carry no metadata. */
		if (admin)
			return st(NVME_SC_INVALID_FIELD);
		return nvme_sgl_walk(c, len, dma_rd, n, &n->sgl);
	default:
		return st(NVME_SC_INVALID_FIELD);
	}
}

uint16_t nvme_dptr_copy(struct nvme_emu *n, void *buf, uint64_t len, bool to_guest)
{
	const struct nvme_sglist *l = &n->sgl;
	uint8_t *p = buf;
	uint64_t off = 0;
	uint32_t i;
	int rc;

	for (i = 0; i < l->nseg && off < len; i++) {
		const struct nvme_seg *s = &l->seg[i];
		uint64_t cnt = s->len < len - off ? s->len : len - off;

		if (s->iova == NVME_SEG_BITBUCKET) {
			/* Read data is discarded; a write has no data there. */
			if (!to_guest)
				return st(NVME_SC_SGL_DESC_TYPE_INVALID);
			off += cnt;
			continue;
		}
		rc = to_guest ? vus_dma_write(n->dev, s->iova, p + off, cnt)
			      : vus_dma_read(n->dev, s->iova, p + off, cnt);
		if (rc < 0)
			return nvme_sc(NVME_SC_DATA_XFER_ERROR, false);
		off += cnt;
	}
	return 0;
}
