/* SPDX-License-Identifier: BSD-3-Clause */
/* VERSION: JSON capability parsing, encoding, and the QEMU fingerprint. */
#include <errno.h>

#include "codec_test.h"
#include "vus_test.h"

/* QEMU 10.x's request JSON, byte for byte with its ", " / ": " spacing. */
static const char qemu_json[] =
	"{\"capabilities\": {\"migration\": {\"pgsize\": 4096, \"max_bitmap_size\": 268435456}, "
	"\"max_msg_fds\": 16, \"max_data_xfer_size\": 1048576, \"pgsizes\": 4096, "
	"\"max_dma_maps\": 65535, \"write_multiple\": true}}";
/* libvfio-user's samples/client.c, which sends minor 2. */
static const char lvu_client_json[] =
	"{\"capabilities\":{\"max_msg_fds\":32,\"max_data_xfer_size\":1024}}";

#define D_FDS VUS_DEFAULT_MAX_MSG_FDS
#define D_XFER VUS_DEFAULT_MAX_DATA_XFER
#define D_MAPS VUS_DEFAULT_MAX_DMA_MAPS
#define D_PGS VUS_DEFAULT_PGSIZES

/* Positional so a table row shows every field it expects. */
#define CAPS(pr, fds, xfer, maps, pgs, twin, idx, wm, mpg, mbm)                          \
	{ .present = (pr), .max_msg_fds = (fds), .max_data_xfer_size = (xfer),           \
	  .max_dma_maps = (maps), .pgsizes = (pgs), .twin_socket = (twin),               \
	  .twin_fd_index = (idx), .write_multiple = (wm), .mig_pgsize = (mpg),           \
	  .mig_max_bitmap_size = (mbm) }
#define CAPS_DEFAULT CAPS(0, D_FDS, D_XFER, D_MAPS, D_PGS, false, -1, false, 0, 0)

static void assert_caps(const char *name, const struct vus_caps *got, const struct vus_caps *want)
{
	if (got->present != want->present || got->max_msg_fds != want->max_msg_fds ||
	    got->max_data_xfer_size != want->max_data_xfer_size ||
	    got->max_dma_maps != want->max_dma_maps || got->pgsizes != want->pgsizes ||
	    got->twin_socket != want->twin_socket || got->twin_fd_index != want->twin_fd_index ||
	    got->write_multiple != want->write_multiple || got->mig_pgsize != want->mig_pgsize ||
	    got->mig_max_bitmap_size != want->mig_max_bitmap_size)
		fail_msg("%s: caps {%#x %u %u %u %#llx %d %d %d %llu %llu}", name, got->present,
			 got->max_msg_fds, got->max_data_xfer_size, got->max_dma_maps,
			 (unsigned long long)got->pgsizes, got->twin_socket, got->twin_fd_index,
			 got->write_multiple, (unsigned long long)got->mig_pgsize,
			 (unsigned long long)got->mig_max_bitmap_size);
}

/* Decode major/minor + json_len raw bytes of JSON (NULs included as given). */
static int decode_raw(uint16_t minor, const char *json, size_t json_len, unsigned nfds,
		      struct vus_version_msg *out)
{
	uint8_t buf[1024];
	struct vus_msg_view v;
	int rc;

	assert_true(json_len <= sizeof(buf) - 4);
	put_u16(buf, 0);
	put_u16(buf + 2, minor);
	memcpy(buf + 4, json, json_len);
	v = tview(buf, 4 + json_len, nfds);
	rc = vus_version_decode(&v, out);
	tview_free(&v);
	return rc;
}

/* NUL-terminated, NUL as the last payload byte (what QEMU sends). */
static int decode_str(uint16_t minor, const char *json, struct vus_version_msg *out)
{
	return decode_raw(minor, json, strlen(json) + 1, 0, out);
}

static void test_qemu_json(void **state)
{
	const struct vus_caps want = CAPS(VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER |
					  VUS_CAP_MAX_DMA_MAPS | VUS_CAP_PGSIZES |
					  VUS_CAP_WRITE_MULTIPLE | VUS_CAP_MIGRATION,
					  16, 1048576, 65535, 4096, false, -1, true, 4096,
					  268435456);
	struct vus_version_msg v;

	ASSERT_OK(decode_str(0, qemu_json, &v));
	ASSERT_EQ(v.major, 0);
	ASSERT_EQ(v.minor, 0);
	assert_true(v.has_json);
	assert_caps("qemu", &v.caps, &want);
	assert_true(vus_version_looks_like_qemu(&v));
}

