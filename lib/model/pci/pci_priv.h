/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI config space and interrupt routing inside struct vus_dev
 * (library-internal; embedded in struct vus_config, dev_priv.h).
 *
 *   config.c        type-0 header, BARs, the access path (masks, RW1C,
 *                   overlays, write hooks), resets
 *   config_caps.c   capability builder: placement, chain, vendor-specific
 *                   and Device Serial Number capabilities
 *   config_pm.c     Power Management (D0/D3hot, No_Soft_Reset)
 *   config_msi.c    MSI capability
 *   config_msix.c   MSI-X capability, table and PBA emulated in a BAR
 *   config_pcie.c   PCI Express capability (FLR)
 *   config_aer.c    Advanced Error Reporting, vus_dev_report_aer()
 *   irq_notify.c    ERR/REQ vector counts as kernel vfio-pci has them
 *   irq_route.c     vus_irq_raise/lower/intx_set_level: which index
 *                   carries a device's interrupt, and what blocks it
 *
 * Locking: dev->irq_lock guards the config bytes after vus_config_init()
 * (interrupt routing reads enable and mask bits from any thread), the
 * MSI-X table and every field below marked (L). Device callbacks (vendor
 * capability ops, the reset callback) always run with it released.
 */
#ifndef VUS_PCI_PRIV_H
#define VUS_PCI_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vus/device.h>

struct vus_dev;

/* Vectors of the MSI and MSI-X capabilities (PCI Local Bus 3.0, 6.8.1:
 * Multiple Message Capable up to 32; 6.8.2: an 11-bit Table Size, so up
 * to 2048); the IRQ indices take the same bounds (device.h). */
#define VUS_MSI_MAX_VECTORS 32u
#define VUS_MSIX_MAX_VECTORS 2048u
/* Most vectors of any index. */
#define VUS_MAX_VECTORS VUS_MSIX_MAX_VECTORS

/* Type 0 header offsets (PCI Local Bus 3.0, 6.1). */
enum {
	CFG_VENDOR_ID = 0x00,
	CFG_DEVICE_ID = 0x02,
	CFG_COMMAND = 0x04,
	CFG_STATUS = 0x06,
	CFG_REVISION = 0x08,
	CFG_CLASS = 0x09,       /* prog-if, sub class, base class */
	CFG_CACHE_LINE = 0x0c,
	CFG_HEADER_TYPE = 0x0e,
	CFG_BAR0 = 0x10,
	CFG_SUBSYS_VENDOR = 0x2c,
	CFG_SUBSYS_ID = 0x2e,
	CFG_ROM = 0x30,
	CFG_CAP_PTR = 0x34,
	CFG_INT_LINE = 0x3c,
	CFG_INT_PIN = 0x3d,
};

enum vus_cap_kind {
	VUS_CAPK_PM,
	VUS_CAPK_MSI,
	VUS_CAPK_MSIX,
	VUS_CAPK_PCIE,
	VUS_CAPK_VENDOR,      /* standard vendor-specific (ID 09h) */
	VUS_CAPK_DSN,         /* extended: Device Serial Number */
	VUS_CAPK_EXT_VENDOR,  /* extended: Vendor-Specific (VSEC) */
	VUS_CAPK_AER,         /* extended: Advanced Error Reporting */
};

/* One capability as the device added it. */
struct vus_cap {
	enum vus_cap_kind kind;
	bool extended;
	uint16_t offset;
	uint16_t len;             /* bytes it occupies in config space */
	uint16_t data_off;        /* vendor caps: first byte of device data */
	uint8_t *data;            /* vendor caps: initial data bytes */
	struct vus_region_ops ops;/* vendor caps: the device's registers */
	void *opaque;
	uint32_t vsec;            /* VSEC: the VSEC header dword */
	uint64_t serial;          /* DSN */
};

struct vus_pm {
	uint16_t off;             /* 0: none */
	bool no_soft_reset;
};

struct vus_msi {
	uint16_t off;             /* 0: none */
	uint32_t nvec;            /* Multiple Message Capable, a power of two */
	bool is64;
	bool pvm;                 /* per-vector masking */
};

struct vus_msix {
	uint16_t off;             /* 0: none */
	uint32_t nvec;
	uint8_t table_bar, pba_bar;
	uint32_t table_off, pba_off;
	uint8_t *table;           /* (L) nvec entries of 16 bytes */
	bool table_live;          /* (L) the client wrote the table this session */
};

struct vus_pcie {
	uint16_t off;             /* 0: none */
	struct vus_pcie_cfg cfg;
};

struct vus_pci {
	struct vus_cap *caps;     /* sorted by offset */
	uint16_t aer_off;         /* 0: no AER capability (config_aer.c) */
	unsigned nr_caps;
	struct vus_pm pm;
	struct vus_msi msi;
	struct vus_msix msix;
	struct vus_pcie pcie;
	uint8_t *w1c;             /* per config byte: bits a 1 clears (RW1C) */
	uint8_t *power_on;        /* the config image at init, for resets */
	/* The INTx line (irq_route.c): asserted by set_level or by vectors
	 * raised while INTx carried them. */
	bool intx_level;                           /* (L) */
	uint64_t intx_src[VUS_MAX_VECTORS / 64];   /* (L) */
};

/* ---- config.c ------------------------------------------------------- */

/* Little-endian register helpers over config bytes. */
uint32_t vus_cfg_get(const uint8_t *p, unsigned len);
void vus_cfg_put(uint8_t *p, uint32_t v, unsigned len);
/* Define a register at off: value, writable bits, RW1C bits (init only). */
void vus_cfg_reg(struct vus_dev *dev, unsigned off, unsigned len, uint32_t val,
		 uint32_t wmask, uint32_t w1c);
