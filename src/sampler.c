/* SPDX-License-Identifier: MIT */
/*
 * sampler.c - watchpoints driven by a stream of sampled accesses (Witch,
 * ASPLOS'18): samples from the caller or a PMU event compete for the debug
 * registers by reservoir sampling, and a hit hands the client the sample
 * that armed the register.  The registers are opened once, disabled, and
 * re-armed in place (hwbp_move), so offering a sample is a state change
 * and a modify ioctl: lock-free and async-signal-safe, callable from the
 * client's own sampling signal handler.
 *
 * Each register (slot) is FREE, ARMED or BUSY; whoever moves it FREE or
 * ARMED -> BUSY (compare-and-swap) owns it until it stores FREE or ARMED
 * again.  The samples a slot held are kept by placement generation (the
 * number every hwbp_move advances, which each hit carries), so a hit that
 * fired before a re-arm still finds the sample it belongs to.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define OWNERS 64 /* samples remembered per register (2^n) */

enum { SLOT_FREE, SLOT_ARMED, SLOT_BUSY };

/* A sample as armed: the register piece it took. */
struct armed {
	struct hwbp_sample smp;
	struct hwbp_piece reg;
	bool widened;          /* reg covers bytes outside the sample */
	uint64_t placed_ns;    /* CLOCK_MONOTONIC before the register moved:
				* its hits are stamped later */
	_Atomic uint64_t tag;  /* placement generation + 1 (0: none) */
};

struct slot {
	struct hwbp_sampler *s;
	struct hwbp *bp;
	_Atomic int state;
	_Atomic uint32_t gen;  /* generation armed now (the owner writes,
				* hits and readers read it) */
	bool enabled;
	struct armed owner[OWNERS];
};

struct hwbp_sampler {
	struct slot *slots;
	int nslots;
	hwbp_sampler_fn on_hit;
	void *cookie;
	struct hwbp_opts bp_opts;
	bool ring;
	pid_t mem_pid;            /* whose memory values are read from */
	int epfd;
	_Atomic uint64_t rng;     /* splitmix64 counter: lock-free */
	_Atomic uint64_t window;  /* offers since a register was freed */
	_Atomic uint64_t seq;
	_Atomic uint64_t offered, armed, replaced, passed, busy, unfit, duplicates,
		hits,
		strays, filtered, released, kept, unmatched;
	struct hwbp_pmu_source *pmu;
	_Atomic bool closed;
};

/* a holds the sample of placement generation gen.  async-signal-safe */
static bool holds(const struct armed *a, uint32_t gen)
{
	return atomic_load(&a->tag) == (uint64_t)gen + 1;
}

/* splitmix64 over an atomic counter: concurrent callers (threads or
 * signal handlers) each get their own number without a lock. */