static void test_lvu_client_json(void **state)
{
	const struct vus_caps want = CAPS(VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER, 32, 1024,
					  D_MAPS, D_PGS, false, -1, false, 0, 0);
	struct vus_version_msg v;

	ASSERT_OK(decode_str(2, lvu_client_json, &v));
	ASSERT_EQ(v.minor, 2);
	assert_caps("libvfio-user client", &v.caps, &want);
	assert_false(vus_version_looks_like_qemu(&v));
	/* Not QEMU even at minor 0: no "migration" object. */
	ASSERT_OK(decode_str(0, lvu_client_json, &v));
	assert_false(vus_version_looks_like_qemu(&v));
}

static void test_no_json(void **state)
{
	const struct vus_caps want = CAPS_DEFAULT;
	struct vus_version_msg v;

	ASSERT_OK(decode_raw(7, "", 0, 0, &v));
	ASSERT_EQ(v.minor, 7);
	assert_false(v.has_json);
	assert_caps("no json", &v.caps, &want);
	assert_false(vus_version_looks_like_qemu(&v));
}

static void test_short_payload_and_fds(void **state)
{
	const uint8_t bytes[4] = { 0 };
	struct vus_version_msg v;

	for (size_t len = 0; len < 4; len++) {
		struct vus_msg_view m = tview(bytes, len, 0);

		ASSERT_ERR(vus_version_decode(&m, &v), -EINVAL);
		tview_free(&m);
	}
	ASSERT_ERR(decode_raw(0, "{}", 3, 1, &v), -EINVAL);
	ASSERT_ERR(decode_raw(0, "", 0, 1, &v), -EINVAL);
}

static void test_good_json(void **state)
{
	static const struct {
		const char *name;
		const char *json;
		size_t len; /* 0: strlen + 1 */
		struct vus_caps want;
	} cases[] = {
		{ "empty object", "{}", 0, CAPS_DEFAULT },
		{ "empty capabilities", "{\"capabilities\":{}}", 0, CAPS_DEFAULT },
		{ "whitespace around", " \n{ } \t", 0, CAPS_DEFAULT },
		{ "unknown keys ignored",
		  "{\"x\":[1,{}],\"capabilities\":{\"y\":\"z\",\"max_msg_fds\":0}}", 0,
		  CAPS(VUS_CAP_MAX_MSG_FDS, 0, D_XFER, D_MAPS, D_PGS, false, -1, false, 0, 0) },
		{ "max_msg_fds 1024", "{\"capabilities\":{\"max_msg_fds\":1024}}", 0,
		  CAPS(VUS_CAP_MAX_MSG_FDS, 1024, D_XFER, D_MAPS, D_PGS, false, -1, false, 0, 0) },
		{ "max xfer u32 max", "{\"capabilities\":{\"max_data_xfer_size\":4294967295}}", 0,
		  CAPS(VUS_CAP_MAX_XFER, D_FDS, UINT32_MAX, D_MAPS, D_PGS, false, -1, false, 0,
		       0) },
		{ "max_dma_maps 1", "{\"capabilities\":{\"max_dma_maps\":1}}", 0,
		  CAPS(VUS_CAP_MAX_DMA_MAPS, D_FDS, D_XFER, 1, D_PGS, false, -1, false, 0, 0) },
		{ "pgsizes u64 max", "{\"capabilities\":{\"pgsizes\":18446744073709551615}}", 0,
		  CAPS(VUS_CAP_PGSIZES, D_FDS, D_XFER, D_MAPS, UINT64_MAX, false, -1, false, 0,
		       0) },
		{ "write_multiple false", "{\"capabilities\":{\"write_multiple\":false}}", 0,
		  CAPS(VUS_CAP_WRITE_MULTIPLE, D_FDS, D_XFER, D_MAPS, D_PGS, false, -1, false, 0,
		       0) },
		{ "twin offer", "{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}", 0,
		  CAPS(VUS_CAP_TWIN_SOCKET, D_FDS, D_XFER, D_MAPS, D_PGS, true, -1, false, 0, 0) },
		{ "twin reply",
		  "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}", 0,
		  CAPS(VUS_CAP_TWIN_SOCKET, D_FDS, D_XFER, D_MAPS, D_PGS, true, 0, false, 0, 0) },
		{ "twin empty object", "{\"capabilities\":{\"twin_socket\":{}}}", 0,
		  CAPS(VUS_CAP_TWIN_SOCKET, D_FDS, D_XFER, D_MAPS, D_PGS, false, -1, false, 0, 0) },
		{ "twin fd_index 1023", "{\"capabilities\":{\"twin_socket\":{\"fd_index\":1023}}}",
		  0,
		  CAPS(VUS_CAP_TWIN_SOCKET, D_FDS, D_XFER, D_MAPS, D_PGS, false, 1023, false, 0,
		       0) },
		{ "migration empty", "{\"capabilities\":{\"migration\":{}}}", 0,
		  CAPS(VUS_CAP_MIGRATION, D_FDS, D_XFER, D_MAPS, D_PGS, false, -1, false, 0, 0) },
		{ "migration big", "{\"capabilities\":{\"migration\":{\"pgsize\":65536,"
				   "\"max_bitmap_size\":18446744073709551615}}}", 0,
		  CAPS(VUS_CAP_MIGRATION, D_FDS, D_XFER, D_MAPS, D_PGS, false, -1, false, 65536,
		       UINT64_MAX) },
		/* The first NUL ends the JSON; what follows it is ignored. */
		{ "bytes after the NUL", "{}\0garbage\0", 11, CAPS_DEFAULT },
		{ "no NUL at the very end", "{}\0xyz", 6, CAPS_DEFAULT },
		{ "several NULs", "{}\0\0\0", 5, CAPS_DEFAULT },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].json) + 1;
		struct vus_version_msg v;

		expect_rc(cases[i].name, decode_raw(0, cases[i].json, len, 0, &v), 0);
		assert_true(v.has_json);
		assert_caps(cases[i].name, &v.caps, &cases[i].want);
	}
}

