/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The `info` object (docs/control.md "info"), built in one place for both
 * of its sources: vusd describes a device it serves (control_dev.c),
 * vusctl a device it reached as a client (vusctl/direct.c). Each fills
 * the neutral descriptions below from what it can see.
 */
#ifndef VUSD_INFO_JSON_H
#define VUSD_INFO_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <vus/proto.h>

struct json_object;

/* Bytes of config space pci_json reads: the type 0 header to 0x30. */
#define INFO_PCI_HDR_LEN 0x30u

/* One region as `info` shows it. */
struct info_region {
	uint32_t index;
	uint64_t size;
	bool read, write, mmap, fd_backed;
	int callbacks;                       /* 0/1, or -1: unknown (client's view) */
	const char *bar;                     /* "io", "mem32", "mem64", NULL: not a BAR */
	bool prefetchable;
	bool has_areas;                      /* "areas" present (may be empty) */
	uint32_t nr_areas;
	const struct vus_sparse_area *areas;
	bool has_type;
	uint32_t type, subtype;
};

/* "pci": ids, revision, class code from the header (PCI 3.0 6.1). */
struct json_object *info_pci_json(const uint8_t hdr[INFO_PCI_HDR_LEN]);
/* The BAR kind of BAR index from its register in the header (PCI 3.0
 * 6.2.5.1: bit 0 I/O; bits 2:1 type, 2 = 64-bit; bit 3 prefetchable). */
void info_bar_from_hdr(const uint8_t hdr[INFO_PCI_HDR_LEN], uint32_t index,
		       struct info_region *r);
struct json_object *info_region_json(const struct info_region *r);
/* index, count and the GET_IRQ_INFO flags by name. */
struct json_object *info_irq_json(uint32_t index, uint32_t count, uint32_t flags);

#endif /* VUSD_INFO_JSON_H */
