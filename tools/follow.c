/* SPDX-License-Identifier: MIT */
/*
 * follow.c - LOCATIONs through pointers (`p->x`, `*p`, `a.b->c[2].d`):
 * what each resolved to (said at arming and in the summary), and with
 * --follow-pointers gdb's `watch p->x`: the pointers on the path are
 * watched too (write watches on their slots), and when one changes the
 * watch moves to what the path reaches now.
 *
 * Who decides what: the processor sees the hits in time order, so it
 * decides that a pointer changed (a write to a slot whose decoded new
 * value differs: exact from the instruction) and queues a request (a
 * mutex-guarded queue and an eventfd the control thread polls); the
 * control thread owns syms and the arming, so it resolves the path again
 * (reading the program's memory now), moves the watches (share_remove,
 * share_add) and publishes the new placement, stamped with the time t1 it
 * re-armed at (read before the new watch exists, after the old one is
 * gone).  The processor adopts a placement when the stream reaches t1, so
 * every hit is judged by the placement that made it; the move is printed
 * there (human line, JSON {"type":"moved"}).
 *
 * The window: from the pointer's change (t0, the slot hit's time) to the
 * re-arm (t1) the new target is not watched (its writes are not seen);
 * hits on the old target after t0 are no longer the path's and are left
 * out (counted).  Each move reports t0, t1 and that count; the summary the
 * longest window.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "watch.h"

#define POLL_NS 100000000ull /* 100 ms, as arm_pending */

struct follow_req {
	int loc, slot;
	uint64_t value;         /* the pointer's new value */
	uint64_t t0;            /* when it was written */
};

/* A placement, control thread -> processor. */
struct follow_pub {
	struct follow_pub *next;
	int loc;
	bool answer;            /* answers a request */
	int slot;               /* the pointer that changed (-1: none) */
	uint64_t value, t0, t1;
	struct location at;     /* addr, len, derefs, resolved (its type is
				 * the control thread's, alive to the end) */
	enum vquality q;        /* how well the slots' values are known */
	uint8_t *bytes;         /* the target's bytes at t1 (at.len), or NULL */
	char why[256];          /* not watched: why */
};

struct follow_loc {
	bool on;                /* a pointer path, followed */
	/* ---- the processor's ---- */
	struct location view;   /* the placement as of the stream's time */
	bool have_view;
	int pending;            /* requests not answered yet ... */
	uint64_t t0;            /* ... the first one's change */
	uint64_t slot_addr[LOC_MAX_DEREFS], slot_val[LOC_MAX_DEREFS];
	uint8_t slot_q[LOC_MAX_DEREFS];
	int nslots;
	struct follow_stats st;
	/* ---- the control thread's ---- */
	uint64_t placed[LOC_MAX_DEREFS]; /* slot watches armed (0: none) */
	bool slots_failed;      /* some not armed: changes found by polling */
	bool target_armed;
	char why[256];          /* not watched now: why ("" when watched) */
};

struct follow {
	struct follow_loc *locs;
	pthread_mutex_t lock;
	struct follow_req *reqs;
	int nreqs, capreqs;
	int fd;                 /* eventfd: requests wait */
	struct follow_pub *head, *tail;
	_Atomic int npub;
	uint64_t polled;        /* paths pointing nowhere: read again then */
};

/* ---- both ---- */

int follow_init(struct watch *w)
{
	struct follow *f;

	if (!w->cfg->follow_ptrs)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	w->follow = f;
	atomic_store(&w->dispatch, true); /* hits go through follow.c */
	f->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->locs = calloc((size_t)w->cfg->nlocs, sizeof(*f->locs));
	pthread_mutex_init(&f->lock, NULL);
	return f->fd < 0 || !f->locs ? -ENOMEM : 0;
}

void follow_free(struct watch *w)
{
	struct follow *f = w->follow;

	if (!f)
		return;
	while (f->head) {
		struct follow_pub *p = f->head;

		f->head = p->next;
		free(p->bytes);
		free(p);
	}
	if (f->fd >= 0)
		close(f->fd);
	pthread_mutex_destroy(&f->lock);
	free(f->reqs);
	free(f->locs);
	free(f);
	w->follow = NULL;
}