/* The Command register's INTx Disable bit ((L) or before init). */
bool vus_cfg_intx_disabled(const struct vus_dev *dev);

/* One library-owned run of a config write, after the masked store. */
struct vus_cfg_write {
	unsigned off, len;
	const uint8_t *old;       /* the bytes before */
	const uint8_t *val;       /* what the client wrote */
};
/* Config byte at was written: its old value and the value written. */
bool vus_cfg_written(const struct vus_cfg_write *w, unsigned at, uint8_t *old, uint8_t *val);

/* What a config write asks of the caller once irq_lock is released. */
#define VUS_CFG_DO_FLR 0x1u   /* function reset: FLR or D3hot->D0 soft reset */

/* ---- config_caps.c -------------------------------------------------- */

/* Record a capability of len bytes at offset (or VUS_CAP_OFFSET_AUTO):
 * the offset used or -errno (device.h "PCI capabilities" rules). *out,
 * if given, points at it until the next add. */
int vus_cap_add(struct vus_dev *dev, enum vus_cap_kind kind, bool extended, uint16_t offset,
		uint16_t len, struct vus_cap **out);
/* Undo vus_cap_add() (a later setup step failed). */
void vus_cap_del(struct vus_dev *dev, uint16_t offset);

/* Check the capabilities against the final layout, write their bytes and
 * masks and link the lists (vus_config_init, header already built). */
int vus_caps_build(struct vus_dev *dev);
/* The capability holding config byte off, or NULL. */
const struct vus_cap *vus_cap_at(const struct vus_dev *dev, unsigned off);
/* A write was stored: run the capability hooks; VUS_CFG_DO_* bits. (L) */
unsigned vus_caps_written(struct vus_dev *dev, const struct vus_cfg_write *w);
/* Replace bytes of a read with state kept outside config bytes. (L) */
void vus_caps_overlay(const struct vus_dev *dev, unsigned off, uint8_t *buf, unsigned len);
/* Back to power-on state after the bytes were restored; before: the
 * bytes as they were (for what a reset keeps). (L) */
void vus_caps_reset(struct vus_dev *dev, const uint8_t *before);
/* The device's capability definitions (vus_dev_free). */
void vus_caps_free(struct vus_dev *dev);

/* ---- config_pm.c / config_msi.c / config_msix.c / config_pcie.c ----- */

void vus_pm_build(struct vus_dev *dev);
unsigned vus_pm_written(struct vus_dev *dev, const struct vus_cfg_write *w);

int vus_msi_build(struct vus_dev *dev);
void vus_msi_overlay(const struct vus_dev *dev, unsigned off, uint8_t *buf, unsigned len);
bool vus_msi_enabled(const struct vus_dev *dev);
/* Messages the guest enabled (Multiple Message Enable, capped at nvec). */
uint32_t vus_msi_enabled_vectors(const struct vus_dev *dev);
/* The guest's config blocks MSI vector v (disabled, beyond the enabled
 * messages, or masked). */
bool vus_msi_blocked(const struct vus_dev *dev, uint32_t v);

/* Before config space is allocated: create the BAR if the device did
 * not, check the layout against it. */
int vus_msix_prepare(struct vus_dev *dev);
/* Registers and the table (after the header is built). */
int vus_msix_build(struct vus_dev *dev);
bool vus_msix_enabled(const struct vus_dev *dev);
/* The guest's config blocks MSI-X vector v (disabled, function mask, or
 * the table entry's mask once the client drives the table). */
bool vus_msix_blocked(const struct vus_dev *dev, uint32_t v);
/* Table entries back to reset values. (L) */
void vus_msix_reset(struct vus_dev *dev);
/* A new client may not drive the table: forget that one did. */
void vus_msix_session_end(struct vus_dev *dev);
void vus_msix_free(struct vus_dev *dev);
/* Region index holds the MSI-X table or PBA: its accesses come here
 * (access.c), which serves those bytes and hands the rest to the device. */
bool vus_msix_in_bar(const struct vus_dev *dev, uint32_t index);
int vus_msix_bar_access(struct vus_dev *dev, uint32_t index, uint64_t offset, uint8_t *buf,
			uint32_t count, bool is_write);

void vus_pcie_build(struct vus_dev *dev);
unsigned vus_pcie_written(struct vus_dev *dev, const struct vus_cfg_write *w);
/* Keep what an FLR keeps (Max Payload Size, ASPM Control). (L) */
void vus_pcie_reset(struct vus_dev *dev, const uint8_t *before);

/* ---- config_aer.c / irq_notify.c ----------------------------------- */

void vus_aer_build(struct vus_dev *dev);
/* ERR and REQ vector counts as kernel vfio-pci reports them (listen time). */
int vus_irq_notify_defaults(struct vus_dev *dev);

/* ---- irq.c ---------------------------------------------------------- */

/* Deliver what is owed on (index, vector) if nothing blocks it: a pending
 * interrupt, or for INTx a line still asserted. (L) */
void vus_irq_update_locked(struct vus_dev *dev, uint32_t index, uint32_t vector);
/* The same for every vector of an index. (L) */
void vus_irq_update_index_locked(struct vus_dev *dev, uint32_t index);

/* ---- irq_route.c ---------------------------------------------------- */

/* The INTx line is asserted. (L) */
bool vus_intx_line(const struct vus_dev *dev);
/* Something other than the client's mask blocks (index, vector). (L) */
bool vus_irq_blocked_by_pci(const struct vus_dev *dev, uint32_t index, uint32_t vector);
/* Function reset: drop the line and every pending interrupt. (L) */
void vus_irq_route_reset(struct vus_dev *dev);

#endif /* VUS_PCI_PRIV_H */
