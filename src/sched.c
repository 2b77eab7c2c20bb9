/* SPDX-License-Identifier: MIT */
/*
 * sched.c - debug-register constraint handling in user space (the layer the
 * kernel keeps in kernel/events/hw_breakpoint.c, which only says ENOSPC):
 * any number of watches per scheduler, each range split onto registers,
 * armed by a policy (pinned, round-robin time slices, Witch's reservoir
 * re-drawn every quantum), re-armed in place with hwbp_move.  The policies
 * arm units: a watch's pieces together, or, for a watch that needs more
 * registers than there are (RR and reservoir), each piece on its own, so
 * its pieces take turns.  Hits are decoded in the SIGTRAP
 * handler: strays (bytes a widened register covers outside the watch) and
 * writes on read-only watches are dropped and counted.
 *
 * Locking: s->lock serializes add/remove/rotate/stats.  The hit handler
 * takes no lock: it finds the watch in the register's owner table, indexed
 * by the placement generation the hit carries, and removed watches stay
 * allocated until hwbp_sched_close (after the registers' callbacks end).
 * A closed scheduler (and its watches) stays allocated, marked closed, for
 * the next 16 closes: a call on it is -EBADF, not a use-after-free.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define OWNERS 64         /* placements remembered per register (2^n) */
#define DEFAULT_QUANTUM_US 10000

struct reg {
	struct hwbp_sched *s;
	struct hwbp *bp;          /* NULL until first armed */
	uint32_t gen;             /* its placement generation now */
	struct hwbp_watch *_Atomic owner[OWNERS]; /* by generation */
	struct unit *u;           /* armed for this unit now (NULL: free) */
	bool enabled;
};

/* What a policy arms or not: pieces [first, first + n) of a watch. */
struct unit {
	struct hwbp_watch *w;
	int first, n;
	bool armed;
	bool chosen;              /* reservoir re-draw: in the new subset */
	uint64_t armed_since;     /* when it was last armed */
};

struct hwbp_watch {
	struct hwbp_sched *s;
	uint64_t addr, len;
	enum hwbp_access access;
	void *cookie;
	struct hwbp_piece *pieces;
	int npieces;
	bool widened;             /* some register covers bytes outside */
	struct unit *units;       /* one (all pieces), or one per piece */
	int nunits;
	uint64_t *piece_ns;       /* each piece's armed time, closed turns */
	bool armed;               /* every piece armed */
	bool any_armed;           /* some piece armed */
	uint64_t added_ns, armed_since, armed_ns, any_since, any_ns;
	uint64_t removed_ns;      /* 0 while live: stats stop there */
	_Atomic uint64_t hits, strays, filtered, unsure;
	/* A thread watch (hwbp_sched_add_thread): armed in thread tid only,
	 * a handle per piece, outside the policy's registers. */
	pid_t tid;                /* 0: a watch of the scheduler's scope */
	struct hwbp **tbps;       /* npieces handles (NULL once removed) */
};

struct watch_list {
	struct hwbp_watch **v;
	int n, cap;
};

struct unit_list {
	struct unit **v;
	int n, cap;
};

struct hwbp_sched {
	enum hwbp_policy policy;
	uint32_t quantum_us;
	unsigned split;
	uint64_t rng;
	struct hwbp_opts bp_opts;
	hwbp_hit_fn on_hit;
	hwbp_record_fn on_record;
	bool ring;                /* registers deliver into rings ... */
	bool raw;                 /* ... handed over undecoded */
	int epfd;                 /* ring: every register's ring fd */
	struct reg *regs;
	int nregs;
	struct watch_list live;   /* in add order */
	struct watch_list dead;   /* removed; freed at close */
	struct unit_list queue;   /* the live watches' units, in add order */
	struct unit **order;      /* reservoir re-draw: a shuffled copy */
	int order_cap;
	uint64_t seen;            /* reservoir: units offered so far */
	int rr_next;              /* round-robin: the next unit's index */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t timer;
	bool has_timer, stop;
	unsigned timer_failed;    /* turns that failed (warned once) */
	_Atomic uint64_t unmatched; /* ring hits of no known placement */
	_Atomic uint64_t records;   /* ring hit records read */
	_Atomic bool closed;
	/* Ring delivery: rings of their own when a thread watch came before
	 * any register (then every register shares them too). */
	struct hwbp *ring_bp;
	/* Thread watches removed: what their handles had counted. */
	uint64_t thread_counted, thread_lost;
};

/* xorshift64*: reproducible from the seed, good enough for sampling. */
static uint64_t next_random(struct hwbp_sched *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545f4914f6cdd1dull;
}

static int list_push(struct watch_list *l, struct hwbp_watch *w)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		void *v = realloc(l->v, (size_t)cap * sizeof(*l->v));

		if (!v)
			return hwbp_fail(ENOMEM, "out of memory for a watch");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = w;
	return 0;
}

static int units_push(struct unit_list *l, struct unit *u)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		void *v = realloc(l->v, (size_t)cap * sizeof(*l->v));

		if (!v)
			return hwbp_fail(ENOMEM, "out of memory for a watch");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = u;
	return 0;
}

static int list_find(const struct watch_list *l, const struct hwbp_watch *w)
{
	for (int i = 0; i < l->n; i++)
		if (l->v[i] == w)
			return i;
	return -1;
}

/* ---- the hit path: async-signal-safe, no locks ---- */

/* How the instruction that ended at pc (in process pid, 0: this one)
 * touched watch w, for a hit on the register piece [at, at+len):
 * HWBP_TOUCH_* bits, 0 when unknown, -1 for a stray (it touched the
 * register's bytes only). */
static int classify(const struct hwbp_watch *w, pid_t pid, uint64_t pc,
		    uint64_t at, uint32_t len, const uint64_t *regs)
{
	struct hwbp_insn_info info;
	int how, err;

	if (w->access == HWBP_EXEC)
		return 0;
	err = hwbp_insn_before_in(pid, pc, at, len ? len : 1, regs, &info);
	if (err == -ENOENT)
		return -1; /* it touched none of the register's bytes */
	if (err)
		return 0; /* not decoded: deliver, counted unsure */
	how = hwbp_insn_touches(&info, w->addr, w->len);
	if (how == 0)
		return w->widened ? -1 : 0;
	return how & HWBP_TOUCH_UNSURE ? 0 : how;
}

static bool only_writes(int how)
{
	return (how & HWBP_TOUCH_WRITE) && !(how & HWBP_TOUCH_READ);
}

/* Count the hit where it belongs; true when it is delivered. */
static bool admit(struct hwbp_watch *w, int how)
{
	if (how < 0) {
		atomic_fetch_add(&w->strays, 1);
		return false;
	}
	if (w->access == HWBP_READ && only_writes(how)) {
		atomic_fetch_add(&w->filtered, 1);
		return false;
	}
	if (how == 0 && w->access != HWBP_EXEC)
		atomic_fetch_add(&w->unsure, 1);
	atomic_fetch_add(&w->hits, 1);
	return true;
}

