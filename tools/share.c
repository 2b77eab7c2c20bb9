/* SPDX-License-Identifier: MIT */
/*
 * share.c - one register per address.  A ring record names the register
 * that fired only by its address, and every register over an access
 * fires: two watches with a register at one address (`counter` and
 * `counter:4`, or a pointer slot of --follow-pointers that is also a
 * LOCATION) would each get both records, under whichever watch the
 * scheduler finds first.  So, as gdb's x86 debug-register code shares a
 * register among identical watchpoints (a reference count), the command
 * arms such locations as one watch over their union, its "host", and the
 * processor hands each of its records to every user (each then takes the
 * accesses that touch its own bytes).  Users are ids: a location's index,
 * or a pointer slot's (watch.h, SLOT_ID).
 *
 * Threads: the control thread owns the hosts; the processor reads, for a
 * record's id, the users riding on it (an immutable list published with
 * release/acquire; lists replaced stay allocated until the end, since
 * records of the old list may still be in the stream).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "watch.h"

#define MAX_PIECES 520 /* 4096 bytes: 513 registers at most */

struct riders {
	int n;
	int id[];
};

struct host {
	int id;                   /* whose cookie its watch carries; -1: free */
	uint64_t addr, len;       /* the union of its users' bytes */
	enum hwbp_access access;  /* as armed (read is armed read-write) */
	struct hwbp_watch *hw;
	int *users, nusers;       /* ids, the host's own first */
};

struct share {
	struct watch *w;
	struct host *hosts;
	int nhosts;
	int nids;
	struct loc_ctx *ctx;      /* the cookies of ids past the locations */
	_Atomic(struct riders *) *riders; /* per id: who rides its watch */
	struct riders **retired;  /* replaced lists, freed at the end */
	int nretired;
	/* --cpu: a register per piece, each record named by its address */
	struct plain_piece {
		uint64_t addr;
		uint32_t len;
		int id;
		struct hwbp *bp;
	} *plain;
	_Atomic int nplain;
	int plain_cap;
};

static enum hwbp_access armed_as(enum hwbp_access a)
{
	return a == HWBP_READ ? HWBP_RW : a;
}

int share_init(struct watch *w, int nids, int plain_cap)
{
	struct share *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return -ENOMEM;
	w->share = sh;
	sh->w = w;
	sh->nids = nids;
	sh->ctx = calloc((size_t)nids, sizeof(*sh->ctx));
	sh->riders = calloc((size_t)nids, sizeof(*sh->riders));
	sh->plain_cap = plain_cap;
	sh->plain = plain_cap ? calloc((size_t)plain_cap, sizeof(*sh->plain))
			      : NULL;
	if (!sh->ctx || !sh->riders || (plain_cap && !sh->plain))
		return -ENOMEM;
	for (int id = 0; id < nids; id++)
		*share_ctx(w, id) = (struct loc_ctx){ w, id };
	return 0;
}

void share_free(struct watch *w)
{
	struct share *sh = w->share;

	if (!sh)
		return;
	for (int i = 0; i < sh->nhosts; i++)
		free(sh->hosts[i].users);
	for (int id = 0; sh->riders && id < sh->nids; id++)
		free(atomic_load(&sh->riders[id]));
	for (int i = 0; i < sh->nretired; i++)
		free(sh->retired[i]);
	free(sh->retired);
	free(sh->hosts);
	free(sh->ctx);
	free(sh->riders);
	free(sh->plain);
	free(sh);
	w->share = NULL;
}

struct loc_ctx *share_ctx(struct watch *w, int id)
{
	return id < w->cfg->nlocs ? &w->ctx[id] : &w->share->ctx[id];
}

/* ---- the processor's side ---- */

const int *share_riders(const struct watch *w, int id, int *n)
{
	const struct riders *r;

	*n = 0;
	if (!w->share || id < 0 || id >= w->share->nids)
		return NULL;
	r = atomic_load_explicit(&w->share->riders[id], memory_order_acquire);
	if (!r)
		return NULL;
	*n = r->n;
	return r->id;
}

/* --cpu (in a reader thread): the id whose register sits at addr. */
int share_plain_id(const struct watch *w, uint64_t addr, int fallback)
{
	const struct share *sh = w->share;
	int n = sh ? atomic_load_explicit(&sh->nplain, memory_order_acquire)
		   : 0;

	for (int i = 0; i < n; i++)
		if (sh->plain[i].addr == addr)
			return sh->plain[i].id;
	return fallback;
}

/* ---- the control thread's ---- */

/* Host h's riders, published for the processor (the old list retired:
 * records still in the stream may be handed to it). */
