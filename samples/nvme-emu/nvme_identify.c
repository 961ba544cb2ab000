/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Identify (NVMe 1.4 5.15): CNS 00h namespace, 01h controller, 02h active
 * namespace list, 03h namespace identification descriptors. Other CNS
 * values: Invalid Field in Command with DNR (Linux tolerates it for 06h).
 * docs/nvme.md "Identify" lists the fields and why each has its value.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "nvme_priv.h"

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* ASCII, space padded, not terminated. */
static void put_str(uint8_t *p, size_t len, const char *s)
{
	size_t l = strlen(s);

	memset(p, ' ', len);
	memcpy(p, s, l < len ? l : len);
}

static void id_ctrl(struct nvme_emu *n, uint8_t *d)
{
	char nqn[256];

	put16(d + 0, NVME_EMU_VENDOR);        /* VID */
	put16(d + 2, NVME_EMU_VENDOR);        /* SSVID */
	put_str(d + 4, 20, n->serial);        /* SN */
	put_str(d + 24, 40, n->model);        /* MN */
	put_str(d + 64, 8, "1.0");            /* FR */
	d[72] = 6;                            /* RAB */
	d[73] = 0x52; d[74] = 0x55; d[75] = 0x56; /* IEEE OUI (locally chosen) */
	d[76] = 0;                            /* CMIC: one port, one controller */
	d[77] = (uint8_t)n->mdts;             /* MDTS: 2^mdts * 4 KiB */
	put16(d + 78, 1);                     /* CNTLID */
	put32(d + 80, 0x00010400);            /* VER 1.4 */
	put32(d + 92, 0);                     /* OAES: no notices (Linux sends no AER) */
	put32(d + 96, 0);                     /* CTRATT */
	d[111] = 1;                           /* CNTRLTYPE: I/O controller */
	put16(d + 256, n->shadow ? 1u << 8 : 0); /* OACS: Doorbell Buffer Config */
	d[258] = NVME_ACL;                    /* ACL */
	d[259] = NVME_AERL;                   /* AERL */
	d[260] = 0x03;                        /* FRMW: 1 slot, slot 1 read-only */
	d[261] = 0x01;                        /* LPA: SMART per namespace */
	d[262] = NVME_ERRLOG - 1;             /* ELPE */
	d[263] = 0;                           /* NPSS: one power state */
	d[264] = 1;                           /* AVSCC */
	put16(d + 266, 0x157);                /* WCTEMP 343 K */
	put16(d + 268, 0x175);                /* CCTEMP 373 K */
	d[512] = 0x66;                        /* SQES: 64 bytes */
	d[513] = 0x44;                        /* CQES: 16 bytes */
	put16(d + 514, 0);                    /* MAXCMD */
	put32(d + 516, n->nn);                /* NN */
	/* ONCS: Compare, DSM, Write Zeroes, Timestamp */
	put16(d + 520, (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6));
	put16(d + 522, 0);                    /* FUSES */
	d[524] = 0;                           /* FNA */
	d[525] = 1;                           /* VWC present */
	put16(d + 526, 0);                    /* AWUN */
	put16(d + 528, 0);                    /* AWUPF */
	/* SGLS: SGLs without alignment requirement, Bit Bucket descriptors. */
	put32(d + 536, (1u << 0) | (1u << 16));
	snprintf(nqn, sizeof(nqn), "nqn.2024-01.io.vus:nvme-emu:%s", n->serial);
	memcpy(d + 768, nqn, strlen(nqn) < 256 ? strlen(nqn) : 255); /* SUBNQN */
	/* Power state 0: 9 W, no entry/exit latency. */
	put16(d + 2048, 900);
}

static void id_ns(const struct nvme_ns *ns, uint8_t *d)
{
	put64(d + 0, ns->nlb);   /* NSZE */
	put64(d + 8, ns->nlb);   /* NCAP */
	put64(d + 16, ns->nlb);  /* NUSE (thin provisioning not reported) */
	d[24] = 0;                 /* NSFEAT */
	d[25] = 0;                 /* NLBAF: one format */
	d[26] = 0;                 /* FLBAS: format 0, no metadata */
	d[27] = 0;                 /* MC */
	d[28] = 0;                 /* DPC */
	d[29] = 0;                 /* DPS */
	d[30] = 0;                 /* NMIC */
	/* DLFEAT: deallocated blocks read as zeroes; Write Zeroes may
	 * deallocate. */
	d[33] = 0x01 | (1u << 3);
	memcpy(d + 104, ns->nguid, 16); /* NGUID */
	/* LBAF0: MS 0, LBADS, RP 0 (best) */
	put32(d + 128, (uint32_t)ns->lba_shift << 16);
}

/* Namespace Identification Descriptors (5.15.2.3): the NGUID. */
static void id_ns_desc(const struct nvme_ns *ns, uint8_t *d)
{
	d[0] = 2;   /* NIDT: NGUID */
	d[1] = 16;  /* NIDL */
	memcpy(d + 4, ns->nguid, 16);
}

struct nvme_res nvme_identify(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint8_t *d = n->bounce;
	uint8_t cns = c->cdw10 & 0xff;
	uint32_t nsid = c->nsid, i, k;
	struct nvme_ns *ns = nvme_ns_get(n, nsid);
	uint16_t st;

	memset(d, 0, NVME_PAGE_SIZE);
	switch (cns) {
	case NVME_CNS_NS:
		/* Every id in 1..NN is active. FFFFFFFFh (the common
		 * namespace capabilities) needs namespace management, which
		 * we do not support. */
		if (!ns)
			return (struct nvme_res){ .status = nvme_sc(NVME_SC_INVALID_NSID, true) };
		id_ns(ns, d);
		break;
	case NVME_CNS_CTRL:
		id_ctrl(n, d);
		break;
	case NVME_CNS_ACTIVE_NS:
		if (nsid >= 0xfffffffe)
			return (struct nvme_res){ .status = nvme_sc(NVME_SC_INVALID_NSID, true) };
		for (i = nsid + 1, k = 0; i <= n->nn; i++, k++)
			put32(d + 4 * k, i);
		break;
	case NVME_CNS_NS_DESC:
		if (!ns)
			return (struct nvme_res){ .status = nvme_sc(NVME_SC_INVALID_NSID, true) };
		id_ns_desc(ns, d);
		break;
	default:
		return (struct nvme_res){ .status = nvme_sc(NVME_SC_INVALID_FIELD, true) };
	}
	st = nvme_dptr_map(n, c, NVME_PAGE_SIZE, true);
	if (!st)
		st = nvme_dptr_copy(n, d, NVME_PAGE_SIZE, true);
	return (struct nvme_res){ .status = st };
}
