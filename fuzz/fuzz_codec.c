/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the wire codec (include/vus/codec.h): one input
 * is one message, and every decoder -- server and client side -- gets
 * it as its payload, so a mutation that turns a DMA_MAP into a
 * SET_IRQS body is tried by both.
 *
 * Input: [nfds: u8][16-byte header][payload]. The header is fuzzed too:
 * it goes through vus_hdr_check(), and its error field, when non-zero, is
 * the max_xfer bound handed to the decoders that take one.
 *
 * Beyond "no crash, no sanitizer report", decoded results are checked
 * against what the codec promises: pointers inside the payload, counts
 * within bounds, and encode/decode round trips for VERSION, REGION_INFO
 * replies and DMA_READ/WRITE fixed parts. A broken promise aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vus/codec.h>

#define DEFAULT_MAX_XFER (1u << 20)

/* A broken promise of the codec: report it as a crash. */
#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_codec: %s:%d: %s\n", __FILE__, __LINE__, \
				#cond);                                            \
			abort();                                                   \
		}                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const struct vus_msg_view *m, const uint8_t *p, size_t len)
{
	return p >= m->payload && len <= m->len && (size_t)(p - m->payload) <= m->len - len;
}

static void version(const struct vus_msg_view *m)
{
	struct vus_version_msg v, back;
	uint8_t buf[1024];
	struct vus_msg_view bv;
	ssize_t n;

	if (vus_version_decode(m, &v) < 0)
		return;
	(void)vus_version_looks_like_qemu(&v);
	/* Only the keys vus encodes survive a round trip. */
	v.caps.present &= VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER | VUS_CAP_MAX_DMA_MAPS |
			  VUS_CAP_PGSIZES | VUS_CAP_TWIN_SOCKET | VUS_CAP_WRITE_MULTIPLE;
	n = vus_version_encode(buf, sizeof(buf), &v);
	CHECK(n > 0 && (size_t)n <= sizeof(buf));
	bv = (struct vus_msg_view){ .hdr = m->hdr, .payload = buf, .len = (size_t)n };
	CHECK(vus_version_decode(&bv, &back) == 0);
	CHECK(back.major == v.major && back.minor == v.minor);
	if (v.caps.present & VUS_CAP_MAX_MSG_FDS)
		CHECK(back.caps.max_msg_fds == v.caps.max_msg_fds);
	if (v.caps.present & VUS_CAP_MAX_XFER)
		CHECK(back.caps.max_data_xfer_size == v.caps.max_data_xfer_size);
	if (v.caps.present & VUS_CAP_MAX_DMA_MAPS)
		CHECK(back.caps.max_dma_maps == v.caps.max_dma_maps);
	if (v.caps.present & VUS_CAP_PGSIZES)
		CHECK(back.caps.pgsizes == v.caps.pgsizes);
	if (v.caps.present & VUS_CAP_WRITE_MULTIPLE)
		CHECK(back.caps.write_multiple == v.caps.write_multiple);
}

static void server_requests(const struct vus_msg_view *m, uint32_t max_xfer)
{
	struct vus_dma_map map;
	struct vus_dma_unmap um;
	struct vus_device_info di;
	struct vus_region_info ri;
	struct vus_region_io_fds io;
	struct vus_irq_info ii;
	struct vus_irq_set set;
	struct vus_region_access ra;
	struct vus_mig_data md;
	const uint8_t *p;
	uint64_t cnt, i;
	int w;

	if (vus_dma_map_decode(m, &map) == 0) {
		CHECK(map.size > 0 && map.addr + (map.size - 1) >= map.addr);
		CHECK(m->nfds <= 1);
	}
	if (vus_dma_unmap_decode(m, &um) == 0 && !(um.flags & VUS_DMA_UNMAP_FLAG_ALL))
		CHECK(um.size > 0);
	(void)vus_device_info_req_decode(m, &di);
	(void)vus_region_info_req_decode(m, &ri);
	(void)vus_region_io_fds_req_decode(m, &io);
	(void)vus_irq_info_req_decode(m, &ii);
	if (vus_irq_set_decode(m, &set, &p) == 0 && (set.flags & VUS_IRQ_SET_DATA_BOOL))
		CHECK(inside(m, p, set.count));
	for (w = 0; w < 2; w++) {
		if (vus_region_access_decode(m, w, max_xfer, &ra, &p) == 0) {
			CHECK(ra.count <= max_xfer);
			if (w)
				CHECK(inside(m, p, ra.count));
		}
	}
	if (vus_write_multi_decode(m, VUS_WRITE_MULTI_MAX, &cnt) == 0) {
		CHECK(cnt >= 1 && cnt <= VUS_WRITE_MULTI_MAX);
		for (i = 0; i < cnt; i++) {
			struct vus_write_multi_entry e;

			vus_write_multi_entry(m, i, &e);
			CHECK(e.count >= 1 && e.count <= VUS_WRITE_MULTI_DATA_MAX);
		}
	}
	(void)vus_device_reset_decode(m);
	if (vus_mig_data_read_decode(m, max_xfer, &md) == 0)
		CHECK(md.size <= max_xfer);
	if (vus_mig_data_write_decode(m, max_xfer, &md, &p) == 0)
		CHECK(md.size <= max_xfer && inside(m, p, md.size));
}

