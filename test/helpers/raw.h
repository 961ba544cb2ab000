/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A raw-bytes vfio-user peer for wire-level tests: sends any bytes and
 * fds on a socket and reads back whole messages, with timeouts. Nothing
 * is checked here; the tests check everything.
 */
#ifndef VUS_TEST_RAW_H
#define VUS_TEST_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vus/proto.h>

#define RAW_MAX_FDS 16

struct raw_msg {
	struct vus_hdr hdr;
	uint8_t *payload;       /* hdr.size - 16 bytes, malloc'ed */
	size_t len;
	int fds[RAW_MAX_FDS];   /* received with the header */
	unsigned nfds;
};

/* Connect a blocking AF_UNIX stream socket to path; -errno on failure. */
int raw_connect(const char *path);

/* Send bytes with fds attached to the first byte (one sendmsg, looped on
 * short writes). 0 or -errno. */
int raw_send_bytes(int fd, const void *bytes, size_t len, const int *fds, unsigned nfds);

/* Send a message: header (size = 16 + len) + payload. 0 or -errno. */
int raw_send(int fd, uint16_t id, uint16_t cmd, uint32_t flags, const void *payload,
	     size_t len, const int *fds, unsigned nfds);

/*
 * Read one whole message within timeout_ms: 0, -ETIMEDOUT, -ECONNRESET
 * (EOF), -EPROTO (size < 16). Free with raw_msg_free().
 */
int raw_recv(int fd, struct raw_msg *m, int timeout_ms);
/* Free the payload and close received fds. */
void raw_msg_free(struct raw_msg *m);

/* True if nothing at all arrives on fd within ms (no reply, no EOF). */
bool raw_nothing_within(int fd, int ms);
/* True if the peer closes the connection within ms (EOF or reset), after
 * discarding whatever arrives before that. */
bool raw_closed_within(int fd, int ms);

/*
 * Send VERSION with json (NUL included; NULL = a spec client's
 * {"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576}}) and
 * minor, and read the reply into *reply (may be NULL: freed here).
 * Returns 0 if a non-error VERSION reply came, else -errno.
 */
int raw_version(int fd, uint16_t minor, const char *json, struct raw_msg *reply);

/* QEMU 10.x's VERSION JSON, byte for byte in its spacing (docs/qemu.md "VERSION"). */
extern const char raw_qemu_version_json[];

/* Send a command and read its reply (any id); 0 or -errno of raw_recv. */
int raw_call(int fd, uint16_t id, uint16_t cmd, const void *payload, size_t len,
	     const int *fds, unsigned nfds, struct raw_msg *reply);

/* Read the payload u32/u64 at off (unaligned). */
uint32_t raw_u32(const struct raw_msg *m, size_t off);
uint64_t raw_u64(const struct raw_msg *m, size_t off);

#endif /* VUS_TEST_RAW_H */