static int publish(struct share *sh, const struct host *h)
{
	struct riders *r = NULL, *old, **grown;

	if (h->nusers > 1) {
		r = malloc(sizeof(*r) + (size_t)(h->nusers - 1) * sizeof(int));
		if (!r)
			return -ENOMEM;
		r->n = h->nusers - 1;
		memcpy(r->id, h->users + 1, (size_t)r->n * sizeof(int));
	}
	grown = realloc(sh->retired, (size_t)(sh->nretired + 1) *
				     sizeof(*grown));
	if (!grown) {
		free(r);
		return -ENOMEM;
	}
	sh->retired = grown;
	old = atomic_exchange_explicit(&sh->riders[h->id], r,
				       memory_order_acq_rel);
	if (r) {
		atomic_store(&sh->w->share_any, true);
		atomic_store(&sh->w->dispatch, true);
	}
	if (old)
		sh->retired[sh->nretired++] = old;
	return 0;
}

static int pieces_of(uint64_t addr, uint64_t len, struct hwbp_piece *p)
{
	int n = hwbp_range_split(addr, len, 0, p, MAX_PIECES);

	return n > MAX_PIECES ? MAX_PIECES : n;
}

/* Do two ranges put a register at one address?  (Both split as the
 * scheduler splits, in address order.) */
static bool same_register(uint64_t a, uint64_t alen, uint64_t b,
			  uint64_t blen)
{
	/* (static: 16 KiB off the stack; the control thread's alone) */
	static struct hwbp_piece pa[MAX_PIECES], pb[MAX_PIECES];
	int na, nb, i = 0, j = 0;

	if (!hwbp_range_overlaps(a, alen, b, blen))
		return false;
	na = pieces_of(a, alen, pa);
	nb = pieces_of(b, blen, pb);
	while (i < na && j < nb) {
		if (pa[i].addr == pb[j].addr)
			return true;
		if (pa[i].addr < pb[j].addr)
			i++;
		else
			j++;
	}
	return false;
}

/* A live host (other than skip) whose registers meet [addr, addr+len)'s
 * (data with data, whatever the access: a write watch and a read-write
 * one share a read-write register, each user taking its own accesses). */
static int colliding(const struct share *sh, int skip, uint64_t addr,
		     uint64_t len, enum hwbp_access access)
{
	for (int i = 0; i < sh->nhosts; i++) {
		const struct host *h = &sh->hosts[i];

		if (i != skip && h->id >= 0 &&
		    (h->access == HWBP_EXEC) == (access == HWBP_EXEC) &&
		    same_register(h->addr, h->len, addr, len))
			return i;
	}
	return -1;
}

static void set_watch(struct watch *w, int id, struct hwbp_watch *hw)
{
	if (id < w->cfg->nlocs)
		w->watches[id] = hw;
}

static void users_watch(struct watch *w, const struct host *h)
{
	for (int k = 0; k < h->nusers; k++)
		set_watch(w, h->users[k], h->hw);
}

/* Host h over [addr, addr+len) for access now (its watch replaced,
 * carrying the cookie of h->id); on failure the old watch is put back. */
static int rearm(struct watch *w, struct host *h, uint64_t addr,
		 uint64_t len, enum hwbp_access access)
{
	struct hwbp_watch *hw = NULL;
	int err;

	if (h->hw)
		hwbp_sched_remove(w->sched, h->hw);
	err = watch_sched_add(w, h->id, addr, len, access, &hw);
	if (err) {
		if (h->hw && !watch_sched_add(w, h->id, h->addr, h->len,
					      h->access, &hw))
			h->hw = hw;
		return err;
	}
	h->hw = hw;
	h->addr = addr;
	h->len = len;
	h->access = access;
	users_watch(w, h);
	return 0;
}

static int add_user(struct host *h, int id)
{
	int *u = realloc(h->users, (size_t)(h->nusers + 1) * sizeof(*u));

	if (!u)
		return -ENOMEM;
	h->users = u;
	h->users[h->nusers++] = id;
	return 0;
}

/* Host h grows over [addr, addr+len) and access (a write and a
 * read-write user: read-write), its watch re-armed if it grew. */
static int widen(struct watch *w, struct host *h, uint64_t addr,
		 uint64_t len, enum hwbp_access access)
{
	uint64_t lo = addr < h->addr ? addr : h->addr;
	uint64_t hi = addr + len > h->addr + h->len ? addr + len
						    : h->addr + h->len;

	if (access != h->access)
		access = HWBP_RW;
	if (lo == h->addr && hi == h->addr + h->len && access == h->access)
		return 0;
	return rearm(w, h, lo, hi - lo, access);
}

static int new_host(struct watch *w, int id, uint64_t addr, uint64_t len,
		    enum hwbp_access access)
{
	struct share *sh = w->share;
	struct host *h = NULL;
	int err;

	for (int i = 0; i < sh->nhosts && !h; i++)
		if (sh->hosts[i].id < 0)
			h = &sh->hosts[i];
	if (!h) {
		h = realloc(sh->hosts, (size_t)(sh->nhosts + 1) * sizeof(*h));
		if (!h)
			return -ENOMEM;
		sh->hosts = h;
		h = &sh->hosts[sh->nhosts++];
		memset(h, 0, sizeof(*h));
		h->id = -1;
	}
	h->nusers = 0;
	if ((err = add_user(h, id)))
		return err;
	h->access = access;
	h->hw = NULL;
	err = watch_sched_add(w, id, addr, len, access, &h->hw);
	if (err)
		return err;
	h->id = id;
	h->addr = addr;
	h->len = len;
	set_watch(w, id, h->hw);
	return publish(sh, h);
}

