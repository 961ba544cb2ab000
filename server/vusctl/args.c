/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusctl's argument helpers: numbers, region and IRQ names, and the
 * options a command takes.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vus/proto.h>

#include "vusctl.h"

bool vusctl_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno == 0 && *end == '\0';
}

static const char *const region_names[VUS_PCI_NUM_REGIONS] = {
	"BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM", "config", "VGA",
};

bool vusctl_parse_region(const char *s, uint32_t *out)
{
	uint64_t v;
	uint32_t i;

	for (i = 0; i < VUS_PCI_NUM_REGIONS; i++) {
		if (strcasecmp(s, region_names[i]) == 0) {
			*out = i;
			return true;
		}
	}
	/* QEMU refuses more than 100 regions (docs/protocol.md 6). */
	if (!vusctl_parse_u64(s, &v) || v >= 100)
		return false;
	*out = (uint32_t)v;
	return true;
}

const char *vusctl_region_name(uint32_t index, char *buf, size_t len)
{
	if (index < VUS_PCI_NUM_REGIONS)
		return region_names[index];
	snprintf(buf, len, "region%u", index);
	return buf;
}

const char *vusctl_irq_name(uint32_t index)
{
	static const char *const names[VUS_PCI_NUM_IRQS] = {
		"INTx", "MSI", "MSI-X", "ERR", "REQ",
	};

	return index < VUS_PCI_NUM_IRQS ? names[index] : "?";
}

int vusctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vusctl: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vusctl --help'.\n");
	return VUSCTL_USAGE;
}

static int number(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
	if (!vusctl_parse_u64(s, out))
		return vusctl_usage_error(cmd, "%s: '%s' is not a number", opt, s);
	return -1;
}

static const char *long_name(const struct option *o, int val)
{
	for (; o->name; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

int vusctl_args(int argc, char **argv, const char *cmd, const char *allowed, int min_pos,
		int max_pos, struct vusctl_args *a)
{
	static const struct option longopts[] = {
		{ "len", required_argument, NULL, 'l' },
		{ "width", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "watch", no_argument, NULL, 'W' },
		{ "hex", no_argument, NULL, 'x' },
		{ "header", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	memset(a, 0, sizeof(*a));
	a->width = 4;
	/* A fresh scan of this command's arguments (glibc: optind 0). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-", longopts, NULL)) != -1) {
		if (c == 1) {
			if (a->npos >= max_pos || a->npos >= VUSCTL_MAX_POS)
				return vusctl_usage_error(cmd, "unexpected argument '%s'", optarg);
			a->pos[a->npos++] = optarg;
			continue;
		}
		if (c == '?' || c == ':')
			return vusctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		if (!strchr(allowed, c))
			return vusctl_usage_error(cmd, "option '--%s' does not go with %s",
						  long_name(longopts, c), cmd);
		switch (c) {
		case 'l':
			if ((rc = number(cmd, "--len", optarg, &a->len)) >= 0)
				return rc;
			a->len_set = true;
			break;
		case 'w':
			if ((rc = number(cmd, "--width", optarg, &a->width)) >= 0)
				return rc;
			if (a->width != 1 && a->width != 2 && a->width != 4 && a->width != 8)
				return vusctl_usage_error(cmd, "--width: expected 1, 2, 4 or 8");
			break;
		case 'n':
			if ((rc = number(cmd, "--count", optarg, &a->count)) >= 0)
				return rc;
			break;
		case 'f':
			a->force = true;
			break;
		case 'W':
			a->watch = true;
			break;
		case 'x':
			a->hex = true;
			break;
		case 'H':
			a->header = true;
			break;
		}
	}
	if (a->npos < min_pos)
		return vusctl_usage_error(cmd, "missing arguments");
	return -1;
}

int vusctl_write_bytes(const struct vusctl_args *a, const char *value, uint8_t **buf,
		       size_t *len)
{
	uint64_t v;
	size_t i;

	if (a->hex) {
		if (vusctl_hex_decode(value, buf, len) < 0 || *len == 0)
			return vusctl_usage_error("write", "--hex: '%s' is not an even number of "
						  "hex digits", value);
		return -1;
	}
	if (!vusctl_parse_u64(value, &v))
		return vusctl_usage_error("write", "'%s' is not a number (or use --hex BYTES)",
					  value);
	if (a->width < 8 && v >> (8 * a->width))
		return vusctl_usage_error("write", "0x%llx does not fit in %llu bytes (--width)",
					  (unsigned long long)v, (unsigned long long)a->width);
	*buf = malloc(a->width);
	if (!*buf)
		return VUSCTL_FAILED;
	/* Little-endian, as register data travels (docs/protocol.md 0). */
	for (i = 0; i < a->width; i++)
		(*buf)[i] = (uint8_t)(v >> (8 * i));
	*len = a->width;
	return -1;
}

/* Hex text (the data of write, "data" in replies) to bytes. */
static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vusctl_hex_decode(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s), i;
	uint8_t *b;

	if (n % 2)
		return -1;
	b = malloc(n / 2 + 1);
	if (!b)
		return -1;
	for (i = 0; i < n / 2; i++) {
		int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(b);
			return -1;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	*len = n / 2;
	return 0;
}