static uint64_t next_random(struct hwbp_sampler *s)
{
	uint64_t z = atomic_fetch_add(&s->rng, 0x9e3779b97f4a7c15ull) +
		     0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* len bytes of process pid's memory at addr; a syscall, so a bad address
 * is EFAULT, not a crash.  async-signal-safe. */
static bool read_value(pid_t pid, uint64_t addr, uint32_t len, uint64_t *out)
{
	struct iovec local = { out, len }, remote = { (void *)addr, len };

	*out = 0;
	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

static enum hwbp_access hw_access(enum hwbp_access a)
{
	return a == HWBP_READ ? HWBP_RW : a; /* x86: no read-only register */
}

static void sampler_free(void *p)
{
	struct hwbp_sampler *s = p;

	free(s->slots);
	free(s);
}

static struct hwbp_handles samplers = HWBP_HANDLES_INIT(sampler_free, 16);

__attribute__((destructor)) static void free_sampler_quarantine(void)
{
	hwbp_handles_drain(&samplers);
}

/* A usable sampler: -EINVAL (NULL) or -EBADF (closed) with the message.
 * The closed flag is read without a lock: async-signal-safe. */
static int check_sampler(const struct hwbp_sampler *s, const char *fn)
{
	if (!s)
		return hwbp_fail_const(EINVAL, fn);
	if (atomic_load(&s->closed))
		return hwbp_fail_const(EBADF, "hwbp_sampler: the sampler is "
				       "closed");
	return 0;
}

/* ---- arming: async-signal-safe, lock-free ---- */

static int take_slot(struct hwbp_sampler *s, int *out)
{
	for (int i = 0; i < s->nslots; i++) {
		int want = SLOT_FREE;

		if (atomic_compare_exchange_strong(&s->slots[i].state, &want,
						   SLOT_BUSY)) {
			*out = i;
			return SLOT_FREE;
		}
	}
	return -1;
}

/* Reservoir: with every register armed, the n-th sample of the window
 * replaces register r = rand % n when r < k: probability k/n, a uniform
 * victim. */
static int choose_victim(struct hwbp_sampler *s, uint64_t n, int *out)
{
	uint64_t r = next_random(s) % (n ? n : 1);
	int want = SLOT_ARMED;

	if (r >= (uint64_t)s->nslots) {
		atomic_fetch_add(&s->passed, 1);
		return -1;
	}
	if (!atomic_compare_exchange_strong(&s->slots[r].state, &want,
					    SLOT_BUSY)) {
		atomic_fetch_add(&s->busy, 1);
		return -1;
	}
	*out = (int)r;
	return SLOT_ARMED;
}

static void slot_free(struct hwbp_sampler *s, struct slot *sl)
{
	if (sl->enabled)
		hwbp_disable(sl->bp); /* keeps the kernel's reservation */
	sl->enabled = false;
	atomic_store(&sl->state, SLOT_FREE);
	atomic_store(&s->window, 0);
}

/* Point the slot (BUSY, ours) at the sample.  1 armed, 0 refused. */
static int slot_place(struct hwbp_sampler *s, struct slot *sl,
		      const struct hwbp_sample *in, const struct hwbp_piece *p,
		      uint64_t seq)
{
	uint32_t next = atomic_load(&sl->gen) + 1; /* hwbp_move's, 32 bits */
	struct armed *a = &sl->owner[next % OWNERS];
	enum hwbp_access acc = hw_access(in->access);

	/* Published before the kernel can report a hit on it. */
	atomic_store(&a->tag, 0);
	a->smp = *in;
	a->smp.seq = seq;
	a->smp.value_known = false;
	a->reg = *p;
	a->widened = p->addr != in->addr || p->len != in->len;
	a->placed_ns = hwbp_now_ns();
	atomic_store(&a->tag, (uint64_t)next + 1);
	if (hwbp_move(sl->bp, p->addr, acc == HWBP_EXEC ? 0 : p->len, acc) ||
	    (!sl->enabled && hwbp_enable(sl->bp))) {
		atomic_fetch_add(&s->unfit, 1);
		slot_free(s, sl);
		return 0;
	}
	atomic_store(&sl->gen, next);
	sl->enabled = true;
	/* Read once armed: a write in between is reported as a hit (marked
	 * early on rings), never missed. */
	if (in->access != HWBP_EXEC)
		a->smp.value_known = read_value(s->mem_pid, in->addr, in->len,
						&a->smp.value);
	a->smp.armed_ns = hwbp_now_ns();
	atomic_store(&sl->state, SLOT_ARMED);
	atomic_fetch_add(&s->armed, 1);
	return 1;
}

/* The same bytes armed for the same access in another register: a second
 * register would report every access twice. */
static bool already_armed(struct hwbp_sampler *s, const struct hwbp_sample *m)
{
	for (int i = 0; i < s->nslots; i++) {
		const struct slot *sl = &s->slots[i];
		const struct hwbp_sample *a =
			&sl->owner[atomic_load(&sl->gen) % OWNERS].smp;

		if (atomic_load(&sl->state) == SLOT_ARMED && a->addr == m->addr &&
		    a->len == m->len && a->access == m->access)
			return true;
	}
	return false;
}

/* The rules hwbp_create and hwbp_sched_add apply (hwbp_check_place),
 * with fixed messages: this may run in a signal handler.  0 or -EINVAL. */
static int sample_check(const struct hwbp_sampler *s,
			const struct hwbp_sample *m)
{
	if ((m->access != HWBP_READ && m->access != HWBP_WRITE &&
	     m->access != HWBP_RW && m->access != HWBP_EXEC) ||
	    (m->access != HWBP_EXEC && (m->len < 1 || m->len > 8)))
		return hwbp_fail_const(EINVAL, "hwbp_sampler_offer: a sample "
				       "is 1..8 bytes (any for HWBP_EXEC) with "
				       "access HWBP_READ/WRITE/RW/EXEC");
	if (!m->addr)
		return hwbp_fail_const(EINVAL, "hwbp_sampler_offer: address 0: "
				       "a breakpoint needs a mapped address");
	if (m->addr >= hwbp_arch.user_top && !s->bp_opts.kernel)
		return hwbp_fail_const(EINVAL, "hwbp_sampler_offer: a kernel "
				       "address: set bp_opts->kernel (needs "
				       "CAP_PERFMON or perf_event_paranoid "
				       "<= 1)");
	if (m->addr + m->len < m->addr)
		return hwbp_fail_const(EINVAL, "hwbp_sampler_offer: the "
				       "sample wraps around the address "
				       "space");
	return 0;
}

/* Fails with a fixed message: this may run in a signal handler. */
HWBP_API int hwbp_sampler_offer(struct hwbp_sampler *s,
				const struct hwbp_sample *m)
{
	struct hwbp_piece p;
	uint64_t n, seq;
	int i, was;

	int err = check_sampler(s, "hwbp_sampler_offer: sampler is NULL");

	if (err)
		return err;
	if (!m)
		return hwbp_fail_const(EINVAL, "hwbp_sampler_offer: sample is "
				       "NULL");
	if ((err = sample_check(s, m)))
		return err;
	atomic_fetch_add(&s->offered, 1);
	seq = atomic_fetch_add(&s->seq, 1) + 1;
	n = atomic_fetch_add(&s->window, 1) + 1;
	if (m->access == HWBP_EXEC)
		p = (struct hwbp_piece){ m->addr, (uint32_t)hwbp_arch.exec_len };
	else if (hwbp_range_split(m->addr, m->len, 0, &p, 1) != 1 ||
		 (m->addr + m->len > hwbp_arch.user_top && !s->bp_opts.kernel)) {
		atomic_fetch_add(&s->unfit, 1);
		return 0;
	}
	if (already_armed(s, m)) {
		atomic_fetch_add(&s->duplicates, 1);
		return 0;
	}
	was = take_slot(s, &i);
	if (was < 0)
		was = choose_victim(s, n, &i);
	if (was < 0)
		return 0;
	if (was == SLOT_ARMED)
		atomic_fetch_add(&s->replaced, 1);
	return slot_place(s, &s->slots[i], m, &p, seq);
}

HWBP_API int hwbp_sampler_release_all(struct hwbp_sampler *s)
{
	int err = check_sampler(s, "hwbp_sampler_release_all: sampler is "
				"NULL");

	if (err)
		return err;
	for (int i = 0; i < s->nslots; i++) {
		int want = SLOT_ARMED;

		if (atomic_compare_exchange_strong(&s->slots[i].state, &want,
						   SLOT_BUSY))
			slot_free(s, &s->slots[i]);
	}
	return 0;
}

/* ---- hits ---- */

/* How the access touched the sample: HWBP_TOUCH_* (0: not decoded), or
 * -1 to drop it (a stray, or a write on a read sample).  Decoded on both
 * paths, as the scheduler does, so a client sees the same touch for the
 * same access (emulators such as QEMU also report one register's hit on
 * the others: decoding drops those). */
static int classify(struct hwbp_sampler *s, const struct armed *a, pid_t pid,
		    uint64_t pc, const uint64_t *regs)
{
	struct hwbp_insn_info info;
	int how, err;

	if (a->smp.access == HWBP_EXEC)
		return 0;
	err = hwbp_insn_before_in(pid, pc, a->reg.addr, a->reg.len, regs,
				  &info);
	how = err ? 0 : hwbp_insn_touches(&info, a->smp.addr, a->smp.len);
	if (err == -ENOENT || (!err && how == 0 && a->widened)) {
		atomic_fetch_add(&s->strays, 1);
		return -1;
	}
	if (how & HWBP_TOUCH_UNSURE)
		return 0;
	if (a->smp.access == HWBP_READ && (how & HWBP_TOUCH_WRITE) &&
	    !(how & HWBP_TOUCH_READ)) {
		atomic_fetch_add(&s->filtered, 1);
		return -1;
	}
	return how;
}

/* on_hit's answer, applied only while the slot still holds that sample. */
static void answer(struct hwbp_sampler *s, struct slot *sl, struct armed *a,
		   uint32_t gen, int verdict, pid_t pid)
{
	int want = SLOT_ARMED;

	if (verdict == HWBP_SAMPLER_KEEP) {
		atomic_fetch_add(&s->kept, 1);
		if (holds(a, gen) && a->smp.access != HWBP_EXEC)
			a->smp.value_known = read_value(pid, a->smp.addr,
							a->smp.len,
							&a->smp.value);
		return;
	}
	atomic_fetch_add(&s->released, 1);
	if (!atomic_compare_exchange_strong(&sl->state, &want, SLOT_BUSY))
		return;
	if (atomic_load(&sl->gen) == gen)
		slot_free(s, sl);
	else
		atomic_store(&sl->state, SLOT_ARMED);
}

/* SIGTRAP path: async-signal-safe, no locks. */
static void sampler_sig_hit(const struct hwbp_hit *hit, void *uc)
{
	struct slot *sl = hit->cookie;
	struct hwbp_sampler *s = sl->s;
	struct armed *a = &sl->owner[hit->generation % OWNERS];
	struct hwbp_sampler_hit h = { .hit = hit, .ucontext = uc };
	uint64_t regs[HWBP_NREGS];
	int verdict;

	if (!holds(a, hit->generation)) {
		atomic_fetch_add(&s->unmatched, 1);
		return;
	}
	hwbp_uc_regs(uc, regs);
	h.touch = classify(s, a, 0, hit->pc, regs);
	if (h.touch < 0)
		return;
	h.sample = &a->smp;
	if (a->smp.access != HWBP_EXEC)
		h.value_known = read_value(s->mem_pid, a->smp.addr, a->smp.len,
					   &h.value);
	atomic_fetch_add(&s->hits, 1);
	verdict = s->on_hit(&h, s->cookie);
	answer(s, sl, a, hit->generation, verdict, s->mem_pid);
}

/* The sample a ring record belongs to: the newest placement of the slot
 * at the record's register address made before the record's time (the
 * same address armed again after a release: a record read late is the
 * earlier placement's, with its sample and value). */
static struct armed *armed_at(struct slot *sl, uint64_t addr, uint64_t time_ns,
			      uint32_t *gen)
{
	for (uint32_t back = 0; back < OWNERS; back++) {
		uint32_t g = atomic_load(&sl->gen) - back;
		struct armed *a = &sl->owner[g % OWNERS];

		if (holds(a, g) && a->reg.addr == addr &&
		    (!time_ns || a->placed_ns <= time_ns)) {
			*gen = g;
			return a;
		}
	}
	return NULL;
}

/* Ring path: runs in the thread calling hwbp_sampler_poll. */
static void sampler_record(const struct hwbp_record *rec, void *cookie)
{
	struct slot *sl = cookie;
	struct hwbp_sampler *s = sl->s;
	struct hwbp_sampler_hit h = { .record = rec };
	uint64_t regs[HWBP_NREGS];
	struct armed *a;
	uint32_t gen;
	pid_t pid = rec->pid ? (pid_t)rec->pid : s->mem_pid;

	if (rec->kind != HWBP_REC_HIT)
		return;
	a = armed_at(sl, rec->addr, rec->time_ns, &gen);
	if (!a) {
		atomic_fetch_add(&s->unmatched, 1);
		return;
	}
	hwbp_record_regs(rec, regs);
	h.touch = classify(s, a, pid, rec->ip, rec->regs ? regs : NULL);
	if (h.touch < 0)
		return;
	h.sample = &a->smp;
	h.early = rec->time_ns && rec->time_ns < a->smp.armed_ns;
	if (a->smp.access != HWBP_EXEC)
		h.value_known = read_value(pid, a->smp.addr, a->smp.len,
					   &h.value);
	atomic_fetch_add(&s->hits, 1);
	answer(s, sl, a, gen, s->on_hit(&h, s->cookie), pid);
}

/* ---- lifecycle ---- */

static int sampler_opts_check(const struct hwbp_sampler_opts *o, int slots)
{
	const struct hwbp_opts *bo = HWBP_OPTS_GET(o, bp_opts, NULL);
	enum hwbp_sample_source src = HWBP_OPTS_GET(o, source,
						    HWBP_SOURCE_CALLER);
	int err;

	if (!o)
		return hwbp_fail(EINVAL, "hwbp_sampler_create: opts is NULL "
				 "(on_hit is required)");
	if ((err = hwbp_opts_valid(o, o->sz, sizeof(*o), "hwbp_sampler_opts")))
		return err;
	if (!HWBP_OPTS_GET(o, on_hit, NULL))
		return hwbp_fail(EINVAL, "hwbp_sampler_create: on_hit is NULL");
	if (HWBP_OPTS_GET(o, registers, 0) > (uint32_t)slots)
		return hwbp_fail(EINVAL, "hwbp_sampler_create: %u registers "
				 "asked, this machine has %d per thread",
				 HWBP_OPTS_GET(o, registers, 0), slots);
	if (src > HWBP_SOURCE_PMU_LOADS)
		return hwbp_fail(EINVAL, "hwbp_sampler_create: unknown source "
				 "%d", (int)src);
	if (bo && (err = hwbp_opts_valid(bo, bo->sz, sizeof(*bo), "hwbp_opts")))
		return err;
	if (bo && HWBP_OPTS_GET(bo, scope, HWBP_SCOPE_SELF) == HWBP_SCOPE_CPUS)
		return hwbp_fail(EOPNOTSUPP, "hwbp_sampler_create: CPU-wide "
				 "scopes are not sampled (their accesses come "
				 "from any process: nothing to decode them "
				 "with)");
	return 0;
}

/* The options of every register: the caller's, with our delivery. */
static void slot_opts(struct hwbp_sampler *s, const struct hwbp_opts *bo)
{
	memset(&s->bp_opts, 0, sizeof(s->bp_opts));
	if (bo)
		memcpy(&s->bp_opts, bo,
		       bo->sz < sizeof(s->bp_opts) ? bo->sz : sizeof(s->bp_opts));
	s->bp_opts.sz = sizeof(s->bp_opts);
	s->ring = bo && s->bp_opts.delivery == HWBP_DELIVER_RING;
	s->bp_opts.delivery = s->ring ? HWBP_DELIVER_RING : HWBP_DELIVER_SIGNAL;
	s->bp_opts.disabled = true;
	s->bp_opts.task_events = false;
	if (s->ring) {
		s->bp_opts.on_record = sampler_record;
		s->bp_opts.sample |= HWBP_SAMPLE_REGS;
		s->bp_opts.regs_mask |= hwbp_arch.sample_regs;
	} else {
		s->bp_opts.on_hit = sampler_sig_hit;
	}
	s->mem_pid = s->bp_opts.scope == HWBP_SCOPE_SELF || !s->bp_opts.pid ?
		     getpid() : s->bp_opts.pid;
}

/* Park each register, disabled, on a byte of its own slot (in this
 * process; any address will do for another process: it is not armed). */
static int open_slots(struct hwbp_sampler *s)
{
	struct epoll_event ev = { .events = EPOLLIN };

	for (int i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		struct hwbp_opts o = s->bp_opts;
		int err;

		sl->s = s;
		for (int g = 0; g < OWNERS; g++)
			atomic_store(&sl->owner[g].tag, 0);
		o.cookie = sl;
		err = hwbp_create(&sl->bp, (uint64_t)(uintptr_t)&sl->state, 1,
				  HWBP_WRITE, &o);
		if (err)
			return err;
		ev.data.ptr = sl;
		if (s->ring && epoll_ctl(s->epfd, EPOLL_CTL_ADD,
					 hwbp_ring_fd(sl->bp), &ev))
			return hwbp_fail(errno, "hwbp_sampler_create: "
					 "epoll_ctl: %s", strerror(errno));
	}
	return 0;
}

/* Stop delivering: hwbp_close waits for callbacks still running in
 * other threads; then nothing names a slot any more. */
static void sampler_stop(struct hwbp_sampler *s)
{
	hwbp_pmu_source_close(s->pmu);
	s->pmu = NULL;
	for (int i = 0; s->slots && i < s->nslots; i++) {
		hwbp_close(s->slots[i].bp);
		s->slots[i].bp = NULL;
	}
	if (s->epfd >= 0)
		close(s->epfd);
	s->epfd = -1;
}

HWBP_API int hwbp_sampler_create(struct hwbp_sampler **out,
				 const struct hwbp_sampler_opts *opts)
{
	int slots = hwbp_probe_cached(NULL), err;
	struct hwbp_sampler *s;

	hwbp_clear_error();
	if (!out)
		return hwbp_fail(EINVAL, "hwbp_sampler_create: out is NULL");
	*out = NULL;
	if ((err = sampler_opts_check(opts, slots)))
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return hwbp_fail(ENOMEM, "out of memory for a sampler");
	s->epfd = -1;
	s->nslots = (int)HWBP_OPTS_GET(opts, registers, 0);
	if (!s->nslots)
		s->nslots = slots;
	s->on_hit = opts->on_hit;
	s->cookie = HWBP_OPTS_GET(opts, cookie, NULL);
	atomic_store(&s->rng, HWBP_OPTS_GET(opts, seed, 0) ?
			      HWBP_OPTS_GET(opts, seed, 0) : 1);
	slot_opts(s, HWBP_OPTS_GET(opts, bp_opts, NULL));
	s->slots = calloc((size_t)s->nslots, sizeof(*s->slots));
	err = s->slots ? 0 : hwbp_fail(ENOMEM, "out of memory for a sampler");
	if (!err && (s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		err = hwbp_fail(errno, "hwbp_sampler_create: epoll_create1: %s",
				strerror(errno));
	if (!err)
		err = open_slots(s);
	if (!err && HWBP_OPTS_GET(opts, source, HWBP_SOURCE_CALLER))
		err = hwbp_pmu_source_open(s, opts, &s->pmu);
	if (!err)
		err = hwbp_handles_add(&samplers, s);
	if (err) {
		sampler_stop(s);
		sampler_free(s);
		return err;
	}
	*out = s;
	return 0;
}

HWBP_API int hwbp_sampler_close(struct hwbp_sampler *s)
{
	if (!s)
		return 0;
	if (!hwbp_handles_unlink(&samplers, s, &s->closed))
		return hwbp_fail(EBADF, "hwbp_sampler_close: not an open "
				 "sampler (closed already?)");
	sampler_stop(s);
	hwbp_handles_retire(&samplers, s);
	return 0;
}

HWBP_API int hwbp_sampler_get_stats(const struct hwbp_sampler *s,
				    struct hwbp_sampler_stats *st)
{
	struct hwbp_sampler_stats all = { .sz = sizeof(all) };
	HWBP_OPTS(hwbp_stats, rs);
	int err;

	if ((err = check_sampler(s, "hwbp_sampler_get_stats: sampler is "
				 "NULL")))
		return err;
	if (!st)
		return hwbp_fail(EINVAL, "hwbp_sampler_get_stats: stats is NULL");
	if ((err = hwbp_opts_valid(st, st->sz, sizeof(*st),
				   "hwbp_sampler_stats")))
		return err;
	all.offered = atomic_load(&s->offered);
	all.armed = atomic_load(&s->armed);
	all.replaced = atomic_load(&s->replaced);
	all.passed = atomic_load(&s->passed);
	all.busy = atomic_load(&s->busy);
	all.unfit = atomic_load(&s->unfit);
	all.duplicates = atomic_load(&s->duplicates);
	all.hits = atomic_load(&s->hits);
	all.strays = atomic_load(&s->strays);
	all.filtered = atomic_load(&s->filtered);
	all.released = atomic_load(&s->released);
	all.kept = atomic_load(&s->kept);
	all.unmatched = atomic_load(&s->unmatched);
	for (int i = 0; i < s->nslots; i++)
		if (s->slots[i].bp && hwbp_get_stats(s->slots[i].bp, &rs) == 0)
			all.lost += rs.lost;
	hwbp_pmu_source_stats(s->pmu, &all.pmu_samples, &all.pmu_lost);
	all.registers = (uint32_t)s->nslots;
	hwbp_copy_out(st, st->sz, &all, sizeof(all));
	return 0;
}

HWBP_API int hwbp_sampler_armed(const struct hwbp_sampler *s,
				struct hwbp_sample *out, int max)
{
	int n = 0;

	int err = check_sampler(s, "hwbp_sampler_armed: sampler is NULL");

	if (err)
		return err;
	if (max < 0 || (max && !out))
		return hwbp_fail(EINVAL, "hwbp_sampler_armed: max < 0, or out "
				 "NULL with max > 0");
	for (int i = 0; i < s->nslots; i++) {
		const struct slot *sl = &s->slots[i];

		if (atomic_load(&sl->state) != SLOT_ARMED)
			continue;
		if (n < max)
			out[n] = sl->owner[atomic_load(&sl->gen) % OWNERS].smp;
		n++;
	}
	return n;
}

/* ---- ring delivery ---- */

static int check_polled(const struct hwbp_sampler *s, const char *fn)
{
	if (!s)
		return hwbp_fail(EINVAL, "%s: sampler is NULL", fn);
	if (atomic_load(&s->closed))
		return hwbp_fail(EBADF, "%s: the sampler is closed", fn);
	if (!s->ring && !s->pmu)
		return hwbp_fail(EINVAL, "%s: nothing to poll: hits arrive by "
				 "signal and samples from hwbp_sampler_offer "
				 "(use HWBP_DELIVER_RING or a PMU source)", fn);
	return 0;
}

HWBP_API int hwbp_sampler_fd(const struct hwbp_sampler *s)
{
	int err = check_polled(s, "hwbp_sampler_fd");

	return err ? err : s->epfd;
}

HWBP_API int hwbp_sampler_consume(struct hwbp_sampler *s)
{
	struct hwbp *bps[64];
	int n = 0, got, err = check_polled(s, "hwbp_sampler_consume");

	if (err)
		return err;
	/* Samples first: they arm registers whose hits follow. */
	err = s->pmu ? hwbp_pmu_source_consume(s, s->pmu) : 0;
	if (err < 0 || !s->ring)
		return err;
	for (int i = 0; i < s->nslots && n < 64; i++)
		bps[n++] = s->slots[i].bp;
	got = hwbp_rings_drain(bps, n);
	return got < 0 ? got : err + got;
}

HWBP_API int hwbp_sampler_poll(struct hwbp_sampler *s, int timeout_ms)
{
	int err = check_polled(s, "hwbp_sampler_poll");

	if (!err)
		err = hwbp_epoll_wait(s->epfd, timeout_ms, "hwbp_sampler_poll");
	return err ? err : hwbp_sampler_consume(s);
}

int hwbp_sampler_epfd(const struct hwbp_sampler *s)
{
	return s->epfd;
}
