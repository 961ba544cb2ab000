/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusctl output. A device described over its own socket and one described
 * by vusd arrive as the same JSON shape (docs/control.md "info"), so one
 * printer serves both; keys only one side knows are printed when present.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "vusctl.h"

void vusctl_print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v ? json_object_get_uint64(v) : 0;
}

static bool get_bool(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v && json_object_get_boolean(v);
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* ---- info ----------------------------------------------------------- */

static void print_region(struct json_object *r)
{
	struct json_object *areas = get(r, "areas");
	char name[16];
	size_t i;

	printf("  %-7s size 0x%-9" PRIx64 " %s%s", vusctl_region_name((uint32_t)get_u64(r, "index"),
							       name, sizeof(name)),
	       get_u64(r, "size"), get_bool(r, "read") ? "r" : "-",
	       get_bool(r, "write") ? "w" : "-");
	if (get_str(r, "bar"))
		printf(" %s%s", get_str(r, "bar"), get_bool(r, "prefetchable") ? " prefetch" : "");
	if (get_bool(r, "callbacks"))
		printf(" callbacks");
	if (get_bool(r, "fd_backed"))
		printf(" fd-backed");
	if (get_bool(r, "mmap")) {
		printf(" mmap");
		for (i = 0; areas && i < json_object_array_length(areas); i++) {
			struct json_object *a = json_object_array_get_idx(areas, i);

			printf(" [0x%" PRIx64 "-0x%" PRIx64 ")", get_u64(a, "offset"),
			       get_u64(a, "offset") + get_u64(a, "size"));
		}
	}
	if (get(r, "type"))
		printf(" type %" PRIu64 "/%" PRIu64, get_u64(r, "type"), get_u64(r, "subtype"));
	printf("\n");
}

void vusctl_print_irqs(struct json_object *info)
{
	struct json_object *irqs = get(info, "irqs"), *flags;
	size_t i, j;

	printf("irqs:\n");
	for (i = 0; irqs && i < json_object_array_length(irqs); i++) {
		struct json_object *q = json_object_array_get_idx(irqs, i);
		uint64_t n = get_u64(q, "count");

		printf("  %-7s %" PRIu64 " vector%s", vusctl_irq_name((uint32_t)get_u64(q, "index")),
		       n, n == 1 ? "" : "s");
		flags = get(q, "flags");
		for (j = 0; flags && j < json_object_array_length(flags); j++)
			printf(" %s", json_object_get_string(json_object_array_get_idx(flags, j)));
		/* vusd knows the client's state too. */
		if (get(q, "assigned"))
			printf("; client eventfds %" PRIu64 ", masked %" PRIu64 ", pending %" PRIu64,
			       get_u64(q, "assigned"), get_u64(q, "masked"), get_u64(q, "pending"));
		printf("\n");
	}
}

/* A process-isolated device (docs/security.md "Isolation"): its process
 * and, once it ended, how. */
static void print_isolation(struct json_object *d)
{
	if (!get_str(d, "isolation"))
		return;
	printf("  process %" PRIu64 ", %s", get_u64(d, "pid"), get_str(d, "state"));
	if (get_str(d, "signal_name"))
		printf(", killed by SIG%s", get_str(d, "signal_name"));
	else if (get(d, "exit_status"))
		printf(", exit status %" PRIu64, get_u64(d, "exit_status"));
	printf("\n");
}

void vusctl_print_info(struct json_object *info)
{
	struct json_object *pci = get(info, "pci"), *regions = get(info, "regions");
	const char *sock = get_str(info, "socket");
	size_t i;

	if (get_str(info, "name"))
		printf("device %s (%s) on %s, client attached: %s\n", get_str(info, "name"),
		       get_str(info, "type"), sock ? sock : "an inherited fd",
		       get_bool(info, "attached") ? "yes" : "no");
	else if (sock)
		printf("device on %s\n", sock);
	print_isolation(info);
	if (pci)
		printf("PCI %04" PRIx64 ":%04" PRIx64 " subsystem %04" PRIx64 ":%04" PRIx64
		       " class %06" PRIx64 " rev %02" PRIx64 "\n",
		       get_u64(pci, "vendor"), get_u64(pci, "device"),
		       get_u64(pci, "subsystem_vendor"), get_u64(pci, "subsystem"),
		       get_u64(pci, "class"), get_u64(pci, "revision"));
	if (get(info, "spec")) {
		/* As `add` takes it: what another vusd needs to make it again. */
		struct json_object *spec = get(info, "spec");

		printf("spec:");
		json_object_object_foreach(spec, key, val)
			printf(" %s=%s", key, json_object_get_string(val));
		printf("\n");
	}
	if (get(info, "reset"))
		printf("reset: %s\n", get_bool(info, "reset") ? "supported" : "not supported");
	printf("regions:\n");
	for (i = 0; regions && i < json_object_array_length(regions); i++)
		print_region(json_object_array_get_idx(regions, i));
	vusctl_print_irqs(info);
	if (get_str(info, "migration") && get_bool(info, "migration_passthrough") &&
	    strcmp(get_str(info, "migration"), "passthrough") != 0)
		printf("migration state: %s (the kernel device's: migration is passed through)\n",
		       get_str(info, "migration"));
	else if (get_str(info, "migration"))
		printf("migration state: %s\n", get_str(info, "migration"));
}

/* ---- config space and data ------------------------------------------ */

/*
 * pciutils' dump format (lib/dump.c reads it back for `lspci -F`): a
 * "BB:DD.F text" line, then "OO: xx xx ..." lines of 16 bytes each, then
 * an empty line.
 */
void vusctl_print_config(const char *label, const uint8_t *cfg, size_t len)
{
	size_t i;

	printf("00:00.0 %s\n", label);
	for (i = 0; i < len; i++) {
		if (i % 16 == 0)
			printf("%02zx:", i);
		printf(" %02x", cfg[i]);
		if (i % 16 == 15 || i + 1 == len)
			printf("\n");
	}
	printf("\n");
}

static bool is_value_size(size_t len)
{
	return len == 1 || len == 2 || len == 4 || len == 8;
}

static uint64_t le_value(const uint8_t *p, size_t len)
{
	uint64_t v = 0;

	while (len--)
		v = v << 8 | p[len];
	return v;
}

void vusctl_print_data(uint64_t offset, const uint8_t *p, size_t len)
{
	size_t i;

	if (is_value_size(len)) {
		printf("0x%0*" PRIx64 "\n", (int)(2 * len), le_value(p, len));
		return;
	}
	for (i = 0; i < len; i++) {
		if (i % 16 == 0)
			printf("%08" PRIx64 ":", offset + i);
		printf(" %02x", p[i]);
		if (i % 16 == 15 || i + 1 == len)
			printf("\n");
	}
}

struct json_object *vusctl_data_json(uint32_t region, uint64_t offset, const uint8_t *p,
				     size_t len)
{
	struct json_object *o = json_object_new_object();
	char *hex = malloc(2 * len + 1);
	size_t i;

	if (!o || !hex) {
		json_object_put(o);
		free(hex);
		return NULL;
	}
	for (i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", p[i]);
	hex[2 * len] = '\0';
	json_object_object_add(o, "region", json_object_new_int((int)region));
	json_object_object_add(o, "offset", json_object_new_uint64(offset));
	json_object_object_add(o, "len", json_object_new_uint64(len));
	json_object_object_add(o, "data", json_object_new_string(hex));
	if (is_value_size(len))
		json_object_object_add(o, "value", json_object_new_uint64(le_value(p, len)));
	free(hex);
	return o;
}

/* ---- control replies ------------------------------------------------ */

void vusctl_print_list(struct json_object *reply)
{
	struct json_object *devs = get(reply, "devices");
	size_t i;

	printf("%-16s %-10s %-8s %s\n", "NAME", "TYPE", "CLIENT", "SOCKET");
	for (i = 0; devs && i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i);

		const char *state = get_str(d, "state");

		printf("%-16s %-10s %-8s %s\n", get_str(d, "name"), get_str(d, "type"),
		       state && strcmp(state, "running") ? state
			     : get_bool(d, "attached") ? "attached" : "-",
		       get_str(d, "socket") ? get_str(d, "socket") : "(inherited fd)");
	}
}

static void print_counts(const char *title, struct json_object *o)
{
	bool first = true;

	printf("  %s:", title);
	json_object_object_foreach(o, key, val) {
		printf("%s %s %" PRIu64, first ? "" : ",", key, json_object_get_uint64(val));
		first = false;
	}
	printf("%s\n", first ? " none" : "");
}

/* The device's effective budget (docs/security.md section 2). */
static void print_budget(struct json_object *b)
{
	static const char *const keys[] = { "dma_bytes", "dma_windows", "dirty_log_bytes" };
	size_t i;

	if (!b)
		return;
	printf("  budget:");
	for (i = 0; i < 3; i++) {
		struct json_object *p = get(b, keys[i]);

		if (p)
			printf(" %s %" PRIu64 "/%" PRIu64 ",", keys[i], get_u64(p, "used"),
			       get_u64(p, "limit"));
	}
	printf(" output_bytes %" PRIu64 ", dma_pending %" PRIu64 "\n",
	       get_u64(b, "output_bytes"), get_u64(b, "dma_pending"));
}

void vusctl_print_stats(struct json_object *reply)
{
	struct json_object *devs = get(reply, "devices");
	size_t i;

	for (i = 0; devs && i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i);

		printf("%s: client %s, clients served %" PRIu64 "\n", get_str(d, "name"),
		       get_bool(d, "attached") ? "attached" : "none", get_u64(d, "clients"));
		print_isolation(d);
		print_budget(get(d, "budget"));
		print_counts("messages", get(d, "messages"));
		printf("  errors: %" PRIu64 "\n", get_u64(d, "errors"));
		print_counts("errors by errno", get(d, "errnos"));
		printf("  bytes in %" PRIu64 ", out %" PRIu64 "; interrupts %" PRIu64 "\n",
		       get_u64(d, "bytes_in"), get_u64(d, "bytes_out"), get_u64(d, "irqs"));
		printf("  dma maps %" PRIu64 ", unmaps %" PRIu64 ", mapped now %" PRIu64
		       " (%" PRIu64 " bytes); DMA_READ/WRITE messages %" PRIu64 "\n",
		       get_u64(d, "dma_maps"), get_u64(d, "dma_unmaps"), get_u64(d, "cur_maps"),
		       get_u64(d, "cur_mapped_bytes"), get_u64(d, "dma_messages"));
	}
}

static void print_opts(struct json_object *opts)
{
	size_t i;

	for (i = 0; opts && i < json_object_array_length(opts); i++) {
		struct json_object *o = json_object_array_get_idx(opts, i);

		printf("    %-14s %s%s\n", get_str(o, "key"), get_str(o, "help"),
		       get_bool(o, "required") ? " (required)" : "");
	}
}

void vusctl_print_types(struct json_object *reply)
{
	struct json_object *types = get(reply, "types");
	size_t i;

	printf("keys every device takes:\n");
	print_opts(get(reply, "common"));
	for (i = 0; types && i < json_object_array_length(types); i++) {
		struct json_object *t = json_object_array_get_idx(types, i);

		printf("%s: %s\n", get_str(t, "name"), get_str(t, "help"));
		print_opts(get(t, "options"));
		if (get_str(t, "commands"))
			printf("    commands: %s NAME %s\n", get_str(t, "name"),
			       get_str(t, "commands"));
	}
}

void vusctl_print_members(struct json_object *o)
{
	json_object_object_foreach(o, key, val) {
		if (json_object_is_type(val, json_type_string))
			printf("%s: %s\n", key, json_object_get_string(val));
		else
			printf("%s: %s\n", key,
			       json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
	}
}