/* Host o's users join host h (o's watch removed). */
static int merge(struct watch *w, struct host *h, struct host *o)
{
	int err = 0;

	hwbp_sched_remove(w->sched, o->hw);
	o->id = -1;
	for (int k = 0; k < o->nusers && !err; k++)
		err = add_user(h, o->users[k]);
	if (!err)
		err = widen(w, h, o->addr, o->len, o->access);
	users_watch(w, h);
	return err ? err : publish(w->share, h);
}

int share_add(struct watch *w, int id, uint64_t addr, uint64_t len,
	      enum hwbp_access access)
{
	struct share *sh = w->share;
	int hi, oi, err;

	access = armed_as(access);
	hi = colliding(sh, -1, addr, len, access);
	if (hi < 0)
		return new_host(w, id, addr, len, access);
	if ((err = add_user(&sh->hosts[hi], id)) ||
	    (err = widen(w, &sh->hosts[hi], addr, len, access)))
		return err;
	set_watch(w, id, sh->hosts[hi].hw);
	/* Grown, it may meet another host's registers too. */
	while ((oi = colliding(sh, hi, sh->hosts[hi].addr, sh->hosts[hi].len,
			       sh->hosts[hi].access)) >= 0)
		if ((err = merge(w, &sh->hosts[hi], &sh->hosts[oi])))
			return err;
	return publish(sh, &sh->hosts[hi]);
}

static int host_of(const struct share *sh, int id, int *k)
{
	for (int i = 0; i < sh->nhosts; i++)
		for (*k = 0; sh->hosts[i].id >= 0 && *k < sh->hosts[i].nusers;
		     (*k)++)
			if (sh->hosts[i].users[*k] == id)
				return i;
	return -1;
}

/* id stops watching: its host's watch goes with its last user; a host
 * that leaves hands its watch to the next user (the old riders list
 * stays with the records already made). */
int share_remove(struct watch *w, int id)
{
	struct share *sh = w->share;
	struct host *h;
	int k, err, hi = host_of(sh, id, &k);

	if (hi < 0)
		return 0;
	h = &sh->hosts[hi];
	set_watch(w, id, NULL);
	memmove(&h->users[k], &h->users[k + 1],
		(size_t)(h->nusers - k - 1) * sizeof(int));
	h->nusers--;
	if (!h->nusers) {
		hwbp_sched_remove(w->sched, h->hw);
		h->id = -1;
		return 0;
	}
	if (k > 0) /* a rider left */
		return publish(sh, h);
	h->id = h->users[0];
	err = rearm(w, h, h->addr, h->len, h->access);
	return err ? err : publish(sh, h);
}

/* --cpu: the host entry of owner (its users, no watch of its own). */
static struct host *plain_host(struct watch *w, int owner)
{
	struct share *sh = w->share;
	struct host *h;

	for (int i = 0; i < sh->nhosts; i++)
		if (sh->hosts[i].id == owner)
			return &sh->hosts[i];
	h = realloc(sh->hosts, (size_t)(sh->nhosts + 1) * sizeof(*h));
	if (!h)
		return NULL;
	sh->hosts = h;
	h = &sh->hosts[sh->nhosts++];
	memset(h, 0, sizeof(*h));
	if (add_user(h, owner)) {
		sh->nhosts--;
		return NULL;
	}
	h->id = owner;
	return h;
}

bool share_plain_join(struct watch *w, int id, uint64_t addr, uint32_t len,
		      enum hwbp_access access)
{
	struct share *sh = w->share;
	int n = atomic_load(&sh->nplain);

	for (int i = 0; i < n; i++) {
		struct plain_piece *p = &sh->plain[i];
		struct host *h;

		if (p->addr != addr || p->id == id)
			continue;
		if (len > p->len && p->bp &&
		    !hwbp_move(p->bp, addr, len, access))
			p->len = len;
		h = plain_host(w, p->id);
		for (int k = 0; h && k < h->nusers; k++)
			if (h->users[k] == id)
				return true;
		if (h && !add_user(h, id))
			publish(sh, h);
		return true;
	}
	return false;
}

struct hwbp **share_plain_note(struct watch *w, int id, uint64_t addr,
			       uint32_t len)
{
	struct share *sh = w->share;
	int n = atomic_load(&sh->nplain);

	if (n >= sh->plain_cap)
		return NULL;
	sh->plain[n] = (struct plain_piece){ addr, len, id, NULL };
	atomic_store_explicit(&sh->nplain, n + 1, memory_order_release);
	return &sh->plain[n].bp;
}