int follow_fd(const struct watch *w)
{
	return w->follow ? w->follow->fd : -1;
}

bool follow_owns(const struct watch *w, int i)
{
	return w->follow && i >= 0 && i < w->cfg->nlocs &&
	       w->follow->locs[i].on;
}

const struct follow_stats *follow_stats_of(const struct watch *w, int i)
{
	return follow_owns(w, i) ? &w->follow->locs[i].st : NULL;
}

/* ---- the processor's ---- */

const struct location *follow_view(struct watch *w, int i)
{
	struct follow_loc *fl;

	if (!follow_owns(w, i))
		return &w->locs[i];
	fl = &w->follow->locs[i];
	return fl->have_view ? &fl->view : NULL;
}

/* Location i's hits are not the path's while a change waits to be
 * followed (they are on the old target), nor while it points nowhere. */
bool follow_drop(struct watch *w, int i)
{
	struct follow_loc *fl;

	if (!follow_owns(w, i))
		return false;
	fl = &w->follow->locs[i];
	if (!fl->pending && fl->have_view && fl->view.resolved)
		return false;
	fl->st.left_out++;
	return true;
}

bool follow_slot(struct watch *w, int id, int *loc, int *slot,
		 uint64_t *addr, uint64_t **val, uint8_t **q)
{
	int s = id - w->cfg->nlocs;
	struct follow_loc *fl;

	if (!w->follow || s < 0 || s >= w->cfg->nlocs * LOC_MAX_DEREFS)
		return false;
	*loc = s / LOC_MAX_DEREFS;
	*slot = s % LOC_MAX_DEREFS;
	fl = &w->follow->locs[*loc];
	if (!fl->on || *slot >= fl->nslots)
		return false;
	*addr = fl->slot_addr[*slot];
	*val = &fl->slot_val[*slot];
	*q = &fl->slot_q[*slot];
	return true;
}

void follow_changed(struct watch *w, int i, int slot, uint64_t value,
		    uint64_t t)
{
	struct follow *f = w->follow;
	struct follow_loc *fl = &f->locs[i];
	uint64_t one = 1;

	pthread_mutex_lock(&f->lock);
	if (f->nreqs == f->capreqs) {
		int cap = f->capreqs ? 2 * f->capreqs : 16;
		struct follow_req *r = realloc(f->reqs, (size_t)cap *
						      sizeof(*r));

		if (!r) {
			pthread_mutex_unlock(&f->lock);
			return; /* not followed: the control thread's poll */
		}
		f->reqs = r;
		f->capreqs = cap;
	}
	f->reqs[f->nreqs++] = (struct follow_req){ i, slot, value, t };
	pthread_mutex_unlock(&f->lock);
	if (!fl->pending++)
		fl->t0 = t;
	if (write(f->fd, &one, sizeof(one)) < 0)
		return; /* (a full counter: the control thread is told) */
}

/* The chains of location i start again from the new target's bytes
 * (read at t1 while the program runs: approximate). */
static void reset_chains(struct watch *w, int i, const struct follow_pub *p)
{
	for (int k = 0; k < w->npv; k++) {
		struct proc_values *pv = &w->pv[k];

		if (!pv->bytes || !p->at.resolved)
			continue;
		if (!pv->bytes[i]) {
			pv->bytes[i] = calloc(p->at.len, 1);
			pv->q[i] = calloc(p->at.len, 1);
			if (!pv->bytes[i] || !pv->q[i]) {
				free(pv->bytes[i]);
				free(pv->q[i]);
				pv->bytes[i] = pv->q[i] = NULL;
				continue;
			}
		}
		if (p->bytes)
			memcpy(pv->bytes[i], p->bytes, p->at.len);
		memset(pv->q[i], p->bytes ? VQ_APPROX : VQ_NONE, p->at.len);
	}
}