static void test_bad_json(void **state)
{
	static const struct {
		const char *json;
		size_t len; /* 0: strlen + 1 */
	} cases[] = {
		/* framing */
		{ "{}", 2 },              /* no NUL in the payload */
		{ "{\"capabilities\":{}}", 19 },
		{ "", 0 },                /* a lone NUL: empty text */
		{ " \n ", 0 },
		{ "\0{}", 4 },            /* the first NUL ends an empty text */
		/* not one JSON object */
		{ "[]", 0 }, { "\"str\"", 0 }, { "123", 0 }, { "null", 0 }, { "true", 0 },
		{ "{", 0 }, { "{\"a\":", 0 }, { "{} x", 0 }, { "{}{}", 0 }, { "{\"a\":1,}", 0 },
		{ "{\"a\":01}", 0 },
		/* capabilities not an object */
		{ "{\"capabilities\":[]}", 0 }, { "{\"capabilities\":1}", 0 },
		{ "{\"capabilities\":null}", 0 }, { "{\"capabilities\":\"\"}", 0 },
		/* max_msg_fds */
		{ "{\"capabilities\":{\"max_msg_fds\":1025}}", 0 },
		{ "{\"capabilities\":{\"max_msg_fds\":-1}}", 0 },
		{ "{\"capabilities\":{\"max_msg_fds\":\"16\"}}", 0 },
		{ "{\"capabilities\":{\"max_msg_fds\":16.0}}", 0 },
		{ "{\"capabilities\":{\"max_msg_fds\":1e1}}", 0 },
		{ "{\"capabilities\":{\"max_msg_fds\":true}}", 0 },
		{ "{\"capabilities\":{\"max_msg_fds\":null}}", 0 },
		{ "{\"capabilities\":{\"max_msg_fds\":18446744073709551616}}", 0 },
		/* max_data_xfer_size */
		{ "{\"capabilities\":{\"max_data_xfer_size\":0}}", 0 },
		{ "{\"capabilities\":{\"max_data_xfer_size\":4294967296}}", 0 },
		{ "{\"capabilities\":{\"max_data_xfer_size\":-1048576}}", 0 },
		{ "{\"capabilities\":{\"max_data_xfer_size\":\"1048576\"}}", 0 },
		{ "{\"capabilities\":{\"max_data_xfer_size\":1048576.5}}", 0 },
		/* max_dma_maps, pgsizes */
		{ "{\"capabilities\":{\"max_dma_maps\":0}}", 0 },
		{ "{\"capabilities\":{\"max_dma_maps\":4294967296}}", 0 },
		{ "{\"capabilities\":{\"max_dma_maps\":[1]}}", 0 },
		{ "{\"capabilities\":{\"pgsizes\":0}}", 0 },
		{ "{\"capabilities\":{\"pgsizes\":-4096}}", 0 },
		{ "{\"capabilities\":{\"pgsizes\":{}}}", 0 },
		/* write_multiple */
		{ "{\"capabilities\":{\"write_multiple\":1}}", 0 },
		{ "{\"capabilities\":{\"write_multiple\":\"true\"}}", 0 },
		{ "{\"capabilities\":{\"write_multiple\":null}}", 0 },
		/* twin_socket */
		{ "{\"capabilities\":{\"twin_socket\":true}}", 0 },
		{ "{\"capabilities\":{\"twin_socket\":[]}}", 0 },
		{ "{\"capabilities\":{\"twin_socket\":{\"supported\":1}}}", 0 },
		{ "{\"capabilities\":{\"twin_socket\":{\"supported\":\"yes\"}}}", 0 },
		{ "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":-1}}}", 0 },
		{ "{\"capabilities\":{\"twin_socket\":{\"fd_index\":1024}}}", 0 },
		{ "{\"capabilities\":{\"twin_socket\":{\"fd_index\":\"0\"}}}", 0 },
		/* migration */
		{ "{\"capabilities\":{\"migration\":1}}", 0 },
		{ "{\"capabilities\":{\"migration\":{\"pgsize\":0}}}", 0 },
		{ "{\"capabilities\":{\"migration\":{\"pgsize\":\"4096\"}}}", 0 },
		{ "{\"capabilities\":{\"migration\":{\"pgsize\":4096.0}}}", 0 },
		{ "{\"capabilities\":{\"migration\":{\"max_bitmap_size\":-1}}}", 0 },
		{ "{\"capabilities\":{\"migration\":{\"max_bitmap_size\":0}}}", 0 },
		/* one bad key spoils otherwise valid QEMU-style JSON */
		{ "{\"capabilities\": {\"migration\": {\"pgsize\": 4096}, \"max_msg_fds\": 16, "
		  "\"write_multiple\": 1}}", 0 },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].json) + 1;
		struct vus_version_msg v;

		expect_rc(cases[i].json, decode_raw(0, cases[i].json, len, 0, &v), -EINVAL);
	}
}

