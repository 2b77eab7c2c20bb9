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
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef TRAP_PERF
#define TRAP_PERF 6
#endif
#ifndef F_SETSIG
#define F_SETSIG 10
#endif

#define SIG_MAGIC 0x4877ull /* "Hw" */
#define HIST 32             /* placements remembered per slot */

enum { SLOT_FREE = 0, SLOT_LIVE, SLOT_CLOSING };

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
	_Atomic uint32_t gen; /* UINT32_MAX while being written */
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
};

static struct slot slots[HWBP_MAX_SLOTS];
static _Atomic int slots_high; /* slots in use are below this */
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous;
static HWBP_TLS int in_handler_slot; /* slot + 1 while its callback runs */

bool hwbp_in_handler(void)
{
	return in_handler_slot != 0;
}

uint64_t hwbp_slot_sig_data(int slot, uint32_t gen)
{
	uint32_t inc = atomic_load(&slots[slot].incarnation);

	return SIG_MAGIC << 48 | (uint64_t)slot << 32 |
	       (uint64_t)(inc & 0xffff) << 16 | (gen & 0xffff);
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
		atomic_store(&s->fn, bp->req.on_hit);
		atomic_store(&s->cookie, bp->req.cookie);
		atomic_store(&s->async_fd, -1);
		atomic_store(&s->signals, 0);
		atomic_store(&s->stale, 0);
		for (int g = 0; g < HIST; g++)
			atomic_store(&s->hist[g].gen, UINT32_MAX);
		atomic_store(&s->state, SLOT_LIVE);
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

/* Publish placement `gen` before the kernel can report it.  async-signal-safe */
void hwbp_slot_place(int slot, uint32_t gen, const struct hwbp_place *p)
{
	struct placement *e = &slots[slot].hist[gen % HIST];

	atomic_store(&e->gen, UINT32_MAX);
	atomic_store(&e->addr, p->addr);
	atomic_store(&e->len, p->len);
	atomic_store(&e->access, (int)p->access);
	atomic_store(&e->gen, gen & 0xffff);
	atomic_store(&slots[slot].cur_gen, gen & 0xffff);
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

/* Stop new callbacks, wait for running ones (but not our own caller). */
void hwbp_slot_release(int slot)
{
	struct slot *s = &slots[slot];
	uint32_t self = in_handler_slot == slot + 1 ? 1 : 0;

	atomic_store(&s->state, SLOT_CLOSING);
	while (atomic_load(&s->active) > self)
		sched_yield();
	atomic_store(&s->async_fd, -1);
	atomic_store(&s->bp, NULL);
	atomic_store(&s->state, SLOT_FREE);
}

/* ---- the handler: async-signal-safe from here to the end of dispatch ---- */

static bool read_placement(struct slot *s, uint32_t gen, struct hwbp_place *p)
{
	struct placement *e = &s->hist[gen % HIST];

	if (atomic_load(&e->gen) != gen)
		return false;
	p->addr = atomic_load(&e->addr);
	p->len = atomic_load(&e->len);
	p->access = (enum hwbp_access)atomic_load(&e->access);
	return atomic_load(&e->gen) == gen; /* not rewritten meanwhile */
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
		uint32_t g = (gen - back) & 0xffff;

		if (read_placement(s, g, p) && p->addr == addr)
			return g;
	}
	/* Moved more than HIST times since: the address is all we know. */
	*p = (struct hwbp_place){ .addr = addr, .len = 0, .access = 0 };
	return (gen - HIST) & 0xffff;
}

static void dispatch(struct slot *s, int idx, uint32_t gen, uint64_t addr,
		     bool async, void *uc)
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
		.tid = (pid_t)syscall(SYS_gettid),
		.pc = hwbp_uc_pc(uc),
		.async = async,
	};
	atomic_fetch_add(&s->signals, 1);
	in_handler_slot = idx + 1;
	fn(&hit, uc);
	in_handler_slot = outer;
}

/* Enter a slot if it is live and of this incarnation; then dispatch. */
static void enter(int idx, int incarnation, uint32_t gen, uint64_t addr,
		  bool async, void *uc)
{
	struct slot *s = &slots[idx];

	atomic_fetch_add(&s->active, 1);
	if (atomic_load(&s->state) == SLOT_LIVE &&
	    (incarnation < 0 ||
	     (atomic_load(&s->incarnation) & 0xffff) == (uint32_t)incarnation))
		dispatch(s, idx, gen, addr, async, uc);
	atomic_fetch_sub(&s->active, 1);
}

static bool handle_sync(const siginfo_t *si, void *uc)
{
	const struct perf_siginfo *k = (const void *)si;
	uint64_t d = k->data;

	if (si->si_code != TRAP_PERF || k->type != PERF_TYPE_BREAKPOINT ||
	    d >> 48 != SIG_MAGIC)
		return false;
	if ((d >> 32 & 0xffff) < HWBP_MAX_SLOTS)
		enter((int)(d >> 32 & 0xffff), (int)(d >> 16 & 0xffff),
		      (uint32_t)(d & 0xffff), (uint64_t)(uintptr_t)k->addr,
		      false, uc);
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
			enter(i, -1, atomic_load(&slots[i].cur_gen), 0, true,
			      uc);
			return true;
		}
	return false;
}

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

static void on_sigtrap(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;

	if (!handle_sync(si, uc) && !handle_async(si, uc))
		chain(sig, si, uc);
	errno = saved_errno;
}

/* ---- installation ---- */

static int install_err;

static void install_once(void)
{
	struct sigaction sa = { 0 };

	sa.sa_sigaction = on_sigtrap;
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