static void report_move(struct watch *w, const struct follow_loc *fl,
			const struct follow_pub *p, uint64_t from,
			bool was_watched, uint64_t left_out)
{
	struct move_event m = {
		.location = p->at.name,
		.pointer = p->slot >= 0 ? p->at.derefs[p->slot].expr :
			   p->at.nderefs ? p->at.derefs[p->at.nderefs - 1].expr
					 : "",
		.value = p->slot >= 0 ? p->value : 0,
		.has_value = p->slot >= 0,
		.t1 = p->t1 > w->start_ns ? p->t1 - w->start_ns : 0,
		.t0 = p->answer && p->t0 > w->start_ns ? p->t0 - w->start_ns
						       : 0,
		.answer = p->answer,
		.from = from, .had_from = was_watched,
		.to = p->at.addr, .has_to = p->at.resolved,
		.len = p->at.len, .why = p->why, .left_out = left_out,
	};

	(void)fl;
	out_moved(&w->out, &m);
}

/* Placement p of its location, from now on in the stream. */
static void adopt(struct watch *w, struct follow_pub *p)
{
	struct follow_loc *fl = &w->follow->locs[p->loc];
	bool had_view = fl->have_view, was = had_view && fl->view.resolved;
	uint64_t from = was ? fl->view.addr : 0;
	uint64_t left = fl->st.left_out - fl->st.left_reported;

	if (p->answer && fl->pending > 0)
		fl->pending--;
	fl->view = p->at;
	fl->have_view = true;
	fl->nslots = p->at.nderefs;
	for (int k = 0; k < fl->nslots; k++) {
		fl->slot_addr[k] = p->at.derefs[k].slot;
		fl->slot_val[k] = p->at.derefs[k].value;
		fl->slot_q[k] = p->q;
	}
	/* (the first placement's chains start from what arm() read) */
	if (had_view && (was != p->at.resolved || from != p->at.addr))
		reset_chains(w, p->loc, p);
	/* Said: a change followed to another place, or a path that came to
	 * point somewhere (or nowhere) by itself; not the first placement,
	 * nor a change that came back to where the watch is. */
	if (!had_view || (was == p->at.resolved &&
			  (!was || from == p->at.addr)))
		return;
	fl->st.moves++;
	if (p->answer) {
		uint64_t win = p->t1 > p->t0 ? p->t1 - p->t0 : 0;

		fl->st.window_ns += win;
		if (win > fl->st.window_max_ns)
			fl->st.window_max_ns = win;
	}
	fl->st.left_reported = fl->st.left_out;
	report_move(w, fl, p, from, was, left);
}

/* Adopt the placements re-armed up to time t (the stream's). */
void follow_adopt(struct watch *w, uint64_t t)
{
	struct follow *f = w->follow;

	if (!f || !atomic_load_explicit(&f->npub, memory_order_acquire))
		return;
	for (;;) {
		struct follow_pub *p;

		pthread_mutex_lock(&f->lock);
		p = f->head;
		if (p && p->t1 <= t) {
			f->head = p->next;
			if (!f->head)
				f->tail = NULL;
			atomic_fetch_sub(&f->npub, 1);
		} else {
			p = NULL;
		}
		pthread_mutex_unlock(&f->lock);
		if (!p)
			return;
		adopt(w, p);
		free(p->bytes);
		free(p);
	}
}

/* ---- the control thread's ---- */

static void publish(struct watch *w, struct follow_pub *p)
{
	struct follow *f = w->follow;

	pthread_mutex_lock(&f->lock);
	if (f->tail)
		f->tail->next = p;
	else
		f->head = p;
	f->tail = p;
	atomic_fetch_add_explicit(&f->npub, 1, memory_order_release);
	pthread_mutex_unlock(&f->lock);
}

/* "head = 0x..., head->next = 0x..." */
static void path_text(const struct location *l, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (int k = 0; k < l->nderefs && used < n; k++)
		used += (size_t)snprintf(out + used, n - used, "%s%s = 0x%" PRIx64,
					 k ? ", " : "", l->derefs[k].expr,
					 l->derefs[k].value);
}

