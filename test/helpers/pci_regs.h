/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Type 0 config space registers and bits the tests read and write
 * (PCI Local Bus 3.0, 6.1-6.2; PCI Express Base 4.0, 7.5.1). The tests
 * spell them out here rather than take the library's: a test that used
 * the library's own constants would agree with a wrong one.
 */
#ifndef VUS_TEST_PCI_REGS_H
#define VUS_TEST_PCI_REGS_H

#define CFG_VENDOR   0x00
#define CFG_DEVICE   0x02
#define CFG_COMMAND  0x04
#define CFG_STATUS   0x06
#define CFG_CLASS    0x09
#define CFG_HDR_TYPE 0x0e
#define CFG_BAR0     0x10
#define CFG_ROM      0x30
#define CFG_CAP_PTR  0x34
#define CFG_INT_PIN  0x3d

/* Command */
#define CMD_IO       0x0001u
#define CMD_MEMORY   0x0002u
#define CMD_MASTER   0x0004u
#define CMD_SERR     0x0100u
#define CMD_INTX_DIS 0x0400u
/* Status */
#define STATUS_INTX     0x0008u
#define STATUS_CAP_LIST 0x0010u

/* The expansion ROM BAR's address bits: QEMU's PCI_ROM_ADDRESS_MASK. */
#define ROM_ADDR_MASK 0xfffff800u

#endif /* VUS_TEST_PCI_REGS_H */