/* The watches this thread's current SIGTRAP served: one access that
 * fires two registers of a watch (a range over two blocks) is one hit.
 * The library serves every register one signal fired (signal.c). */
#define SERVED_MAX 16
static HWBP_TLS struct {
	uint64_t trap;
	int n;
	const struct hwbp_watch *w[SERVED_MAX];
} served;

/* async-signal-safe */
static bool first_for_watch(const struct hwbp_watch *w)
{
	uint64_t trap = hwbp_trap_seq();

	if (served.trap != trap) {
		served.trap = trap;
		served.n = 0;
	}
	for (int i = 0; i < served.n; i++)
		if (served.w[i] == w)
			return false;
	if (served.n < SERVED_MAX)
		served.w[served.n++] = w;
	return true;
}

/* SIGTRAP path: async-signal-safe, no locks. */
static void sched_hit(const struct hwbp_hit *hit, void *uc)
{
	struct reg *r = hit->cookie;
	struct hwbp_watch *w = atomic_load(&r->owner[hit->generation % OWNERS]);
	uint64_t regs[HWBP_NREGS];
	struct hwbp_hit h;
	int how;

	if (!w || !first_for_watch(w))
		return;
	hwbp_uc_regs(uc, regs);
	how = classify(w, 0, hit->pc, hit->bp_addr, hit->bp_len, regs);
	if (!admit(w, how) || !r->s->on_hit)
		return;
	h = *hit;
	h.cookie = w->cookie;
	h.access = w->access; /* HWBP_READ, not the RW register */
	h.watch = w;
	h.touch = how;
	r->s->on_hit(&h, uc);
}

/* Does watch w's register pieces include one at addr for a hit by tid
 * (a thread watch: only its thread's)?  The piece's length in *len. */
static bool piece_at(const struct hwbp_watch *w, uint64_t addr, pid_t tid,
		     uint32_t *len)
{
	if (w->tid && w->tid != tid)
		return false;
	for (int p = 0; p < w->npieces; p++)
		if (w->pieces[p].addr == addr) {
			*len = w->pieces[p].len;
			return true;
		}
	return false;
}

/* The watch with a register piece at addr (live first), and the piece's
 * length; a thread watch only for hits of its thread.  Removed watches
 * count: their records may still be queued. */
static struct hwbp_watch *watch_at(struct hwbp_sched *s, uint64_t addr,
				   pid_t tid, uint32_t *len)
{
	const struct watch_list *lists[2] = { &s->live, &s->dead };
	struct hwbp_watch *found = NULL;

	pthread_mutex_lock(&s->lock);
	for (int l = 0; l < 2 && !found; l++)
		for (int i = 0; i < lists[l]->n && !found; i++)
			if (piece_at(lists[l]->v[i], addr, tid, len))
				found = lists[l]->v[i];
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* Ring path: runs in the thread calling hwbp_sched_poll. */
static void sched_record(const struct hwbp_record *rec, void *cookie)
{
	struct reg *r = cookie;
	struct hwbp_sched *s = r->s;
	struct hwbp_record out = *rec;
	uint64_t regs[HWBP_NREGS];
	struct hwbp_watch *w;
	uint32_t len = 0;
	int how;

	if (rec->kind != HWBP_REC_HIT) {
		out.cookie = s->bp_opts.cookie;
		s->on_record(&out, s->bp_opts.cookie);
		return;
	}
	atomic_fetch_add(&s->records, 1);
	w = watch_at(s, rec->addr, (pid_t)rec->tid, &len);
	if (!w) {
		atomic_fetch_add(&s->unmatched, 1);
		return;
	}
	if (s->raw) { /* the caller decodes (and counts strays) */
		atomic_fetch_add(&w->hits, 1);
		out.cookie = w->cookie;
		out.watch = w;
		out.touch = 0;
		s->on_record(&out, w->cookie);
		return;
	}
	hwbp_record_regs(rec, regs);
	how = classify(w, (pid_t)rec->pid, rec->ip, rec->addr, len,
		       rec->regs ? regs : NULL);
	if (!admit(w, how))
		return;
	out.cookie = w->cookie;
	out.watch = w;
	out.touch = how;
	s->on_record(&out, w->cookie);
}

/* ---- registers ---- */

static enum hwbp_access hw_access(enum hwbp_access a)
{
	/* x86: no read-only register (armed rw, writes filtered) */
	return a == HWBP_READ && !hwbp_arch.has_read_only ? HWBP_RW : a;
}

/* The handle whose rings every register and thread watch writes into
 * (NULL before the first is armed). */
static struct hwbp *ring_of(const struct hwbp_sched *s)
{
	return s->ring_bp ? s->ring_bp : s->regs[0].bp;
}

/* Ring delivery: the options of every handle writing into the rings
 * (one sample layout: the general registers, for decoding). */
static void ring_bp_opts(struct hwbp_sched *s, struct hwbp_opts *o)
{
	*o = s->bp_opts;
	o->on_record = sched_record;
	o->cookie = &s->regs[0]; /* (records come with the owner's) */
	o->sample |= HWBP_SAMPLE_REGS;
	o->regs_mask |= hwbp_arch.sample_regs;
	o->disabled = false;
	/* One ring per CPU, the first handle's: every register's records
	 * in one time-ordered stream per CPU, and task, mmap and switch
	 * records once. */
	if ((o->share_ring = ring_of(s)))
		o->task_events = o->switch_events = o->mmap_events = false;
}

/* The rings' owner is read by the consumers: an fd for their epoll. */
static int watch_ring(struct hwbp_sched *s, struct hwbp *owner)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->regs[0] };

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, hwbp_ring_fd(owner), &ev))
		return hwbp_fail(errno, "scheduler: epoll_ctl: %s",
				 strerror(errno));
	return 0;
}

static int reg_create(struct hwbp_sched *s, struct reg *r,
		      const struct hwbp_piece *p, enum hwbp_access access)
{
	struct hwbp_opts o = s->bp_opts;
	bool owner = false;
	int err;

	o.cookie = r;
	o.disabled = false;
	if (s->ring) {
		ring_bp_opts(s, &o);
		owner = !o.share_ring;
	} else {
		o.delivery = HWBP_DELIVER_SIGNAL;
		o.on_hit = sched_hit;
	}
	r->gen = 0;
	err = hwbp_create(&r->bp, p->addr, access == HWBP_EXEC ? 0 : p->len,
			  access, &o);
	if (!err && owner) /* (regs[0]: the first register opened) */
		err = watch_ring(s, r->bp);
	if (err && r->bp) {
		hwbp_close(r->bp);
		r->bp = NULL;
	}
	return err;
}

