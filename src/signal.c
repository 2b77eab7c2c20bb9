/* SPDX-License-Identifier: MIT */
/*
 * signal.c - synchronous delivery: the SIGTRAP handler, the slot table it
 * reads, and the async (O_ASYNC owner-thread) fallback.
 *
 * Everything the handler touches lives in a static table that is never
 * freed, read with atomics: the handler takes no lock, calls no malloc or
 * stdio, so it is async-signal-safe whatever the interrupted thread holds.
 * attr.sig_data carries (magic, slot, incarnation, generation): a signal that
 * fired before a move is attributed to the placement it fired at; one that
 * arrives after its handle closed (or its slot was reused) is dropped.
 *
 * SIGTRAP does not queue: one instruction that fires several breakpoints
 * of a thread gives one signal, with the first one's sig_data.  The handler
 * serves the others too: every live handle armed on this thread whose
 * placement the decoded access touched (its companions) gets its callback.
 * A hit that still cannot be served (the access did not decode) shows as
 * the difference between the kernel's count and the callbacks (stats.lost).
 *
 * Every handle on this process's threads has a slot, whatever its
 * delivery: some hypervisors lose the cause of a debug exception (DR6
 * reads 0: KVM on Intel before Linux 6.14, CVE-2025-21839), so the kernel
 * counts nothing and sends SIGTRAP as for an icebp, which kills a program
 * that has no handler.  The handler takes such a trap (x86-64: TRAP_BRKPT,
 * no icebp before the PC, a handle armed on this thread), decodes the
 * instruction, and gives the hit to the handles it touched (recovered:
 * added to their count; signal handles get their callback).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#ifndef TRAP_PERF
#define TRAP_PERF 6
#endif
#ifndef F_SETSIG
#define F_SETSIG 10
#endif

/* sig_data: magic (12 bits) | slot (10) | incarnation (10) | generation (32) */
#define SIG_MAGIC 0x487ull /* "H" */
#define PROBE_MAGIC 0x488ull /* hwbp_signal_check's own event */
#define SIG_SLOT_SHIFT 42
#define SIG_INC_SHIFT 32
#define SIG_FIELD 0x3ffu
#define HIST 32             /* placements remembered per slot */
#define MAX_COMPANIONS 8    /* a thread has 4 registers (arm64: up to 16) */
_Static_assert(HWBP_MAX_SLOTS <= SIG_FIELD + 1, "slot field of sig_data");

enum { SLOT_FREE = 0, SLOT_LIVE, SLOT_CLOSING };
/* Which threads a slot's events are armed on. */
enum { COVER_NONE = 0, COVER_TID, COVER_ALL, COVER_TIDS };

/*
 * The kernel's siginfo for TRAP_PERF (asm-generic/siginfo.h, _sigfault._perf).
 * glibc 2.36 has no names for si_perf_data/type/flags, so read them here.
 */
struct perf_siginfo {
	int signo, errno_, code, pad_;
	void *addr;
	unsigned long data;
	uint32_t type;
	uint32_t flags;
};
_Static_assert(offsetof(struct perf_siginfo, addr) == offsetof(siginfo_t, si_addr),
	       "siginfo layout");

struct placement {
	_Atomic uint64_t tag; /* generation + 1; 0 while being written */
	_Atomic uint64_t addr;
	_Atomic uint32_t len;
	_Atomic int access;
};

struct slot {
	_Atomic int state;
	_Atomic uint32_t incarnation;
	_Atomic uint32_t active; /* handlers running on this slot now */
	_Atomic(struct hwbp *) bp;
	_Atomic(hwbp_hit_fn) fn;
	_Atomic(void *) cookie;
	_Atomic int async_fd;
	_Atomic uint32_t cur_gen;
	struct placement hist[HIST];
	_Atomic uint64_t signals, stale;
	_Atomic uint64_t handled; /* callbacks that returned */
	_Atomic int delivery;      /* the handle's HWBP_DELIVER_* */
	_Atomic uint64_t recovered; /* hits the kernel missed (lost DR6) */
	/* For companion hits: armed now, and on which threads. */
	_Atomic bool enabled;
	_Atomic int cover;
	_Atomic pid_t cover_tid;
	_Atomic(pid_t *) cover_tids; /* malloc'd, freed with no handler in */
	_Atomic int cover_n;
};