static void features(const struct vus_msg_view *m)
{
	struct vus_device_feature f;
	struct vus_feature_mig_state ms;
	struct vus_feature_dma_logging_control lc;
	struct vus_feature_dma_logging_report lr;
	const uint8_t *d;
	size_t len;
	uint32_t i;

	if (vus_device_feature_decode(m, &f, &d, &len) == 0) {
		CHECK(len == 0 || inside(m, d, len));
		if (vus_feature_mig_state_decode(d, len, &ms) == 0)
			CHECK(ms.device_state < VUS_MIG_STATE_NR);
		if (vus_feature_logging_start_decode(d, len, &lc) == 0) {
			for (i = 0; i < lc.num_ranges; i++) {
				struct vus_dma_logging_range r;

				vus_dma_logging_range(d, i, &r);
			}
		}
		if (vus_feature_logging_report_decode(d, len, &lr) == 0)
			CHECK(lr.length > 0 && lr.page_size && !(lr.page_size & (lr.page_size - 1)));
	}
	if (vus_device_feature_reply_decode(m, &f, &d, &len) == 0)
		CHECK(len == 0 || inside(m, d, len));
}

/* REGION_INFO: decode as a reply, then encode what came out and decode
 * that again: the encoder's output must satisfy the decoder. */
static void region_info(const struct vus_msg_view *m)
{
	struct vus_sparse_area areas[8], areas2[8];
	struct vus_region_caps caps, caps2;
	struct vus_region_info ri, ri2;
	uint8_t buf[512];
	struct vus_msg_view bv;
	bool fd_ok;
	ssize_t n;

	if (vus_region_info_decode(m, &ri, &caps, areas, 8) != 0)
		return;
	CHECK(caps.nr_areas <= 8 || !caps.sparse);
	if (caps.nr_areas > 8)
		return;
	n = vus_region_info_reply_encode(buf, sizeof(buf), UINT32_MAX, &ri, &caps, &fd_ok);
	if (n < 0)
		return;
	CHECK((size_t)n <= sizeof(buf));
	bv = (struct vus_msg_view){ .hdr = m->hdr, .payload = buf, .len = (size_t)n };
	CHECK(vus_region_info_decode(&bv, &ri2, &caps2, areas2, 8) == 0);
	CHECK(ri2.size == ri.size && ri2.index == ri.index && caps2.nr_areas == caps.nr_areas);
	CHECK(caps2.sparse == caps.sparse && caps2.has_type == caps.has_type);
}

static void client_replies(const struct vus_msg_view *m, uint32_t max_xfer)
{
	struct vus_device_info di;
	struct vus_irq_info ii;
	struct vus_region_access asked;
	struct vus_mig_data md;
	struct vus_dma_rw rw;
	const uint8_t *p;
	uint32_t count;
	int w, layout;

	(void)vus_device_info_decode(m, &di);
	(void)vus_irq_info_decode(m, &ii);
	region_info(m);
	/* Ask for what the payload claims, so the echo checks can pass. */
	memset(&asked, 0, sizeof(asked));
	if (m->len >= sizeof(asked))
		memcpy(&asked, m->payload, sizeof(asked));
	for (w = 0; w < 2; w++) {
		if (vus_region_access_reply_decode(m, w, &asked, &p, &count) == 0) {
			CHECK(count <= asked.count);
			if (!w)
				CHECK(inside(m, p, count));
		}
	}
	if (vus_mig_data_read_reply_decode(m, max_xfer, &md, &p) == 0)
		CHECK(md.size <= max_xfer && inside(m, p, md.size));

	for (layout = VUS_DMA_LAYOUT_SPEC; layout <= VUS_DMA_LAYOUT_QEMU; layout++) {
		for (w = 0; w < 2; w++) {
			uint8_t fixed[sizeof(struct vus_dma_rw)];
			struct vus_msg_view fv = { .hdr = m->hdr, .payload = fixed };
			struct vus_dma_rw back;

			if (vus_dma_rw_req_decode(m, layout, w, max_xfer, &rw, &p) == 0) {
				CHECK(rw.count <= max_xfer);
				if (w)
					CHECK(inside(m, p, rw.count));
				/* The fixed part round-trips. */
				vus_dma_rw_encode(fixed, layout, rw.addr, rw.count);
				fv.len = vus_dma_rw_data_off(layout);
				if (!w && vus_dma_rw_req_decode(&fv, layout, false, max_xfer, &back,
								&p) == 0)
					CHECK(back.addr == rw.addr && back.count == rw.count);
				(void)vus_dma_rw_reply_decode(m, layout, w, rw.addr, rw.count, &p);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vus_msg_view m;
	uint32_t max_xfer;

	if (size < 1 + VUS_HDR_SIZE)
		return 0;
	memset(&m, 0, sizeof(m));
	m.nfds = data[0] % (VUS_MAX_FDS_PER_MSG + 2);
	vus_hdr_decode(data + 1, &m.hdr);
	(void)vus_hdr_check(&m.hdr, UINT32_MAX);
	(void)vus_hdr_is_reply(&m.hdr);
	(void)vus_cmd_name(m.hdr.cmd);
	(void)vus_cmd_max_fds(m.hdr.cmd, vus_hdr_is_reply(&m.hdr));
	/* The payload ends where the input ends: ASan sees any over-read. */
	m.payload = data + 1 + VUS_HDR_SIZE;
	m.len = size - 1 - VUS_HDR_SIZE;
	max_xfer = m.hdr.error ? m.hdr.error : DEFAULT_MAX_XFER;

	version(&m);
	server_requests(&m, max_xfer);
	features(&m);
	client_replies(&m, max_xfer);
	return 0;
}