/* Point register r at piece p of unit u.  The owner of the placement is
 * published before the kernel can report a hit on it. */
static int reg_place(struct hwbp_sched *s, struct reg *r,
		     const struct hwbp_piece *p, struct unit *u)
{
	enum hwbp_access access = hw_access(u->w->access);
	uint32_t next = r->bp ? r->gen + 1 : 0; /* hwbp_move's, 32 bits */
	int err;

	atomic_store(&r->owner[next % OWNERS], u->w);
	if (!r->bp)
		err = reg_create(s, r, p, access);
	else
		err = hwbp_move(r->bp, p->addr,
				access == HWBP_EXEC ? 0 : p->len, access);
	if (err)
		return err;
	r->gen = next;
	if (!r->enabled && (err = hwbp_enable(r->bp)))
		return err;
	r->enabled = true;
	r->u = u;
	return 0;
}

static void reg_free(struct reg *r)
{
	if (r->bp && r->enabled)
		hwbp_disable(r->bp); /* keeps the kernel's reservation */
	r->enabled = false;
	r->u = NULL;
}

static int free_regs(const struct hwbp_sched *s)
{
	int n = 0;

	for (int i = 0; i < s->nregs; i++)
		n += !s->regs[i].u;
	return n;
}

/* The watch's times follow its units: whole (every piece armed) and any
 * (some piece armed). */
static void watch_follow(struct hwbp_watch *w, uint64_t now)
{
	bool all = true, any = false;

	for (int i = 0; i < w->nunits; i++) {
		all = all && w->units[i].armed;
		any = any || w->units[i].armed;
	}
	if (all != w->armed) {
		if (all)
			w->armed_since = now;
		else
			w->armed_ns += now - w->armed_since;
		w->armed = all;
	}
	if (any != w->any_armed) {
		if (any)
			w->any_since = now;
		else
			w->any_ns += now - w->any_since;
		w->any_armed = any;
	}
}

static void unit_disarm(struct hwbp_sched *s, struct unit *u)
{
	uint64_t now = hwbp_now_ns();

	if (!u->armed)
		return;
	for (int i = 0; i < s->nregs; i++)
		if (s->regs[i].u == u)
			reg_free(&s->regs[i]);
	for (int p = u->first; p < u->first + u->n; p++)
		u->w->piece_ns[p] += now - u->armed_since;
	u->armed = false;
	watch_follow(u->w, now);
}

static int unit_arm(struct hwbp_sched *s, struct unit *u)
{
	int piece = u->first, err = 0;

	if (u->armed)
		return 0;
	for (int i = 0; i < s->nregs && piece < u->first + u->n && !err; i++)
		if (!s->regs[i].u)
			err = reg_place(s, &s->regs[i], &u->w->pieces[piece++],
					u);
	if (!err && piece < u->first + u->n)
		err = hwbp_fail(ENOSPC, "internal: no free register");
	u->armed = true;
	u->armed_since = hwbp_now_ns();
	watch_follow(u->w, u->armed_since);
	if (err)
		unit_disarm(s, u);
	return err;
}

static void disarm(struct hwbp_sched *s, struct hwbp_watch *w)
{
	for (int i = 0; i < w->nunits; i++)
		unit_disarm(s, &w->units[i]);
}

/* ---- policies ---- */

static int add_pinned(struct hwbp_sched *s, struct hwbp_watch *w)
{
	int spare = free_regs(s);

	if (w->npieces > spare)
		return hwbp_fail(ENOSPC, "pinned watch at 0x%llx (%llu bytes) "
				 "needs %d debug register%s, %d of %d free: "
				 "the others hold pinned watches (use the "
				 "round-robin or reservoir policy to share them)",
				 (unsigned long long)w->addr,
				 (unsigned long long)w->len, w->npieces,
				 w->npieces == 1 ? "" : "s", spare, s->nregs);
	return unit_arm(s, &w->units[0]);
}

/* Witch's reservoir: the n-th unit is armed with probability k/n, in
 * place of a random armed one, so every unit seen is equally likely to
 * be armed. */
static int reservoir_offer(struct hwbp_sched *s, struct unit *u)
{
	int armed = 0;

	s->seen++;
	if (u->n <= free_regs(s))
		return unit_arm(s, u);
	for (int i = 0; i < s->queue.n; i++)
		armed += s->queue.v[i]->armed;
	if (!armed || next_random(s) % s->seen >= (uint64_t)armed)
		return 0; /* stays a candidate, unarmed */
	while (u->n > free_regs(s)) {
		uint64_t victim = next_random(s) % (uint64_t)armed;

		for (int i = 0; i < s->queue.n; i++)
			if (s->queue.v[i]->armed && victim-- == 0) {
				unit_disarm(s, s->queue.v[i]);
				armed--;
				break;
			}
	}
	return unit_arm(s, u);
}

static int add_reservoir(struct hwbp_sched *s, struct hwbp_watch *w)
{
	int err = 0;

	for (int i = 0; i < w->nunits && !err; i++)
		err = reservoir_offer(s, &w->units[i]);
	return err;
}

/* Round-robin: a new watch's units are armed where registers are free. */
static int add_rr(struct hwbp_sched *s, struct hwbp_watch *w)
{
	int err = 0;

	for (int i = 0; i < w->nunits && !err; i++)
		if (w->units[i].n <= free_regs(s))
			err = unit_arm(s, &w->units[i]);
	return err;
}

/* One round-robin step: the units from rr_next on, as many as fit. */
static int rr_step(struct hwbp_sched *s)
{
	int n = s->queue.n, err = 0, i;

	for (i = 0; i < n; i++)
		unit_disarm(s, s->queue.v[i]);
	if (s->rr_next >= n)
		s->rr_next = 0;
	for (i = 0; i < n && !err; i++) {
		struct unit *u = s->queue.v[(s->rr_next + i) % n];

		if (u->n > free_regs(s))
			break;
		err = unit_arm(s, u);
	}
	s->rr_next = (s->rr_next + i) % n;
	return err;
}

/*
 * Reservoir, every quantum: a new uniform draw of the units to arm (a
 * random order, taken while they fit), so over time every unit is armed
 * with the same chance (k of n for one-register units) instead of the
 * first k staying armed while no new watch comes.  Units drawn again stay
 * armed: only the changes are re-armed.
 */