static struct slot slots[HWBP_MAX_SLOTS];
static _Atomic int slots_high; /* slots in use are below this */
static _Atomic int slots_live; /* signal slots: companions when > 1 */
static _Atomic uint64_t lost_cause_traps; /* debug traps DR6 said nothing of */
static HWBP_TLS uint64_t trap_seq; /* this thread's SIGTRAPs of ours */
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous;
static HWBP_TLS int in_handler_slot; /* slot + 1 while its callback runs */

bool hwbp_in_handler(void)
{
	return in_handler_slot != 0;
}

uint64_t hwbp_trap_seq(void)
{
	return trap_seq;
}

uint64_t hwbp_slot_sig_data(int slot, uint32_t gen)
{
	uint32_t inc = atomic_load(&slots[slot].incarnation);

	return SIG_MAGIC << 52 | (uint64_t)slot << SIG_SLOT_SHIFT |
	       (uint64_t)(inc & SIG_FIELD) << SIG_INC_SHIFT | gen;
}

int hwbp_slot_claim(struct hwbp *bp)
{
	int found = -1;

	pthread_mutex_lock(&claim_lock);
	for (int i = 0; i < HWBP_MAX_SLOTS && found < 0; i++)
		if (atomic_load(&slots[i].state) == SLOT_FREE)
			found = i;
	if (found >= 0) {
		struct slot *s = &slots[found];

		atomic_fetch_add(&s->incarnation, 1);
		atomic_store(&s->bp, bp);
		atomic_store(&s->fn, bp->req.delivery == HWBP_DELIVER_SIGNAL ?
				     bp->req.on_hit : NULL);
		atomic_store(&s->delivery, (int)bp->req.delivery);
		atomic_store(&s->recovered, 0);
		atomic_store(&s->cookie, bp->req.cookie);
		atomic_store(&s->async_fd, -1);
		atomic_store(&s->signals, 0);
		atomic_store(&s->stale, 0);
		atomic_store(&s->handled, 0);
		atomic_store(&s->enabled, false);
		atomic_store(&s->cover, COVER_NONE);
		for (int g = 0; g < HIST; g++)
			atomic_store(&s->hist[g].tag, 0);
		atomic_store(&s->state, SLOT_LIVE);
		if (bp->req.delivery == HWBP_DELIVER_SIGNAL)
			atomic_fetch_add(&slots_live, 1);
		if (found >= atomic_load(&slots_high))
			atomic_store(&slots_high, found + 1);
	}
	pthread_mutex_unlock(&claim_lock);
	if (found < 0)
		return hwbp_fail(EMFILE, "%d signal-delivered breakpoints are "
				 "open already: close some first",
				 HWBP_MAX_SLOTS);
	return found;
}

/*
 * Publish placement `gen` before the kernel can report it: a seqlock whose
 * tag is 0 while the entry is written (plain stores on x86: a move is
 * re-arming's hot path).  async-signal-safe
 */
void hwbp_slot_place(int slot, uint32_t gen, const struct hwbp_place *p)
{
	struct placement *e = &slots[slot].hist[gen % HIST];

	atomic_store_explicit(&e->tag, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->addr, p->addr, memory_order_relaxed);
	atomic_store_explicit(&e->len, p->len, memory_order_relaxed);
	atomic_store_explicit(&e->access, (int)p->access, memory_order_relaxed);
	atomic_store_explicit(&e->tag, (uint64_t)gen + 1, memory_order_release);
	atomic_store_explicit(&slots[slot].cur_gen, gen, memory_order_release);
}

/* async-signal-safe */
void hwbp_slot_enable(int slot, bool on)
{
	atomic_store(&slots[slot].enabled, on);
}

/* Wait until no handler but our own caller is in the slot. */
static void wait_handlers(struct slot *s, int slot)
{
	uint32_t self = in_handler_slot == slot + 1 ? 1 : 0;

	while (atomic_load(&s->active) > self)
		sched_yield();
}

/* The threads bp's events are armed on, for companion hits: one thread,
 * every thread of this process (following), or the threads listed at
 * open (not following).  Not async-signal-safe (malloc). */
