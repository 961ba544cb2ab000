/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The `info` object's parts (info_json.h). json-c's add functions take
 * ownership and only fail without memory; an object short of a member is
 * then the best there is.
 */
#include <json-c/json.h>

#include "info_json.h"

static uint32_t le(const uint8_t *p, unsigned n)
{
	uint32_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

struct json_object *info_pci_json(const uint8_t h[INFO_PCI_HDR_LEN])
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "vendor", json_object_new_int((int)le(h + 0x00, 2)));
	json_object_object_add(o, "device", json_object_new_int((int)le(h + 0x02, 2)));
	json_object_object_add(o, "revision", json_object_new_int(h[0x08]));
	json_object_object_add(o, "class", json_object_new_int((int)le(h + 0x09, 3)));
	json_object_object_add(o, "subsystem_vendor", json_object_new_int((int)le(h + 0x2c, 2)));
	json_object_object_add(o, "subsystem", json_object_new_int((int)le(h + 0x2e, 2)));
	return o;
}

void info_bar_from_hdr(const uint8_t h[INFO_PCI_HDR_LEN], uint32_t index, struct info_region *r)
{
	uint32_t bar = le(h + 0x10 + 4 * index, 4);

	if (bar & 1) {
		r->bar = "io";
		return;
	}
	r->bar = (bar & 6) == 4 ? "mem64" : "mem32";
	r->prefetchable = bar & 8;
}

struct json_object *info_region_json(const struct info_region *r)
{
	struct json_object *o = json_object_new_object(), *areas;
	uint32_t i;

	if (!o)
		return NULL;
	json_object_object_add(o, "index", json_object_new_int((int)r->index));
	json_object_object_add(o, "size", json_object_new_uint64(r->size));
	json_object_object_add(o, "read", json_object_new_boolean(r->read));
	json_object_object_add(o, "write", json_object_new_boolean(r->write));
	json_object_object_add(o, "mmap", json_object_new_boolean(r->mmap));
	json_object_object_add(o, "fd_backed", json_object_new_boolean(r->fd_backed));
	if (r->callbacks >= 0)
		json_object_object_add(o, "callbacks", json_object_new_boolean(r->callbacks));
	if (r->bar)
		json_object_object_add(o, "bar", json_object_new_string(r->bar));
	if (r->prefetchable)
		json_object_object_add(o, "prefetchable", json_object_new_boolean(1));
	if (r->has_areas) {
		areas = json_object_new_array();
		for (i = 0; areas && i < r->nr_areas; i++) {
			struct json_object *a = json_object_new_object();

			json_object_object_add(a, "offset", json_object_new_uint64(r->areas[i].offset));
			json_object_object_add(a, "size", json_object_new_uint64(r->areas[i].size));
			json_object_array_add(areas, a);
		}
		json_object_object_add(o, "areas", areas);
	}
	if (r->has_type) {
		json_object_object_add(o, "type", json_object_new_int64(r->type));
		json_object_object_add(o, "subtype", json_object_new_int64(r->subtype));
	}
	return o;
}

struct json_object *info_irq_json(uint32_t index, uint32_t count, uint32_t flags)
{
	static const struct { uint32_t bit; const char *name; } bits[] = {
		{ VUS_IRQ_INFO_EVENTFD, "eventfd" },
		{ VUS_IRQ_INFO_MASKABLE, "maskable" },
		{ VUS_IRQ_INFO_AUTOMASKED, "automasked" },
		{ VUS_IRQ_INFO_NORESIZE, "noresize" },
	};
	struct json_object *o = json_object_new_object(), *names;
	size_t i;

	if (!o)
		return NULL;
	json_object_object_add(o, "index", json_object_new_int((int)index));
	json_object_object_add(o, "count", json_object_new_int64(count));
	names = json_object_new_array();
	for (i = 0; names && i < sizeof(bits) / sizeof(bits[0]); i++)
		if (flags & bits[i].bit)
			json_object_array_add(names, json_object_new_string(bits[i].name));
	json_object_object_add(o, "flags", names);
	return o;
}