static int redraw(struct hwbp_sched *s)
{
	int n = s->queue.n, left = s->nregs, err = 0;

	if (n > s->order_cap) {
		void *v = realloc(s->order, (size_t)n * sizeof(*s->order));

		if (!v)
			return hwbp_fail(ENOMEM, "out of memory for a re-draw");
		s->order = v;
		s->order_cap = n;
	}
	memcpy(s->order, s->queue.v, (size_t)n * sizeof(*s->order));
	for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
		int j = (int)(next_random(s) % (uint64_t)(i + 1));
		struct unit *t = s->order[i];

		s->order[i] = s->order[j];
		s->order[j] = t;
	}
	for (int i = 0; i < n; i++) {
		struct unit *u = s->order[i];

		u->chosen = u->n <= left;
		if (u->chosen)
			left -= u->n;
	}
	for (int i = 0; i < n; i++)
		if (s->order[i]->armed && !s->order[i]->chosen)
			unit_disarm(s, s->order[i]);
	for (int i = 0; i < n && !err; i++)
		if (s->order[i]->chosen)
			err = unit_arm(s, s->order[i]);
	return err;
}

static int rotate_locked(struct hwbp_sched *s)
{
	if (!s->queue.n)
		return 0;
	if (s->policy == HWBP_POLICY_RR)
		return rr_step(s);
	if (s->policy == HWBP_POLICY_RESERVOIR)
		return redraw(s);
	return 0;
}

/* Registers freed by a removal go to waiting units now: round-robin in
 * queue order, reservoir a random candidate each (every candidate stays
 * equally likely to be armed). */
static int refill(struct hwbp_sched *s)
{
	int err = 0;

	if (s->policy == HWBP_POLICY_PINNED)
		return 0;
	for (int tries = 0; tries < s->queue.n && !err; tries++) {
		int waiting = 0, pick;

		for (int i = 0; i < s->queue.n; i++)
			waiting += !s->queue.v[i]->armed &&
				   s->queue.v[i]->n <= free_regs(s);
		if (!waiting)
			break;
		pick = s->policy == HWBP_POLICY_RESERVOIR ?
		       (int)(next_random(s) % (uint64_t)waiting) : 0;
		for (int i = 0; i < s->queue.n; i++) {
			struct unit *u =
				s->queue.v[(s->rr_next + i) % s->queue.n];

			if (u->armed || u->n > free_regs(s) || pick--)
				continue;
			err = unit_arm(s, u);
			break;
		}
	}
	return err;
}

static void *rr_timer(void *arg)
{
	struct hwbp_sched *s = arg;
	struct timespec until;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)s->quantum_us * 1000;
		until.tv_sec += until.tv_nsec / 1000000000;
		until.tv_nsec %= 1000000000;
		if (pthread_cond_timedwait(&s->wake, &s->lock, &until) ==
		    ETIMEDOUT && !s->stop && rotate_locked(s) &&
		    !s->timer_failed++)
			hwbp_log(HWBP_LOG_WARN, "hwbp scheduler: a %s turn "
				 "could not arm its watches: %s",
				 s->policy == HWBP_POLICY_RR ? "round-robin" :
				 "reservoir", hwbp_last_error());
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- open and recently closed schedulers ---- */

static void free_watch(struct hwbp_watch *w)
{
	if (w) {
		free(w->tbps);
		free(w->pieces);
		free(w->units);
		free(w->piece_ns);
	}
	free(w);
}

/* A thread watch's handles closed, their counts kept (under s->lock, or
 * at the end). */
static void close_thread_watch(struct hwbp_sched *s, struct hwbp_watch *w)
{
	HWBP_OPTS(hwbp_stats, st);
	uint64_t n;

	for (int p = 0; w->tbps && p < w->npieces; p++) {
		if (!w->tbps[p])
			continue;
		if (hwbp_read_count(w->tbps[p], &n) == 0)
			s->thread_counted += n;
		if (hwbp_get_stats(w->tbps[p], &st) == 0)
			s->thread_lost += st.lost;
		hwbp_close(w->tbps[p]);
		w->tbps[p] = NULL;
	}
	if (w->tid && w->armed) {
		w->armed = w->any_armed = false;
		w->armed_ns += hwbp_now_ns() - w->armed_since;
		w->any_ns = w->armed_ns;
	}
}

/* Stop arming: the timer thread, the registers (hwbp_close waits for
 * their callbacks: then nothing names a watch any more), the ring set. */
static void sched_stop(struct hwbp_sched *s)
{
	if (s->has_timer) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->timer, NULL);
		s->has_timer = false;
	}
	for (int i = 0; i < s->live.n; i++)
		close_thread_watch(s, s->live.v[i]);
	/* the rings' owner last */
	for (int i = s->regs ? s->nregs - 1 : -1; i >= 0; i--) {
		hwbp_close(s->regs[i].bp);
		s->regs[i].bp = NULL;
	}
	hwbp_close(s->ring_bp);
	s->ring_bp = NULL;
	if (s->epfd >= 0)
		close(s->epfd);
	s->epfd = -1;
}

static void sched_free(struct hwbp_sched *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->live.n; i++)
		free_watch(s->live.v[i]);
	for (int i = 0; i < s->dead.n; i++)
		free_watch(s->dead.v[i]);
	free(s->live.v);
	free(s->dead.v);
	free(s->queue.v);
	free(s->order);
	free(s->regs);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void sched_free_any(void *s)
{
	sched_free(s);
}

static struct hwbp_handles scheds = HWBP_HANDLES_INIT(sched_free_any, 16);

__attribute__((destructor)) static void free_sched_quarantine(void)
{
	hwbp_handles_drain(&scheds);
}

/* A usable scheduler, or -EINVAL (NULL) / -EBADF (closed), with the message. */
static int check_sched(const struct hwbp_sched *s, const char *fn)
{
	if (!s)
		return hwbp_fail(EINVAL, "%s: scheduler is NULL", fn);
	if (atomic_load(&s->closed))
		return hwbp_fail(EBADF, "%s: this scheduler is closed", fn);
	return 0;
}

/* ---- public ---- */

/* SIGTRAP goes to the thread that hit: it must be one of ours. */
static bool signals_reach_us(const struct hwbp_opts *bo)
{
	enum hwbp_scope scope = HWBP_OPTS_GET(bo, scope, HWBP_SCOPE_SELF);
	pid_t pid = HWBP_OPTS_GET(bo, pid, 0);
	char path[64];

	if (scope == HWBP_SCOPE_PROCESS)
		return pid == 0 || pid == getpid();
	if (scope == HWBP_SCOPE_THREAD) {
		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)pid);
		return access(path, F_OK) == 0;
	}
	return scope == HWBP_SCOPE_SELF;
}