/* Encode into an odd-aligned buffer; check the exact text and length. */
static void expect_encoded(const char *name, const struct vus_version_msg *v, const char *json)
{
	uint8_t buf[512 + 1];
	size_t want = 4 + (json ? strlen(json) + 1 : 0);
	ssize_t n = vus_version_encode(buf + 1, sizeof(buf) - 1, v);

	expect_rc(name, n, (ssize_t)want);
	ASSERT_EQ(get_u16(buf + 1), v->major);
	ASSERT_EQ(get_u16(buf + 3), v->minor);
	if (json) {
		if (memcmp(buf + 5, json, strlen(json) + 1) != 0)
			fail_msg("%s: encoded %.*s\nwant    %s", name, (int)(n - 4), buf + 5, json);
	}
	/* Every shorter buffer is refused, never truncated. */
	for (size_t cap = 0; cap < want; cap++)
		expect_rc(name, vus_version_encode(buf + 1, cap, v), -ENOSPC);
}

static void test_encode(void **state)
{
	struct vus_version_msg v = { .major = 0, .minor = 2 };

	vus_caps_defaults(&v.caps);
	expect_encoded("no json", &v, NULL);

	v.has_json = true;
	expect_encoded("empty caps", &v, "{\"capabilities\":{}}");

	/* What vus answers QEMU: docs/protocol.md 3.1. */
	v.minor = 0;
	v.caps.present = VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER | VUS_CAP_MAX_DMA_MAPS |
			 VUS_CAP_PGSIZES | VUS_CAP_WRITE_MULTIPLE;
	v.caps.max_msg_fds = 16;
	v.caps.write_multiple = true;
	expect_encoded("vus to qemu", &v,
		       "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
		       "\"max_dma_maps\":65535,\"pgsizes\":4096,\"write_multiple\":true}}");

	/* Every key, in the fixed order, whatever order present was built in. */
	v.caps.present = VUS_CAP_MIGRATION | VUS_CAP_TWIN_SOCKET | VUS_CAP_WRITE_MULTIPLE |
			 VUS_CAP_PGSIZES | VUS_CAP_MAX_DMA_MAPS | VUS_CAP_MAX_XFER |
			 VUS_CAP_MAX_MSG_FDS;
	v.caps.twin_socket = true;
	v.caps.twin_fd_index = 0;
	v.caps.write_multiple = false;
	v.caps.pgsizes = UINT64_MAX;
	v.caps.mig_pgsize = 4096;
	v.caps.mig_max_bitmap_size = 268435456;
	expect_encoded("all", &v,
		       "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
		       "\"max_dma_maps\":65535,\"pgsizes\":18446744073709551615,"
		       "\"twin_socket\":{\"supported\":true,\"fd_index\":0},"
		       "\"write_multiple\":false,"
		       "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":268435456}}}");

	/* present alone implies JSON; absent sub-fields are left out. */
	v.has_json = false;
	v.caps.present = VUS_CAP_TWIN_SOCKET | VUS_CAP_MIGRATION;
	v.caps.twin_fd_index = -1;
	v.caps.mig_pgsize = 0;
	expect_encoded("partial objects", &v,
		       "{\"capabilities\":{\"twin_socket\":{\"supported\":true},"
		       "\"migration\":{\"max_bitmap_size\":268435456}}}");
	v.caps.present = VUS_CAP_MIGRATION;
	v.caps.mig_max_bitmap_size = 0;
	expect_encoded("empty migration", &v, "{\"capabilities\":{\"migration\":{}}}");
}