void hwbp_slot_cover(int slot, const struct hwbp *bp)
{
	struct slot *s = &slots[slot];
	pid_t *tids = NULL, *old;
	int cover = COVER_TID, n = 0;

	if (bp->req.scope == HWBP_SCOPE_PROCESS && bp->req.follow) {
		cover = COVER_ALL;
	} else if (bp->req.scope == HWBP_SCOPE_PROCESS) {
		tids = malloc((size_t)(bp->nfds ? bp->nfds : 1) * sizeof(*tids));
		cover = tids ? COVER_TIDS : COVER_NONE;
		for (int i = 0; tids && i < bp->nfds; i++)
			tids[n++] = bp->fd_tids[i];
	}
	atomic_store(&s->cover, COVER_NONE);
	atomic_store(&s->cover_tid, bp->req.scope == HWBP_SCOPE_THREAD ?
				    bp->req.pid : (pid_t)syscall(SYS_gettid));
	atomic_store(&s->cover_n, n);
	old = atomic_exchange(&s->cover_tids, tids);
	atomic_store(&s->cover, cover);
	if (old) {
		wait_handlers(s, slot);
		free(old);
	}
}

void hwbp_slot_set_fd(int slot, int fd)
{
	atomic_store(&slots[slot].async_fd, fd);
}

uint64_t hwbp_slot_signals(int slot)
{
	return slot < 0 ? 0 : atomic_load(&slots[slot].signals);
}

uint64_t hwbp_slot_stale(int slot)
{
	return slot < 0 ? 0 : atomic_load(&slots[slot].stale);
}

uint64_t hwbp_slot_handled(int slot)
{
	return slot < 0 ? 0 : atomic_load(&slots[slot].handled);
}

/* async-signal-safe */
uint64_t hwbp_slot_recovered(int slot)
{
	return slot < 0 ? 0 : atomic_load(&slots[slot].recovered);
}

uint64_t hwbp_lost_cause_traps(void)
{
	return atomic_load(&lost_cause_traps);
}

/* Stop new callbacks, wait for running ones (but not our own caller). */
void hwbp_slot_release(int slot)
{
	struct slot *s = &slots[slot];

	atomic_store(&s->state, SLOT_CLOSING);
	if (atomic_load(&s->delivery) == HWBP_DELIVER_SIGNAL)
		atomic_fetch_sub(&slots_live, 1);
	wait_handlers(s, slot);
	atomic_store(&s->async_fd, -1);
	atomic_store(&s->bp, NULL);
	atomic_store(&s->cover, COVER_NONE);
	free(atomic_exchange(&s->cover_tids, NULL));
	atomic_store(&s->state, SLOT_FREE);
}

/* ---- the handler: async-signal-safe from here to the end of dispatch ---- */