static int sched_opts_check(const struct hwbp_sched_opts *o, int slots)
{
	enum hwbp_policy policy = HWBP_OPTS_GET(o, policy, HWBP_POLICY_PINNED);
	uint32_t regs = HWBP_OPTS_GET(o, registers, 0);
	const struct hwbp_opts *bo = HWBP_OPTS_GET(o, bp_opts, NULL);
	int err = o ? hwbp_opts_valid(o, o->sz, sizeof(*o), "hwbp_sched_opts")
		    : 0;
	bool ring = bo && HWBP_OPTS_GET(bo, delivery, HWBP_DELIVER_COUNT) ==
			  HWBP_DELIVER_RING;

	if (err)
		return err;
	if (policy > HWBP_POLICY_RESERVOIR)
		return hwbp_fail(EINVAL, "hwbp_sched_create: unknown policy %d",
				 (int)policy);
	if (regs > (uint32_t)slots)
		return hwbp_fail(EINVAL, "hwbp_sched_create: %u registers "
				 "asked, this machine has %d per thread", regs,
				 slots);
	if (HWBP_OPTS_GET(o, split, 0) & ~HWBP_SPLIT_EXACT)
		return hwbp_fail(EINVAL, "hwbp_sched_create: unknown split "
				 "flags");
	if (bo && (err = hwbp_opts_valid(bo, bo->sz, sizeof(*bo), "hwbp_opts")))
		return err;
	if (ring && !HWBP_OPTS_GET(o, on_record, NULL))
		return hwbp_fail(EINVAL, "hwbp_sched_create: ring delivery "
				 "needs on_record");
	if (bo && HWBP_OPTS_GET(bo, scope, HWBP_SCOPE_SELF) == HWBP_SCOPE_CPUS)
		return hwbp_fail(EOPNOTSUPP, "hwbp_sched_create: CPU-wide "
				 "scopes are not scheduled (their accesses come "
				 "from any process: nothing to decode them with)");
	if (bo && !ring && !signals_reach_us(bo))
		return hwbp_fail(EOPNOTSUPP, "hwbp_sched_create: the scheduler "
				 "decodes hits in this process's SIGTRAP "
				 "handler: pid %d is not one of its threads",
				 (int)HWBP_OPTS_GET(bo, pid, 0));
	return 0;
}

static void copy_bp_opts(struct hwbp_opts *dst, const struct hwbp_opts *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src)
		memcpy(dst, src, src->sz < sizeof(*dst) ? src->sz : sizeof(*dst));
	dst->sz = sizeof(*dst);
}

HWBP_API int hwbp_sched_create(struct hwbp_sched **out,
			       const struct hwbp_sched_opts *opts)
{
	int slots = hwbp_probe_cached(NULL), err;
	struct hwbp_sched *s;

	struct hwbp_probe pr;

	hwbp_clear_error();
	if (!out)
		return hwbp_fail(EINVAL, "hwbp_sched_create: out is NULL");
	*out = NULL;
	if ((err = sched_opts_check(opts, slots)))
		return err;
	hwbp_probe_cached(&pr);
	if ((err = hwbp_check_breakpoints(&pr)))
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return hwbp_fail(ENOMEM, "out of memory for a scheduler");
	s->policy = HWBP_OPTS_GET(opts, policy, HWBP_POLICY_PINNED);
	s->nregs = (int)HWBP_OPTS_GET(opts, registers, 0);
	if (!s->nregs)
		s->nregs = slots;
	s->quantum_us = HWBP_OPTS_GET(opts, quantum_us, 0);
	if (!s->quantum_us)
		s->quantum_us = DEFAULT_QUANTUM_US;
	s->rng = HWBP_OPTS_GET(opts, seed, 0);
	if (!s->rng)
		s->rng = 1;
	s->split = HWBP_OPTS_GET(opts, split, 0);
	s->on_hit = HWBP_OPTS_GET(opts, on_hit, NULL);
	s->on_record = HWBP_OPTS_GET(opts, on_record, NULL);
	s->epfd = -1;
	copy_bp_opts(&s->bp_opts, HWBP_OPTS_GET(opts, bp_opts, NULL));
	/* Registers are opened lazily, maybe in the timer thread: "self"
	 * means the thread creating the scheduler. */
	if (s->bp_opts.scope == HWBP_SCOPE_SELF) {
		s->bp_opts.scope = HWBP_SCOPE_THREAD;
		s->bp_opts.pid = gettid();
	}
	s->ring = s->bp_opts.delivery == HWBP_DELIVER_RING;
	s->raw = s->ring && HWBP_OPTS_GET(opts, raw_records, false);
	if (s->ring && (s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		err = errno;
		sched_stop(s);
		sched_free(s);
		return hwbp_fail(err, "hwbp_sched_create: epoll_create1: %s",
				 strerror(err));
	}
	s->regs = calloc((size_t)s->nregs, sizeof(*s->regs));
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; s->regs && i < s->nregs; i++)
		s->regs[i].s = s;
	if (!s->regs) {
		sched_free(s);
		return hwbp_fail(ENOMEM, "out of memory for a scheduler");
	}
	if (s->policy != HWBP_POLICY_PINNED &&
	    !HWBP_OPTS_GET(opts, manual, false)) {
		err = -pthread_create(&s->timer, NULL, rr_timer, s);
		if (err) {
			sched_stop(s);
			sched_free(s);
			return hwbp_fail(-err, "hwbp_sched_create: no timer "
					 "thread: %s", strerror(-err));
		}
		s->has_timer = true;
	}
	if ((err = hwbp_handles_add(&scheds, s))) {
		sched_stop(s);
		sched_free(s);
		return err;
	}
	*out = s;
	return 0;
}

/* Its pieces armed together; or, wider than the registers (RR and
 * reservoir: pinned refuses it), each piece a unit of its own. */
static int new_units(const struct hwbp_sched *s, struct hwbp_watch *w)
{
	bool apart = w->npieces > s->nregs;

	w->nunits = apart ? w->npieces : 1;
	w->units = calloc((size_t)w->nunits, sizeof(*w->units));
	w->piece_ns = calloc((size_t)w->npieces, sizeof(*w->piece_ns));
	if (!w->units || !w->piece_ns)
		return -ENOMEM;
	for (int i = 0; i < w->nunits; i++)
		w->units[i] = (struct unit){ .w = w, .first = apart ? i : 0,
					     .n = apart ? 1 : w->npieces };
	return 0;
}

static int new_watch(struct hwbp_sched *s, uint64_t addr, uint64_t len,
		     enum hwbp_access access, void *cookie,
		     struct hwbp_watch **out)
{
	struct hwbp_watch *w = calloc(1, sizeof(*w));
	int n;

