/* SPDX-License-Identifier: MIT */
/*
 * branches.c - `hwbp watch --branches`: the Intel PT trace a hit's sample
 * carries (HWBP_SAMPLE_BRANCHES) turned into the last taken branches
 * before the hit, with libipt's instruction-flow decoder reading the
 * target's code through a callback (symbols.c reads it from the ELF
 * files).  The snapshot starts anywhere: decoding starts at each PSB, and
 * a branch is counted only between two instructions both decoded.
 * Intel PT exists on x86 only: elsewhere pt_branches is -EOPNOTSUPP.
 */
#include <errno.h>
#include <string.h>

#include "tool.h"

#if defined(__x86_64__)
#include <intel-pt.h>

struct reader {
	code_read_fn read;
	void *ctx;
};

/* libipt's image callback: the code at ip, or pte_nomap. */
static int read_code(uint8_t *buf, size_t size, const struct pt_asid *asid,
		     uint64_t ip, void *arg)
{
	const struct reader *r = arg;
	size_t n;

	(void)asid;
	n = r->read(ip, buf, size, r->ctx);
	return n ? (int)n : -pte_nomap;
}

/* The kept branches: a ring of the last max. */
struct keep {
	struct branch *v;
	int max, n;
	uint64_t total;
};

static void keep_add(struct keep *k, uint64_t from, uint64_t to)
{
	k->v[k->total % (uint64_t)k->max] = (struct branch){ from, to };
	k->total++;
	if (k->n < k->max)
		k->n++;
}

static bool is_branch(enum pt_insn_class c)
{
	return c == ptic_call || c == ptic_return || c == ptic_jump ||
	       c == ptic_cond_jump || c == ptic_far_call ||
	       c == ptic_far_return || c == ptic_far_jump;
}

/* Events (enable, disable, overflow...) break the flow: forget prev. */
static int drain_events(struct pt_insn_decoder *d, int status, bool *have)
{
	while (status >= 0 && (status & pts_event_pending)) {
		struct pt_event ev;

		status = pt_insn_event(d, &ev, sizeof(ev));
		*have = false;
	}
	return status;
}

/* Decode from one sync point until an error or the end. */
static int decode_run(struct pt_insn_decoder *d, int status, struct keep *k)
{
	struct pt_insn prev = { 0 }, insn;
	bool have = false;

	for (;;) {
		status = drain_events(d, status, &have);
		if (status < 0)
			return status;
		status = pt_insn_next(d, &insn, sizeof(insn));
		if (insn.iclass == ptic_error)
			have = false;
		else {
			if (have && is_branch(prev.iclass) &&
			    insn.ip != prev.ip + prev.size)
				keep_add(k, prev.ip, insn.ip);
			prev = insn;
			have = true;
		}
		if (status < 0)
			return status;
	}
}

int pt_branches(const void *trace, size_t size, code_read_fn read, void *ctx,
		struct branch *out, int max)
{
	struct reader r = { read, ctx };
	struct pt_config cfg;
	struct pt_insn_decoder *d;
	struct branch ring[256];
	struct keep k = { ring, max < 256 ? max : 256, 0, 0 };
	uint64_t off, last_off = UINT64_MAX;
	int status, synced = 0;

	if (!trace || !size || max <= 0)
		return -EINVAL;
	pt_config_init(&cfg);
	cfg.begin = (uint8_t *)(uintptr_t)trace;
	cfg.end = cfg.begin + size;
	d = pt_insn_alloc_decoder(&cfg);
	if (!d)
		return -ENOMEM;
	pt_image_set_callback(pt_insn_get_image(d), read_code, &r);
	while ((status = pt_insn_sync_forward(d)) >= 0) {
		/* (never the same PSB twice) */
		if (pt_insn_get_sync_offset(d, &off) < 0 || off == last_off)
			break;
		last_off = off;
		synced++;
		decode_run(d, status, &k);
	}
	pt_insn_free_decoder(d);
	if (!synced)
		return -ENODATA;
	for (int i = 0; i < k.n; i++)
		out[i] = ring[(k.total - (uint64_t)k.n + (uint64_t)i) %
			      (uint64_t)k.max];
	return k.n;
}

#else

int pt_branches(const void *trace, size_t size, code_read_fn read, void *ctx,
		struct branch *out, int max)
{
	(void)trace, (void)size, (void)read, (void)ctx, (void)out, (void)max;
	return -EOPNOTSUPP;
}
#endif