static void test_round_trip(void **state)
{
	static const struct vus_caps caps[] = {
		CAPS(0, D_FDS, D_XFER, D_MAPS, D_PGS, false, -1, false, 0, 0),
		CAPS(VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER, 0, 1, D_MAPS, D_PGS, false, -1,
		     false, 0, 0),
		CAPS(VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER | VUS_CAP_MAX_DMA_MAPS |
		     VUS_CAP_PGSIZES | VUS_CAP_TWIN_SOCKET | VUS_CAP_WRITE_MULTIPLE |
		     VUS_CAP_MIGRATION,
		     1024, UINT32_MAX, UINT32_MAX, UINT64_MAX, true, 1023, true, UINT64_MAX, 1),
		CAPS(VUS_CAP_TWIN_SOCKET | VUS_CAP_WRITE_MULTIPLE, D_FDS, D_XFER, D_MAPS, D_PGS,
		     false, -1, true, 0, 0),
		CAPS(VUS_CAP_MIGRATION, D_FDS, D_XFER, D_MAPS, D_PGS, false, -1, false, 4096, 0),
	};

	for (size_t i = 0; i < ARRAY_LEN(caps); i++) {
		struct vus_version_msg in = { .major = 0, .minor = (uint16_t)i, .has_json = true,
					      .caps = caps[i] }, out;
		uint8_t buf[512];
		ssize_t n = vus_version_encode(buf, sizeof(buf), &in);
		struct vus_msg_view m;
		char name[32];

		snprintf(name, sizeof(name), "round trip %zu", i);
		assert_true(n > 4);
		ASSERT_EQ(buf[n - 1], '\0');
		m = tview(buf, (size_t)n, 0);
		expect_rc(name, vus_version_decode(&m, &out), 0);
		tview_free(&m);
		ASSERT_EQ(out.minor, in.minor);
		assert_true(out.has_json);
		assert_caps(name, &out.caps, &in.caps);
	}
}

static void test_fingerprint(void **state)
{
	static const struct {
		const char *name;
		uint16_t minor;
		uint32_t present;
		bool qemu;
	} cases[] = {
		{ "qemu", 0, VUS_CAP_MIGRATION | VUS_CAP_MAX_MSG_FDS, true },
		{ "migration only", 0, VUS_CAP_MIGRATION, true },
		{ "minor 1", 1, VUS_CAP_MIGRATION, false },
		{ "twin offered", 0, VUS_CAP_MIGRATION | VUS_CAP_TWIN_SOCKET, false },
		{ "no migration", 0, VUS_CAP_MAX_MSG_FDS | VUS_CAP_WRITE_MULTIPLE, false },
		{ "nothing", 0, 0, false },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct vus_version_msg v = { .minor = cases[i].minor, .has_json = true };

		vus_caps_defaults(&v.caps);
		v.caps.present = cases[i].present;
		if (vus_version_looks_like_qemu(&v) != cases[i].qemu)
			fail_msg("%s: fingerprint wrong", cases[i].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_json),
		cmocka_unit_test(test_lvu_client_json),
		cmocka_unit_test(test_no_json),
		cmocka_unit_test(test_short_payload_and_fds),
		cmocka_unit_test(test_good_json),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_fingerprint),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