/* Said on stderr when a path is armed, moved, or left pointing nowhere. */
void follow_say(const struct location *l, const char *why, bool moved)
{
	char path[1024];

	if (!l->nderefs)
		return;
	path_text(l, path, sizeof(path));
	if (why && why[0])
		fprintf(stderr, "hwbp: %s: %s (%s): not watched until it "
			"points somewhere\n", l->name, why, path);
	else
		fprintf(stderr, "hwbp: %s %s 0x%" PRIx64 " (%u bytes) through "
			"%s\n", l->name, moved ? "moved to" : "is", l->addr,
			l->len, path);
}

/* Slot watches to match l's path (slots beyond it, or moved, go). */
static int place_slots(struct watch *w, int i, const struct location *l)
{
	struct follow_loc *fl = &w->follow->locs[i];
	int err = 0;

	for (int k = 0; k < LOC_MAX_DEREFS; k++) {
		uint64_t want = k < l->nderefs ? l->derefs[k].slot : 0;

		if (fl->placed[k] == want)
			continue;
		if (fl->placed[k])
			share_remove(w, SLOT_ID(w, i, k));
		fl->placed[k] = 0;
		if (want && !(err = share_add(w, SLOT_ID(w, i, k), want,
					      sizeof(void *), HWBP_WRITE)))
			fl->placed[k] = want;
	}
	return err;
}

static struct follow_pub *new_pub(int i,
				  const struct follow_req *rq)
{
	struct follow_pub *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->loc = i;
	p->slot = rq ? rq->slot : -1;
	p->answer = rq != NULL;
	p->value = rq ? rq->value : 0;
	p->t0 = rq ? rq->t0 : 0;
	p->q = VQ_APPROX;
	return p;
}

/* The target's bytes now (the new chain starts from them, approximate). */
static void read_target(struct watch *w, struct follow_pub *p)
{
	p->bytes = malloc(p->at.len);
	if (p->bytes && !target_read(p->at.addr, p->bytes, p->at.len,
				     &w->target)) {
		free(p->bytes);
		p->bytes = NULL;
	}
}

/* What a new resolution changes: the placement and the path (the name,
 * type and length the processor reads stay as they are, once known). */
static void update(struct location *l, const struct location *now,
		   bool resolved)
{
	if (!l->len || !l->resolved) {
		l->len = now->len;
		l->size = now->size;
		l->type_mod = now->type_mod;
		l->type_die = now->type_die;
		snprintf(l->module, sizeof(l->module), "%s", now->module);
	}
	l->addr = now->addr;
	l->type_addr = now->type_addr;
	l->nderefs = now->nderefs;
	memcpy(l->derefs, now->derefs, sizeof(l->derefs));
	l->resolved = resolved;
}

/*
 * Location i resolved anew into `now` (err: 0, or RESOLVE_PENDING with
 * its pointers so far): move the watches there and publish it.  The old
 * target's watch goes before t1 is read, the new one comes after.
 */
static void apply(struct watch *w, int i, struct location *now, int err,
		  const char *why, const struct follow_req *rq, bool first)
{
	struct follow_loc *fl = &w->follow->locs[i];
	struct location *l = &w->locs[i];
	struct follow_pub *p = new_pub(i, rq);
	bool moved = !!err != !l->resolved || (!err && now->addr != l->addr);
	enum hwbp_access access = l->access == HWBP_READ ? HWBP_RW : l->access;

	if (!p)
		return;
	if (first && w->target.launched)
		p->q = VQ_EXACT; /* read while the program was stopped */
	if (moved && fl->target_armed) {
		share_remove(w, i);
		fl->target_armed = false;
	}
	/* The type stays the first resolution's (the processor's views
	 * share it); a later one's is freed. */
	if (!l->type_die && now->type_die) {
		free(l->type.enums);
		l->type = now->type;
	} else if (now->type.enums != l->type.enums) {
		free(now->type.enums);
	}
	now->type = l->type;
	update(l, now, !err);
	snprintf(fl->why, sizeof(fl->why), "%s", err ? why : "");
	/* A path that points somewhere for the first time: its members
	 * (the processor reads them after this placement). */
	if (l->resolved && !w->members[i] &&
	    members_build(w->syms, l, &w->members[i]))
		w->members[i] = NULL;
	p->at = *l;
	snprintf(p->why, sizeof(p->why), "%s", fl->why);
	if (l->resolved && (moved || first))
		read_target(w, p);
	p->t1 = now_ns();
	publish(w, p);
	fl->slots_failed = place_slots(w, i, l) != 0;
	if (l->resolved && !fl->target_armed) {
		if (share_add(w, i, l->addr, l->len, access)) {
			struct follow_pub *no = new_pub(i, NULL);

			snprintf(fl->why, sizeof(fl->why), "cannot watch it: %s",
				 hwbp_last_error());
			if (no) {
				no->at = *l;
				no->at.resolved = false;
				snprintf(no->why, sizeof(no->why), "%s", fl->why);
				no->t1 = now_ns();
				publish(w, no);
			}
			l->resolved = false;
		} else {
			fl->target_armed = true;
		}
	}
	if (moved || (first && !l->resolved)) /* (arm() said the first) */
		follow_say(l, fl->why, !first);
}