	if (!w)
		return hwbp_fail(ENOMEM, "out of memory for a watch");
	*w = (struct hwbp_watch){ .s = s, .addr = addr, .len = len,
				  .access = access, .cookie = cookie };
	if (access == HWBP_EXEC) {
		n = 1;
		w->pieces = malloc(sizeof(*w->pieces));
		if (w->pieces)
			w->pieces[0] = (struct hwbp_piece){ addr, 0 };
	} else {
		n = hwbp_range_split(addr, len, s->split, NULL, 0);
		w->pieces = n > 0 ? calloc((size_t)n, sizeof(*w->pieces)) : NULL;
		if (w->pieces)
			hwbp_range_split(addr, len, s->split, w->pieces, n);
	}
	if (n > 0 && !w->pieces)
		n = hwbp_fail(ENOMEM, "out of memory for a watch");
	if (n < 0) {
		free(w);
		return n;
	}
	w->npieces = n;
	for (int i = 0; i < n && access != HWBP_EXEC; i++)
		w->widened |= w->pieces[i].addr < addr ||
			      w->pieces[i].addr + w->pieces[i].len > addr + len;
	if (new_units(s, w)) {
		free_watch(w);
		return hwbp_fail(ENOMEM, "out of memory for a watch");
	}
	w->added_ns = hwbp_now_ns();
	*out = w;
	return 0;
}

static int check_watch_args(struct hwbp_sched *s, uint64_t addr, uint64_t len,
			    enum hwbp_access access, const char *fn)
{
	struct hwbp_place p = { addr, 1, hw_access(access) };
	int err = check_sched(s, fn);

	if (err)
		return err;
	if (access != HWBP_READ && access != HWBP_WRITE && access != HWBP_RW &&
	    access != HWBP_EXEC)
		return hwbp_fail(EINVAL, "%s: access %d is not "
				 "HWBP_READ/WRITE/RW/EXEC", fn, (int)access);
	if (access != HWBP_EXEC && !len)
		return hwbp_fail(EINVAL, "%s: len 0 at 0x%llx", fn,
				 (unsigned long long)addr);
	if (access == HWBP_EXEC)
		p.len = hwbp_arch.exec_len;
	return hwbp_check_place(&p, s->bp_opts.kernel);
}

HWBP_API int hwbp_sched_add(struct hwbp_sched *s, uint64_t addr, uint64_t len,
			    enum hwbp_access access, void *cookie,
			    struct hwbp_watch **out)
{
	struct hwbp_watch *w = NULL;
	int err;

	hwbp_clear_error();
	if (out)
		*out = NULL;
	if ((err = check_watch_args(s, addr, len, access,
				     "hwbp_sched_add")) ||
	    (err = new_watch(s, addr, len, access, cookie, &w)))
		return err;
	if (w->npieces > s->nregs && s->policy == HWBP_POLICY_PINNED) {
		err = hwbp_fail(ENOSPC, "watch at 0x%llx (%llu bytes) needs %d "
				"debug registers, the scheduler has %d: a pinned "
				"watch is armed whole (the round-robin and "
				"reservoir policies arm its pieces in turns)",
				(unsigned long long)addr,
				(unsigned long long)len, w->npieces, s->nregs);
		free_watch(w);
		return err;
	}
	pthread_mutex_lock(&s->lock);
	err = list_push(&s->live, w);
	for (int i = 0; i < w->nunits && !err; i++)
		err = units_push(&s->queue, &w->units[i]);
	if (!err && s->policy == HWBP_POLICY_PINNED)
		err = add_pinned(s, w);
	else if (!err && s->policy == HWBP_POLICY_RESERVOIR)
		err = add_reservoir(s, w);
	else if (!err)
		err = add_rr(s, w);
	if (err) {
		disarm(s, w);
		while (s->queue.n && s->queue.v[s->queue.n - 1]->w == w)
			s->queue.n--; /* its units were pushed last */
		if (list_find(&s->live, w) >= 0)
			s->live.n--; /* it was pushed last */
	}
	if (!err && w->any_armed) /* opening registers is not a gap */
		w->added_ns = w->any_since;
	pthread_mutex_unlock(&s->lock);
	if (err) {
		free_watch(w);
		return err;
	}
	if (out)
		*out = w;
	return 0;
}

/* Thread watches: ring delivery on a process, tid one of its threads or
 * (children followed) of a process it forked. */
static int check_thread_watch(struct hwbp_sched *s, pid_t tid)
{
	pid_t pid = s->bp_opts.pid ? s->bp_opts.pid : getpid();
	bool children = !s->bp_opts.no_follow;

	if (!s->ring || s->bp_opts.scope != HWBP_SCOPE_PROCESS)
		return hwbp_fail(EINVAL, "hwbp_sched_add_thread: the scheduler "
				 "must deliver into rings (HWBP_DELIVER_RING) "
				 "on a process (HWBP_SCOPE_PROCESS)");
	if (!hwbp_task_in(tid, pid, children))
		return hwbp_fail(ESRCH, "hwbp_sched_add_thread: thread %d is "
				 "not one of process %d's%s", (int)tid,
				 (int)pid, children ? " nor of a process it "
				 "forked" : " (children not followed: "
				 "bp_opts.no_follow)");
	return 0;
}

/* The rings, before anything is armed: a handle with rings only. */
static int open_rings(struct hwbp_sched *s)
{
	struct hwbp_opts o;
	int err;

	if (ring_of(s))
		return 0;
	ring_bp_opts(s, &o);
	if ((err = hwbp_ring_create(&s->ring_bp, &o)))
		return err;
	if ((err = watch_ring(s, s->ring_bp))) {
		hwbp_close(s->ring_bp);
		s->ring_bp = NULL;
	}
	return err;
}

/* A thread watch's pieces, each a register of thread tid, writing into
 * the scheduler's rings (under s->lock, the watch already findable). */
static int arm_thread_watch(struct hwbp_sched *s, struct hwbp_watch *w)
{
	struct hwbp_opts o;
	int err = open_rings(s);

	if (!err && !(w->tbps = calloc((size_t)w->npieces, sizeof(*w->tbps))))
		err = hwbp_fail(ENOMEM, "out of memory for a watch");
	ring_bp_opts(s, &o);
	o.scope = HWBP_SCOPE_THREAD;
	o.pid = w->tid;
	o.no_follow = true;
	for (int p = 0; p < w->npieces && !err; p++) {
		enum hwbp_access a = hw_access(w->access);

		err = hwbp_create(&w->tbps[p], w->pieces[p].addr,
				  a == HWBP_EXEC ? 0 : w->pieces[p].len, a, &o);
		if (err == -ENOSPC)
			err = hwbp_fail(ENOSPC, "thread %d has no free debug "
					"register for the watch at 0x%llx (%llu "
					"bytes, %d register%s): each thread has "
					"%d, shared with the watches on the "
					"whole process", (int)w->tid,
					(unsigned long long)w->addr,
					(unsigned long long)w->len, w->npieces,
					w->npieces == 1 ? "" : "s",
					hwbp_probe_cached(NULL));
	}
	if (err)
		close_thread_watch(s, w);
	return err;
}

HWBP_API int hwbp_sched_add_thread(struct hwbp_sched *s, pid_t tid,
				   uint64_t addr, uint64_t len,
				   enum hwbp_access access, void *cookie,
				   struct hwbp_watch **out)
{
	struct hwbp_watch *w = NULL;
	int err;