static bool read_placement(struct slot *s, uint32_t gen, struct hwbp_place *p)
{
	struct placement *e = &s->hist[gen % HIST];

	if (atomic_load_explicit(&e->tag, memory_order_acquire) !=
	    (uint64_t)gen + 1)
		return false;
	p->addr = atomic_load_explicit(&e->addr, memory_order_relaxed);
	p->len = atomic_load_explicit(&e->len, memory_order_relaxed);
	p->access = (enum hwbp_access)atomic_load_explicit(&e->access,
							   memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	/* not rewritten meanwhile */
	return atomic_load_explicit(&e->tag, memory_order_relaxed) ==
	       (uint64_t)gen + 1;
}

/*
 * The kernel reads sig_data when it sends the signal, not when the hit fires,
 * so a move between the two can tag an old hit with the new generation.
 * si_addr is taken at the hit: when it disagrees with the tagged placement,
 * the hit belongs to the newest older placement at that address.  If that is
 * no longer remembered, the hit keeps its address with len 0 (unknown) and
 * is never given a placement it did not fire at.
 */
static uint32_t attribute(struct slot *s, uint32_t gen, uint64_t addr,
			  struct hwbp_place *p)
{
	if (read_placement(s, gen, p) && (!addr || p->addr == addr))
		return gen;
	for (uint32_t back = 1; back < HIST; back++) {
		uint32_t g = gen - back;

		if (read_placement(s, g, p) && p->addr == addr)
			return g;
	}
	/* Moved more than HIST times since: the address is all we know. */
	*p = (struct hwbp_place){ .addr = addr, .len = 0, .access = 0 };
	return gen - HIST;
}

static void dispatch(struct slot *s, int idx, uint32_t gen, uint64_t addr,
		     pid_t tid, bool async, void *uc)
{
	struct hwbp_place p = { 0 };
	struct hwbp_hit hit;
	hwbp_hit_fn fn = atomic_load(&s->fn);
	int outer = in_handler_slot;

	gen = attribute(s, gen, addr, &p);
	if (gen != atomic_load(&s->cur_gen))
		atomic_fetch_add(&s->stale, 1);
	hit = (struct hwbp_hit){
		.bp = atomic_load(&s->bp),
		.cookie = atomic_load(&s->cookie),
		.addr = addr ? addr : p.addr,
		.bp_addr = p.addr,
		.bp_len = p.len,
		.access = p.access,
		.generation = gen,
		.tid = tid,
		.pc = hwbp_uc_pc(uc),
		.async = async,
	};
	atomic_fetch_add(&s->signals, 1);
	in_handler_slot = idx + 1;
	fn(&hit, uc);
	in_handler_slot = outer;
	atomic_fetch_add(&s->handled, 1);
}

/* Enter slot idx: true if it is live and of this incarnation (any, when
 * incarnation < 0); the caller then leaves it with leave(). */
static bool enter(int idx, int incarnation)
{
	struct slot *s = &slots[idx];

	atomic_fetch_add(&s->active, 1);
	if (atomic_load(&s->state) == SLOT_LIVE &&
	    (incarnation < 0 ||
	     (atomic_load(&s->incarnation) & SIG_FIELD) == (uint32_t)incarnation))
		return true;
	atomic_fetch_sub(&s->active, 1);
	return false;
}

static void leave(int idx)
{
	atomic_fetch_sub(&slots[idx].active, 1);
}

/* ---- companions: the other handles one merged SIGTRAP fired ---- */

struct companion {
	int idx, incarnation;
	uint32_t gen;
	struct hwbp_place p;
};

static bool covers(struct slot *s, pid_t tid)
{
	const pid_t *tids;
	int n;

	switch (atomic_load(&s->cover)) {
	case COVER_TID:
		return atomic_load(&s->cover_tid) == tid;
	case COVER_ALL:
		return true;
	case COVER_TIDS:
		tids = atomic_load(&s->cover_tids);
		n = atomic_load(&s->cover_n);
		for (int i = 0; tids && i < n; i++)
			if (tids[i] == tid)
				return true;
		return false;
	}
	return false;
}

/* Could one access that hit placement x (at pc) have hit p too?  An
 * access is at most 64 bytes (AVX-512), an execute hit is at its PC. */
static bool may_share(const struct hwbp_place *x, const struct hwbp_place *p)
{
	if (x->access == HWBP_EXEC || p->access == HWBP_EXEC)
		return x->access == p->access && x->addr == p->addr;
	return p->addr < x->addr + x->len + 64 && x->addr < p->addr + p->len + 64;
}

/* The access fired a register placed at p: its bytes were touched in a
 * way the register's access type catches. */
static bool access_fires(const struct hwbp_insn_info *info,
			 const struct hwbp_place *p)
{
	int how = hwbp_insn_touches(info, p->addr, p->len);

	if (!how || (how & HWBP_TOUCH_UNSURE))
		return false;
	if (p->access == HWBP_WRITE)
		return how & HWBP_TOUCH_WRITE;
	if (p->access == HWBP_READ)
		return how & HWBP_TOUCH_READ;
	return true;
}

/*
 * The live, enabled slots other than x armed on this thread whose current
 * placement may share the access.  Looked at before any callback runs, so
 * a callback that moves a handle does not change which placements this
 * access hit; none is held entered meanwhile (a callback may close one).
 */
static int companion_candidates(int x, const struct hwbp_place *xp, pid_t tid,
				struct companion *out)
{
	int high = atomic_load(&slots_high), n = 0;

	for (int i = 0; i < high && n < MAX_COMPANIONS; i++) {
		struct slot *s = &slots[i];
		struct companion c = { .idx = i };

		if (i == x || atomic_load(&s->state) != SLOT_LIVE ||
		    atomic_load(&s->delivery) != HWBP_DELIVER_SIGNAL ||
		    !enter(i, -1))
			continue;
		c.incarnation = (int)(atomic_load(&s->incarnation) & SIG_FIELD);
		c.gen = atomic_load(&s->cur_gen);
		if (atomic_load(&s->enabled) && covers(s, tid) &&
		    read_placement(s, c.gen, &c.p) && may_share(xp, &c.p))
			out[n++] = c;
		leave(i);
	}
	return n;
}

/* Keep the data candidates the instruction that ended at pc fired: it is
 * decoded once, as the one that touched any of their placements (an
 * emulator's DR6 may name first a register the access did not hit), with
 * [lo, hi) the bytes it must touch at least.  Not decoded: none. */
static int data_fired(uint64_t pc, uint64_t lo, uint64_t hi, void *uc,
		      struct companion *c, int n)
{
	struct hwbp_insn_info info;
	uint64_t regs[HWBP_NREGS];
	int kept = 0;

	for (int i = 0; i < n; i++) {
		lo = c[i].p.addr < lo ? c[i].p.addr : lo;
		hi = c[i].p.addr + c[i].p.len > hi ? c[i].p.addr + c[i].p.len
						    : hi;
	}
	hwbp_uc_regs(uc, regs);
	if (!n || hwbp_insn_before(pc, lo, hi > lo ? hi - lo : 1, regs, &info))
		return 0;
	for (int i = 0; i < n; i++)
		if (access_fires(&info, &c[i].p))
			c[kept++] = c[i];
	return kept;
}

/* Keep the companions the access fired: all at the same address for an
 * execute hit; for data, those the decoded access touched (not decoded:
 * none, and their hits show in stats.lost). */
static int companions_fired(const struct hwbp_place *xp, uint64_t pc,
			    void *uc, struct companion *c, int n)
{
	if (xp->access == HWBP_EXEC)
		return n;
	return data_fired(pc, xp->addr, xp->addr + xp->len, uc, c, n);
}

/* One of our signals: slot idx's hit, then its companions'. */
static void serve(int idx, int incarnation, uint32_t gen, uint64_t addr,
		  void *uc)
{
	struct companion comp[MAX_COMPANIONS];
	struct hwbp_place xp;
	pid_t tid;
	int n = 0;

	if (!enter(idx, incarnation))
		return;
	tid = (pid_t)syscall(SYS_gettid);
	if (atomic_load(&slots_live) > 1) {
		attribute(&slots[idx], gen, addr, &xp);
		n = companion_candidates(idx, &xp, tid, comp);
		if (n)
			n = companions_fired(&xp, hwbp_uc_pc(uc), uc, comp, n);
	}
	dispatch(&slots[idx], idx, gen, addr, tid, false, uc);
	leave(idx);
	for (int i = 0; i < n; i++) {
		if (!enter(comp[i].idx, comp[i].incarnation))
			continue; /* closed meanwhile */
		dispatch(&slots[comp[i].idx], comp[i].idx, comp[i].gen,
			 comp[i].p.addr, tid, false, uc);
		leave(comp[i].idx);
	}
}

/* hwbp_signal_check's event: count the deliveries; a third one of the
 * same write means the trap repeats: disarm it so the write completes. */
static _Atomic int probe_entries, probe_fd = -1;

static void probe_hit(void)
{
	if (atomic_fetch_add(&probe_entries, 1) + 1 >= 3 &&
	    atomic_load(&probe_fd) >= 0)
		ioctl(atomic_load(&probe_fd), PERF_EVENT_IOC_DISABLE, 0);
}

static bool handle_sync(const siginfo_t *si, void *uc)
{
	const struct perf_siginfo *k = (const void *)si;
	uint64_t d = k->data;
	uint32_t slot = (uint32_t)(d >> SIG_SLOT_SHIFT) & SIG_FIELD;

	if (si->si_code != TRAP_PERF || k->type != PERF_TYPE_BREAKPOINT)
		return false;
	if (d >> 52 == PROBE_MAGIC) {
		probe_hit();
		return true;
	}
	if (d >> 52 != SIG_MAGIC)
		return false;
	trap_seq++;
	if (slot < HWBP_MAX_SLOTS)
		serve((int)slot, (int)((d >> SIG_INC_SHIFT) & SIG_FIELD),
		      (uint32_t)d, (uint64_t)(uintptr_t)k->addr, uc);
	return true; /* ours, even when its handle is gone */
}

static bool handle_async(const siginfo_t *si, void *uc)
{
	int high = atomic_load(&slots_high);

	/* F_SETSIG signals carry the poll band and the fd; 6.x kernels say
	 * SI_SIGIO where older ones said POLL_IN. */
	if ((si->si_code != POLL_IN && si->si_code != SI_SIGIO) ||
	    si->si_band != (POLLIN | POLLRDNORM))
		return false;
	for (int i = 0; i < high; i++)
		if (atomic_load(&slots[i].async_fd) == si->si_fd) {
			trap_seq++;
			if (enter(i, -1)) {
				dispatch(&slots[i], i,
					 atomic_load(&slots[i].cur_gen), 0,
					 (pid_t)syscall(SYS_gettid), true, uc);
				leave(i);
			}
			return true;
		}
	return false;
}

/* ---- debug traps whose cause the hypervisor lost (x86-64) ---- */

#if defined(__x86_64__)
#define ICEBP 0xf1 /* int1: a #DB with no cause in DR6, on purpose */

/* The byte before pc is an icebp: then the trap is the program's own. */
static bool icebp_before(uint64_t pc)
{
	uint8_t b = 0;
	struct iovec local = { &b, 1 }, remote = { (void *)(pc - 1), 1 };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1 &&
	       b == ICEBP;
}

/*
 * A debug exception whose DR6 said nothing (si_code TRAP_BRKPT, no icebp
 * before the PC) in a thread with handles of ours armed: the hit the
 * hypervisor lost the cause of.  The handles whose placement the
 * instruction before the PC touched (an execute one: at the PC) get it:
 * counted in `recovered`, and signal handles their callback.  False when
 * no handle of ours is armed on this thread: the trap is not ours.
 */
static bool recover_lost_cause(void *uc)
{
	struct companion data[MAX_COMPANIONS], fired[MAX_COMPANIONS];
	int high = atomic_load(&slots_high), ndata = 0, nfired = 0;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	uint64_t pc = hwbp_uc_pc(uc);
	bool ours = false;

	for (int i = 0; i < high; i++) {
		struct slot *s = &slots[i];
		struct companion c = { .idx = i };

		if (atomic_load(&s->state) != SLOT_LIVE || !enter(i, -1))
			continue;
		c.incarnation = (int)(atomic_load(&s->incarnation) & SIG_FIELD);
		c.gen = atomic_load(&s->cur_gen);
		if (atomic_load(&s->enabled) && covers(s, tid) &&
		    read_placement(s, c.gen, &c.p)) {
			ours = true;
			if (c.p.access == HWBP_EXEC && c.p.addr == pc &&
			    nfired < MAX_COMPANIONS)
				fired[nfired++] = c;
			else if (c.p.access != HWBP_EXEC &&
				 ndata < MAX_COMPANIONS)
				data[ndata++] = c;
		}
		leave(i);
	}
	if (!ours)
		return false;
	trap_seq++; /* a SIGTRAP of ours: one access (sched.c dedupes by it) */
	atomic_fetch_add(&lost_cause_traps, 1);
	ndata = data_fired(pc, UINT64_MAX, 0, uc, data, ndata);
	for (int i = 0; i < ndata && nfired < MAX_COMPANIONS; i++)
		fired[nfired++] = data[i];
	for (int i = 0; i < nfired; i++) {
		struct slot *s = &slots[fired[i].idx];

		if (!enter(fired[i].idx, fired[i].incarnation))
			continue;
		atomic_fetch_add(&s->recovered, 1);
		if (atomic_load(&s->delivery) == HWBP_DELIVER_SIGNAL &&
		    atomic_load(&s->fn))
			dispatch(s, fired[i].idx, fired[i].gen, fired[i].p.addr,
				 tid, false, uc);
		leave(fired[i].idx);
	}
	return true;
}

static bool handle_lost_cause(const siginfo_t *si, void *uc)
{
	if (si->si_code != TRAP_BRKPT || icebp_before(hwbp_uc_pc(uc)))
		return false;
	return recover_lost_cause(uc);
}
#else
/* Elsewhere TRAP_BRKPT is a breakpoint instruction (arm64 brk): not ours. */
static bool handle_lost_cause(const siginfo_t *si, void *uc)
{
	(void)si, (void)uc;
	return false;
}
#endif

/* A SIGTRAP that is not ours goes where it would have gone without us. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, uc);
	} else if (previous.sa_handler == SIG_IGN) {
		return;
	} else if (previous.sa_handler == SIG_DFL) {
		/* Default action (core dump) once this handler returns. */
		signal(sig, SIG_DFL);
		raise(sig);
	} else {
		previous.sa_handler(sig);
	}
}