/* The path of location i, resolved again from the program's memory. */
static void again(struct watch *w, int i, const struct follow_req *rq)
{
	struct location now;
	char msg[256];
	int err = syms_resolve(w->syms, w->cfg->locs[i], w->cfg->access, &now,
			       msg, sizeof(msg));

	if ((err && err != RESOLVE_PENDING) || (err && !now.nderefs)) {
		/* Its module is gone (or the program): keep what is armed,
		 * and answer the request so that its hits count again. */
		struct location *l = &w->locs[i];

		free(now.type.enums);
		if (!rq)
			return;
		now = *l;
		err = l->resolved ? 0 : RESOLVE_PENDING;
		snprintf(msg, sizeof(msg), "%s", w->follow->locs[i].why);
	}
	apply(w, i, &now, err, msg, rq, false);
}

/*
 * Location i has just been armed by watch.c (arm: its target), or is a
 * pointer path that points nowhere yet (err RESOLVE_PENDING, w->msg the
 * reason): from now on follow.c moves it.
 */
void follow_start(struct watch *w, int i, bool armed, const char *why)
{
	struct follow_loc *fl;
	struct location now;

	if (!w->follow || !w->locs[i].nderefs)
		return;
	fl = &w->follow->locs[i];
	fl->on = true;
	fl->target_armed = armed;
	now = w->locs[i];
	apply(w, i, &now, armed ? 0 : RESOLVE_PENDING, why, NULL, true);
}

/* The control thread's turn: the processor's requests, then the paths
 * that point nowhere, read again (as arm_pending does). */
void follow_service(struct watch *w)
{
	struct follow *f = w->follow;
	uint64_t v;

	if (!f)
		return;
	/* A pointer's change is seen when its record is read: the readers
	 * read now (every 2 ms), not a ring's eighth or 100 ms later. */
	if (w->stream)
		stream_poke_all(w->stream);
	if (read(f->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	for (;;) {
		struct follow_req rq;

		pthread_mutex_lock(&f->lock);
		if (!f->nreqs) {
			pthread_mutex_unlock(&f->lock);
			break;
		}
		rq = f->reqs[0];
		memmove(f->reqs, f->reqs + 1, (size_t)--f->nreqs *
					       sizeof(*f->reqs));
		pthread_mutex_unlock(&f->lock);
		again(w, rq.loc, &rq);
	}
	if (now_ns() - f->polled < POLL_NS)
		return;
	f->polled = now_ns();
	/* A program launched stopped had its slots watched before it ran:
	 * each change is a slot hit.  Attached, one may come before. */
	for (int i = 0; i < w->cfg->nlocs; i++)
		if (f->locs[i].on && !w->locs[i].resolved &&
		    (!w->target.launched || f->locs[i].slots_failed))
			again(w, i, NULL);
}

const char *follow_why(const struct watch *w, int i)
{
	return follow_owns(w, i) && w->follow->locs[i].why[0]
	       ? w->follow->locs[i].why : NULL;
}