	hwbp_clear_error();
	if (out)
		*out = NULL;
	if ((err = check_watch_args(s, addr, len, access,
				    "hwbp_sched_add_thread")) ||
	    (err = check_thread_watch(s, tid)) ||
	    (err = new_watch(s, addr, len, access, cookie, &w)))
		return err;
	w->tid = tid;
	w->nunits = 0; /* (no turns: not the policy's) */
	pthread_mutex_lock(&s->lock);
	err = list_push(&s->live, w);
	if (!err && (err = arm_thread_watch(s, w)))
		s->live.n--; /* it was pushed last */
	if (!err) {
		w->added_ns = w->armed_since = w->any_since = hwbp_now_ns();
		w->armed = w->any_armed = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (err) {
		free_watch(w);
		return err;
	}
	if (out)
		*out = w;
	return 0;
}

/* Take w's units out of the queue, keeping rr_next on the same unit. */
static void queue_drop(struct hwbp_sched *s, const struct hwbp_watch *w)
{
	int k = 0;

	for (int i = 0; i < s->queue.n; i++) {
		if (s->queue.v[i]->w == w) {
			if (i < s->rr_next)
				s->rr_next--;
			continue;
		}
		s->queue.v[k++] = s->queue.v[i];
	}
	s->queue.n = k;
}

HWBP_API int hwbp_sched_remove(struct hwbp_sched *s, struct hwbp_watch *w)
{
	int at, err = 0;

	hwbp_clear_error();
	if ((err = check_sched(s, "hwbp_sched_remove")))
		return err;
	if (!w)
		return hwbp_fail(EINVAL, "hwbp_sched_remove: watch is NULL");
	pthread_mutex_lock(&s->lock);
	at = list_find(&s->live, w);
	if (at < 0) {
		err = hwbp_fail(ENOENT, "hwbp_sched_remove: not a live watch "
				"of this scheduler (removed already?)");
	} else {
		/* A signal may still name it: freed at close. */
		err = list_push(&s->dead, w);
		if (!err) {
			close_thread_watch(s, w);
			disarm(s, w);
			w->removed_ns = hwbp_now_ns();
			memmove(&s->live.v[at], &s->live.v[at + 1],
				(size_t)(s->live.n - at - 1) *
				sizeof(*s->live.v));
			s->live.n--;
			queue_drop(s, w);
			err = refill(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

HWBP_API int hwbp_sched_rotate(struct hwbp_sched *s)
{
	int err = check_sched(s, "hwbp_sched_rotate");

	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	err = rotate_locked(s);
	pthread_mutex_unlock(&s->lock);
	return err;
}

HWBP_API int hwbp_watch_get_stats(const struct hwbp_watch *w,
				  struct hwbp_watch_stats *st)
{
	struct hwbp_watch_stats all = { .sz = sizeof(all) };
	struct hwbp_sched *s;
	uint64_t now = hwbp_now_ns();
	int err;

	if (!w || !st)
		return hwbp_fail(EINVAL, "hwbp_watch_get_stats: %s is NULL",
				 w ? "stats" : "watch");
	if (atomic_load(&w->s->closed))
		return hwbp_fail(EBADF, "hwbp_watch_get_stats: its scheduler "
				 "is closed");
	if ((err = hwbp_opts_valid(st, st->sz, sizeof(*st), "hwbp_watch_stats")))
		return err;
	s = w->s;
	pthread_mutex_lock(&s->lock);
	all.hits = atomic_load(&w->hits);
	all.strays = atomic_load(&w->strays);
	all.filtered = atomic_load(&w->filtered);
	all.unsure = atomic_load(&w->unsure);
	if (w->removed_ns)
		now = w->removed_ns;
	all.armed_ns = w->armed_ns + (w->armed ? now - w->armed_since : 0);
	all.any_ns = w->any_ns + (w->any_armed ? now - w->any_since : 0);
	all.total_ns = now - w->added_ns;
	all.registers = (uint32_t)w->npieces;
	all.armed = w->armed;
	for (int i = 0; i < w->nunits; i++)
		all.pieces_armed += w->units[i].armed ? (uint32_t)w->units[i].n
						      : 0;
	if (w->tid && w->armed) /* a thread watch: all its pieces */
		all.pieces_armed = (uint32_t)w->npieces;
	pthread_mutex_unlock(&s->lock);
	hwbp_copy_out(st, st->sz, &all, sizeof(all));
	return 0;
}

static const struct unit *unit_of(const struct hwbp_watch *w, int piece)
{
	for (int i = 0; i < w->nunits; i++)
		if (piece >= w->units[i].first &&
		    piece < w->units[i].first + w->units[i].n)
			return &w->units[i];
	return NULL;
}

HWBP_API int hwbp_watch_get_piece_stats(const struct hwbp_watch *w,
					uint32_t piece,
					struct hwbp_piece_stats *st)
{
	struct hwbp_piece_stats all = { .sz = sizeof(all) };
	uint64_t now = hwbp_now_ns();
	const struct unit *u;
	int err;

	if (!w || !st)
		return hwbp_fail(EINVAL, "hwbp_watch_get_piece_stats: %s is "
				 "NULL", w ? "stats" : "watch");
	if (atomic_load(&w->s->closed))
		return hwbp_fail(EBADF, "hwbp_watch_get_piece_stats: its "
				 "scheduler is closed");
	if ((err = hwbp_opts_valid(st, st->sz, sizeof(*st),
				   "hwbp_piece_stats")))
		return err;
	if (piece >= (uint32_t)w->npieces)
		return hwbp_fail(EINVAL, "hwbp_watch_get_piece_stats: piece "
				 "%u: the watch has %d (0..%d, its "
				 "hwbp_watch_stats.registers)", piece,
				 w->npieces, w->npieces - 1);
	pthread_mutex_lock(&w->s->lock);
	if (w->removed_ns)
		now = w->removed_ns;
	u = unit_of(w, (int)piece);
	all.addr = w->pieces[piece].addr;
	all.len = w->pieces[piece].len;
	all.armed = w->tid ? w->armed : u && u->armed;
	all.armed_ns = w->tid ? w->armed_ns + (w->armed ? now - w->armed_since
							: 0) :
		       w->piece_ns[piece] +
		       (all.armed ? now - u->armed_since : 0);
	all.total_ns = now - w->added_ns;
	pthread_mutex_unlock(&w->s->lock);
	hwbp_copy_out(st, st->sz, &all, sizeof(all));
	return 0;
}

HWBP_API int hwbp_sched_close(struct hwbp_sched *s)
{
	if (!s)
		return 0;
	if (!hwbp_handles_unlink(&scheds, s, &s->closed))
		return hwbp_fail(EBADF, "hwbp_sched_close: not an open "
				 "scheduler (closed already?)");
	sched_stop(s);
	hwbp_handles_retire(&scheds, s);
	return 0;
}

/* ---- ring delivery ---- */

static int check_ring_sched(const struct hwbp_sched *s, const char *fn)
{
	int err = check_sched(s, fn);

	if (err)
		return err;
	if (!s->ring)
		return hwbp_fail(EINVAL, "%s: the scheduler delivers by signal "
				 "(bp_opts->delivery is not HWBP_DELIVER_RING)",
				 fn);
	return 0;
}

HWBP_API int hwbp_sched_fd(const struct hwbp_sched *s)
{
	int err = check_ring_sched(s, "hwbp_sched_fd");

	return err ? err : s->epfd;
}

/* The register whose rings all write into (NULL before the first arms).
 * Records are delivered without the lock: the callback may add and
 * remove watches. */
static struct hwbp *ring_owner(struct hwbp_sched *s)
{
	struct hwbp *bp;

	pthread_mutex_lock(&s->lock);
	bp = ring_of(s);
	pthread_mutex_unlock(&s->lock);
	return bp;
}

HWBP_API int hwbp_sched_consume(struct hwbp_sched *s)
{
	struct hwbp *bp;
	int err = check_ring_sched(s, "hwbp_sched_consume");

	if (err)
		return err;
	bp = ring_owner(s);
	return bp ? hwbp_rings_drain(&bp, 1) : 0;
}

HWBP_API int hwbp_sched_consume_cpu(struct hwbp_sched *s, int cpu)
{
	struct hwbp *bp;
	int err = check_ring_sched(s, "hwbp_sched_consume_cpu");

	if (err)
		return err;
	bp = ring_owner(s);
	return bp ? hwbp_ring_consume_cpu(bp, cpu) : 0;
}

HWBP_API int hwbp_sched_ring_stat_cpu(struct hwbp_sched *s, int cpu,
				      struct hwbp_ring_stat *st)
{
	struct hwbp_ring_stat all = { .sz = sizeof(all) }, one;
	struct hwbp *owner;
	int err = check_ring_sched(s, "hwbp_sched_ring_stat_cpu");

	if (!err && !st)
		err = hwbp_fail(EINVAL, "hwbp_sched_ring_stat_cpu: stat is "
				"NULL");
	if (!err)
		err = hwbp_opts_valid(st, st->sz, sizeof(*st), "hwbp_ring_stat");
	if (err)
		return err;
	if (!(owner = ring_owner(s)))
		return hwbp_fail(ENOENT, "hwbp_sched_ring_stat_cpu: no ring "
				 "yet (no watch was armed)");
	pthread_mutex_lock(&s->lock);
	/* the ring itself (and the owner's drops: a register's, or none) */
	err = hwbp_ring_stat_of(owner, owner, cpu, &all);
	for (int i = 0; i < s->nregs && !err; i++) {
		if (!s->regs[i].bp || s->regs[i].bp == owner)
			continue;
		err = hwbp_ring_stat_of(s->regs[i].bp, owner, cpu, &one);
		all.lost += one.lost;
	}
	for (int i = 0; i < s->live.n && !err; i++)
		for (int p = 0; s->live.v[i]->tbps && p < s->live.v[i]->npieces &&
		     !err; p++)
			if (s->live.v[i]->tbps[p]) {
				err = hwbp_ring_stat_of(s->live.v[i]->tbps[p],
							owner, cpu, &one);
				all.lost += one.lost;
			}
	pthread_mutex_unlock(&s->lock);
	if (!err)
		hwbp_copy_out(st, st->sz, &all, sizeof(all));
	return err;
}

HWBP_API int hwbp_sched_ring_cpus(const struct hwbp_sched *s, int *cpus,
				  int *fds, int max)
{
	struct hwbp *bp;
	int err = check_ring_sched(s, "hwbp_sched_ring_cpus");

	if (err)
		return err;
	bp = ring_owner((struct hwbp_sched *)s);
	return bp ? hwbp_ring_cpus(bp, cpus, fds, max) : 0;
}

HWBP_API int hwbp_sched_poll(struct hwbp_sched *s, int timeout_ms)
{
	int err = check_ring_sched(s, "hwbp_sched_poll");

	if (!err)
		err = hwbp_epoll_wait(s->epfd, timeout_ms, "hwbp_sched_poll");
	return err ? err : hwbp_sched_consume(s);
}

/* The thread watches' hits counted and records lost (under s->lock). */
static void thread_watch_counts(struct hwbp_sched *s, uint64_t *counted,
				uint64_t *lost)
{
	HWBP_OPTS(hwbp_stats, rs);
	uint64_t n;

	*counted += s->thread_counted;
	*lost += s->thread_lost;
	for (int i = 0; i < s->live.n; i++)
		for (int p = 0; s->live.v[i]->tbps && p < s->live.v[i]->npieces;
		     p++) {
			struct hwbp *bp = s->live.v[i]->tbps[p];

			if (bp && hwbp_read_count(bp, &n) == 0)
				*counted += n;
			if (bp && hwbp_get_stats(bp, &rs) == 0)
				*lost += rs.lost;
		}
}

HWBP_API int hwbp_sched_get_stats(struct hwbp_sched *s,
				  struct hwbp_sched_stats *st)
{
	struct hwbp_sched_stats all = { .sz = sizeof(all) };
	HWBP_OPTS(hwbp_stats, rs);
	uint64_t n;
	int err;

	if ((err = check_sched(s, "hwbp_sched_get_stats")))
		return err;
	if (!st)
		return hwbp_fail(EINVAL, "hwbp_sched_get_stats: stats is NULL");
	if ((err = hwbp_opts_valid(st, st->sz, sizeof(*st), "hwbp_sched_stats")))
		return err;
	/* Drops and counts before records: records read later can only
	 * make the difference smaller, never invent a loss. */
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nregs; i++) {
		struct hwbp *bp = s->regs[i].bp;

		if (!bp)
			continue;
		all.registers++;
		if (hwbp_read_count(bp, &n) == 0)
			all.counted += n;
		if (hwbp_get_stats(bp, &rs) == 0)
			all.lost += rs.lost;
	}
	thread_watch_counts(s, &all.counted, &all.lost);
	/* the rings' own handle: BPF samples, and (when it is no register)
	 * the drops only it knows */
	if (ring_of(s) && hwbp_get_stats(ring_of(s), &rs) == 0) {
		all.bpf = rs.bpf;
		all.bpf_why = rs.bpf_why;
		if (s->ring_bp)
			all.lost += rs.lost;
	}
	all.watches = (uint32_t)s->live.n;
	pthread_mutex_unlock(&s->lock);
	all.records = atomic_load(&s->records);
	all.unmatched = atomic_load(&s->unmatched);
	hwbp_copy_out(st, st->sz, &all, sizeof(all));
	return 0;
}