void hwbp_on_sigtrap(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;

	if (!handle_sync(si, uc) && !handle_async(si, uc) &&
	    !handle_lost_cause(si, uc))
		chain(sig, si, uc);
	errno = saved_errno;
}

/* ---- installation ---- */

static int install_err;

static void install_once(void)
{
	struct sigaction sa = { 0 };

	sa.sa_sigaction = hwbp_on_sigtrap;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTRAP, &sa, &previous))
		install_err = errno;
}

int hwbp_signal_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, install_once);
	if (install_err)
		return hwbp_fail(install_err, "cannot install the SIGTRAP "
				 "handler: sigaction failed");
	return 0;
}

/*
 * Can a synchronous SIGTRAP be delivered in this process?  Under a binary
 * translator (valgrind) the write a hit trapped on runs again after the
 * handler, traps again, and the program never gets past it.  One write
 * to a word of ours, watched with sigtrap, tells: natively one delivery.
 * The answer is kept once known; a probe that cannot run (no register
 * free, SIGTRAP blocked) says nothing and is tried again next time.
 * (The library reads no environment: LD_PRELOAD would name valgrind.)
 */
int hwbp_signal_check(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static volatile uint64_t word;
	static int verdict = -1, repeats; /* -1: not known yet */
	struct perf_event_attr a = {
		.type = PERF_TYPE_BREAKPOINT, .size = sizeof(a),
		.bp_type = HWBP_WRITE, .bp_addr = (uintptr_t)&word, .bp_len = 8,
		.sample_period = 1, .exclude_kernel = 1, .exclude_hv = 1,
		.sigtrap = 1, .remove_on_exec = 1, .sig_data = PROBE_MAGIC << 52,
	};
	int fd, n;

	pthread_mutex_lock(&lock);
	if (verdict < 0) {
		fd = (int)hwbp_perf_event_open(&a, 0, -1, -1,
					       PERF_FLAG_FD_CLOEXEC);
		if (fd >= 0) {
			atomic_store(&probe_entries, 0);
			atomic_store(&probe_fd, fd);
			word = word + 1;
			atomic_store(&probe_fd, -1);
			close(fd);
			n = atomic_load(&probe_entries);
			if (n >= 1)
				verdict = n > 1;
			repeats = n;
		}
	}
	n = verdict;
	pthread_mutex_unlock(&lock);
	if (n <= 0)
		return 0;
	return hwbp_fail(EOPNOTSUPP, "signal delivery cannot work in this "
			 "process: the SIGTRAP of one hit came %d times at the "
			 "same write (under valgrind, or another binary "
			 "translator that runs the instruction again after the "
			 "handler, it would trap forever); count and ring "
			 "delivery work here", repeats);
}

/* Route an event's overflow signal to `tid` (the async fallback). */
int hwbp_async_arm_fd(int fd, pid_t tid)
{
	struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = tid };
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETSIG, SIGTRAP) ||
	    fcntl(fd, F_SETOWN_EX, &owner) || fcntl(fd, F_SETFL, fl | O_ASYNC))
		return hwbp_fail(errno, "async signal setup (O_ASYNC, F_SETSIG, "
				 "F_SETOWN_EX) failed on fd %d", fd);
	return 0;
}
