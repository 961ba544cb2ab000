/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The framed migration stream (library-internal; docs/migration.md
 * "Stream format"): for a device that sets VUS_MIGRATION_FRAMED, the
 * library wraps what its save() produces in a self-describing stream
 * (magic, version, PCI identity, sections with lengths and CRC32C, an end
 * marker) and checks all of it before the device's load() sees a byte.
 */
#ifndef VUS_MIG_STREAM_H
#define VUS_MIG_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vus_dev;

#define VUS_MIG_STREAM_MAGIC   0x4d535556u /* "VUSM" */
/* 2: the IRQS section (interrupts the library owes) before the end. */
#define VUS_MIG_STREAM_VERSION 2u
#define VUS_MIG_STREAM_HDR     32u
#define VUS_MIG_FRAME_HDR      12u
#define VUS_MIG_FRAME_DATA     0x41544144u /* "DATA" */
#define VUS_MIG_FRAME_END      0x21444e45u /* "END!" */
#define VUS_MIG_FRAME_IRQS     0x53515249u /* "IRQS" */
/* Largest IRQS section: 3 indices of at most 2048 vectors and the INTx
 * sources (lib/model/irq/irq_state.c). */
#define VUS_MIG_IRQS_MAX       4096u
/* Largest section accepted (the sender's sections are at most one
 * MIG_DATA_READ, itself at most 64 MiB). */
#define VUS_MIG_FRAME_MAX      (64u << 20)

/* CRC32C (Castagnoli), as in iSCSI and ext4: crc 0 to start. */
uint32_t vus_crc32c(uint32_t crc, const void *buf, size_t len);

/* Saving begins (arc into PRE_COPY/PRE_COPY_P2P/STOP_COPY from outside
 * them): the stream header is queued. -ENOMEM. */
int vus_mig_stream_save_begin(struct vus_dev *dev);
/* MIG_DATA_READ of up to len bytes; fewer means "no more for now" (in
 * STOP_COPY, after the end marker: the end). -errno from save(). */
ssize_t vus_mig_stream_read(struct vus_dev *dev, uint8_t *buf, size_t len, int stop_copy);
/* Resuming begins: an empty receive buffer. -ENOMEM. */
int vus_mig_stream_load_begin(struct vus_dev *dev);
/* MIG_DATA_WRITE: buffered; the header and each section are checked as
 * they complete (-EINVAL, logged, and the stream is refused for good). */
int vus_mig_stream_write(struct vus_dev *dev, const uint8_t *data, size_t len);
/*
 * The same in two steps, for data received straight into the stream's
 * buffer (docs/performance.md "Zero-copy bulk transfers"): _place
 * returns where len bytes go (NULL: no stream, refused, or no memory),
 * _placed takes them once they are there. Data placed but never taken
 * (the client went mid-payload) is ignored.
 */
uint8_t *vus_mig_stream_write_place(struct vus_dev *dev, size_t len);
int vus_mig_stream_write_placed(struct vus_dev *dev, size_t len);
/* RESUMING -> STOP, before the device's transition: the whole stream
 * checked, then fed to load(). An empty stream feeds nothing (an aborted
 * migration). -EINVAL with a log line naming what is wrong. The stream
 * stays until vus_mig_stream_end() (vus_mig_stream_loaded() first). */
int vus_mig_stream_commit(struct vus_dev *dev);
/* After the device's transition out of RESUMING succeeded: the stream's
 * interrupt state replaces the device's (whatever its transition raised
 * again for causes in its registers), so an interrupt the source delivered
 * is not delivered twice and one it held is delivered once. */
void vus_mig_stream_loaded(struct vus_dev *dev);
/* Drop whatever is buffered (leaving the saving/resuming states, reset). */
void vus_mig_stream_end(struct vus_dev *dev);

#endif /* VUS_MIG_STREAM_H */
