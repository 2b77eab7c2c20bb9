/* SPDX-License-Identifier: MIT */
/*
 * hwbp.c - the public lifecycle: create, enable/disable, move, count,
 * stats and close.  Keeps the registry of open handles (to name how many
 * registers this library holds when the kernel says ENOSPC, and to refuse a
 * double close) and a short quarantine of closed handles, so that using a
 * handle just after closing it is -EBADF instead of a use-after-free.
 */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static struct hwbp_handles handles = HWBP_HANDLES_INIT(free, 64);

__attribute__((destructor)) static void free_quarantine(void)
{
	hwbp_handles_drain(&handles);
}

/* Does bp watch thread tid (an event on it, or following this process)? */
static int watches_thread(void *p, void *ctx)
{
	const struct hwbp *bp = p;
	pid_t tid = *(const pid_t *)ctx;
	bool hit = bp->req.scope == HWBP_SCOPE_PROCESS && bp->req.follow &&
		   bp->req.pid == getpid();

	for (int f = 0; f < bp->nfds && !hit; f++)
		hit = bp->fd_tids[f] == tid;
	return hit;
}

int hwbp_count_self_bps_on(pid_t tid)
{
	return hwbp_handles_sum(&handles, watches_thread, &tid);
}

static void destroy(struct hwbp *bp)
{
	hwbp_events_close(bp);
	if (bp->slot >= 0)
		hwbp_slot_release(bp->slot);
	hwbp_rings_close(bp);
	hwbp_req_release(&bp->req);
	free(bp->fds);
	free(bp->fd_tids);
	free(bp->fd_cpus);
	free(bp->fd_aux);
	bp->fd_aux = NULL;
	bp->fds = NULL;
	bp->fd_tids = NULL;
	bp->fd_cpus = NULL;
}

static int is_handle(void *p, void *ctx)
{
	return p == ctx;
}

/* A thread scope writing into a process's per-CPU rings: its own events
 * are opened per CPU, each into the ring of its CPU (what a process
 * scope does for each of its threads, and of the children it follows). */
static bool thread_into_process(const struct hwbp_req *req,
				const struct hwbp *o)
{
	return req->scope == HWBP_SCOPE_THREAD &&
	       o->req.scope == HWBP_SCOPE_PROCESS &&
	       hwbp_task_in(req->pid, o->req.pid ? o->req.pid : getpid(),
			    o->req.follow);
}

/* opts.share_ring: an open ring handle recording the same things for the
 * same tasks, or a process's rings for one of its threads, or of a child
 * it follows (its records are decoded with its own options). */
static int check_share(struct hwbp_req *req)
{
	struct hwbp *o = req->share_ring;

	if (!o)
		return 0;
	if (!hwbp_handles_sum(&handles, is_handle, (void *)o))
		return hwbp_fail(EBADF, "opts.share_ring is not an open hwbp "
				 "handle (closed already?)");
	if (o->req.delivery == HWBP_DELIVER_RING && o->ring_owner != o)
		req->share_ring = o = o->ring_owner; /* share with its owner */
	if (o->req.delivery != HWBP_DELIVER_RING)
		return hwbp_fail(EINVAL, "opts.share_ring has no rings "
				 "(its delivery is not HWBP_DELIVER_RING)");
	if (!thread_into_process(req, o) &&
	    (o->req.scope != req->scope || o->req.pid != req->pid ||
	     o->req.follow != req->follow || o->req.ncpus != req->ncpus ||
	     (req->ncpus && memcmp(o->req.cpus, req->cpus,
				   (size_t)req->ncpus * sizeof(int)))))
		return hwbp_fail(EINVAL, "opts.share_ring watches other tasks "
				 "or CPUs: a ring is shared by breakpoints of "
				 "the same scope, pid and cpus, or by a thread "
				 "scope of a thread of the ring's process (or "
				 "of a child it follows)");
	if (o->req.sample != req->sample ||
	    o->req.regs_mask != req->regs_mask ||
	    o->req.stack_size != req->stack_size ||
	    o->req.branch_bytes != req->branch_bytes ||
	    o->req.kernel != req->kernel)
		return hwbp_fail(EINVAL, "opts.share_ring samples other "
				 "things: a shared ring's records are read "
				 "with one layout (same sample, regs_mask, "
				 "stack_size, branch_bytes and kernel)");
	return 0;
}

/* Pick sync or async signals for HWBP_SIGNAL_AUTO; refuse what cannot be. */
static int resolve_signal_mode(struct hwbp_req *req, const struct hwbp_probe *pr)
{
	if (req->delivery != HWBP_DELIVER_SIGNAL)
		return 0;
	if (req->signal_mode == HWBP_SIGNAL_AUTO)
		req->signal_mode = pr->sigtrap ? HWBP_SIGNAL_SYNC
					       : HWBP_SIGNAL_ASYNC;
	if (req->signal_mode == HWBP_SIGNAL_SYNC && !pr->sigtrap)
		return hwbp_fail(EOPNOTSUPP, "synchronous signals (attr.sigtrap) "
				 "need kernel >= 5.13; HWBP_SIGNAL_ASYNC works "
				 "for thread scopes");
	if (req->signal_mode == HWBP_SIGNAL_ASYNC &&
	    req->scope == HWBP_SCOPE_PROCESS)
		return hwbp_fail(EOPNOTSUPP, "process-wide signal delivery needs "
				 "attr.sigtrap (kernel >= 5.13): async signals "
				 "reach one owner thread only");
	return 0;
}

/* Breakpoints work here at all, or why not (the scheduler asks too). */
int hwbp_check_breakpoints(const struct hwbp_probe *pr)
{
	if (!pr->breakpoints && pr->paranoid >= 3 && !pr->cap_perfmon &&
	    !pr->cap_sys_admin)
		return hwbp_fail(EACCES, "perf_event_paranoid is %d: this "
				 "kernel forbids perf_event_open to unprivileged "
				 "users (sysctl kernel.perf_event_paranoid=2, or "
				 "CAP_PERFMON)", pr->paranoid);
	if (!pr->breakpoints)
		return hwbp_fail(ENOSYS, "perf_event_open(PERF_TYPE_BREAKPOINT) "
				 "does not work here (no "
				 "CONFIG_HAVE_HW_BREAKPOINT, or "
				 "perf_event_paranoid %d forbids it)",
				 pr->paranoid);
	return 0;
}

static int check_machine(const struct hwbp_probe *pr, const struct hwbp_req *req)
{
	int err = hwbp_check_breakpoints(pr);

	if (err)
		return err;
	if (!pr->fires) {
		static atomic_bool warned;

		if (!atomic_exchange(&warned, true))
			hwbp_log(HWBP_LOG_WARN, "warning: %s", HWBP_NOFIRE_WHY);
	}
	/* Said before the syscall: the kernel reserves a CPU-wide event's
	 * registers before it checks permission, so a busy machine would
	 * answer ENOSPC where the cause is privilege. */
	if (req->scope == HWBP_SCOPE_CPUS && !pr->cpu_wide)
		return hwbp_fail(EACCES, "CPU-wide breakpoints need CAP_PERFMON "
				 "(or CAP_SYS_ADMIN) or perf_event_paranoid <= 0 "
				 "(it is %d: sysctl kernel.perf_event_paranoid=0)",
				 pr->paranoid);
	if (req->place.access == HWBP_EXEC && !pr->exec)
		return hwbp_fail(EOPNOTSUPP, "execute breakpoints are refused "
				 "by this kernel");
	if ((req->sample & HWBP_SAMPLE_BRANCHES) && !pr->branches) {
		char why[1024];

		hwbp_branches_why(why, sizeof(why));
		return hwbp_fail(EOPNOTSUPP, "HWBP_SAMPLE_BRANCHES: no branch "
				 "records here%s", why);
	}
	return 0;
}

/* Its events are on threads of this process (where our SIGTRAP handler
 * runs). */
static bool watches_this_process(const struct hwbp_req *req)
{
	switch (req->scope) {
	case HWBP_SCOPE_SELF:
		return true;
	case HWBP_SCOPE_THREAD:
		return syscall(SYS_tgkill, getpid(), req->pid, 0) == 0;
	case HWBP_SCOPE_PROCESS:
		return req->pid == getpid();
	default:
		return false;
	}
}

/* A count or ring handle on this process's threads gets a slot too: the
 * SIGTRAP handler then takes a debug trap whose cause the hypervisor
 * lost (signal.c) instead of letting it kill the process, and gives the
 * hit to the handle.  Without a free slot it simply goes without. */
static void track_in_process(struct hwbp *bp)
{
	int slot;

	if (hwbp_signal_install() || (slot = hwbp_slot_claim(bp)) < 0) {
		hwbp_clear_error();
		return;
	}
	bp->slot = slot;
	hwbp_slot_place(slot, 0, &bp->req.place);
}

/* A handle; ring_only: its rings and nothing else (no breakpoint event,
 * no register taken): hwbp_ring_create. */
static int create(struct hwbp **out, uint64_t addr, uint32_t len,
		  enum hwbp_access access, const struct hwbp_opts *opts,
		  bool ring_only)
{
	struct hwbp_probe pr;
	struct hwbp *bp;
	int err;

	hwbp_clear_error();
	if (!out)
		return hwbp_fail(EINVAL, "hwbp_create: out is NULL");
	*out = NULL;
	bp = calloc(1, sizeof(*bp));
	if (!bp)
		return hwbp_fail(ENOMEM, "out of memory for a breakpoint");
	bp->slot = -1;
	bp->epfd = -1;
	err = hwbp_req_from_opts(&bp->req, addr, len, access, opts);
	if (err) {
		free(bp);
		return err;
	}
	bp->enabled = !bp->req.disabled;
	hwbp_probe_cached(&pr);
	bp->lost_format = pr.lost_count && bp->req.delivery == HWBP_DELIVER_RING;
	bp->remove_on_exec = pr.sigtrap; /* same kernels (5.13+) */
	err = check_machine(&pr, &bp->req);
	if (!err)
		err = check_share(&bp->req);
	if (!err)
		err = resolve_signal_mode(&bp->req, &pr);
	if (!err && ring_only && bp->req.delivery != HWBP_DELIVER_RING)
		err = hwbp_fail(EINVAL, "a ring-only handle needs ring "
				"delivery");
	if (!err && !ring_only && bp->req.delivery != HWBP_DELIVER_SIGNAL &&
	    watches_this_process(&bp->req))
		track_in_process(bp);
	if (!err && bp->req.delivery == HWBP_DELIVER_SIGNAL) {
		err = hwbp_signal_install();
		if (!err && pr.fires)
			err = hwbp_signal_check();
		if (!err)
			err = bp->slot = hwbp_slot_claim(bp);
		if (err >= 0) {
			hwbp_slot_place(bp->slot, 0, &bp->req.place);
			err = 0;
		}
	}
	if (!err && bp->req.delivery == HWBP_DELIVER_RING)
		err = hwbp_rings_open(bp);
	if (!err && bp->slot >= 0) {
		hwbp_slot_cover(bp->slot, bp);
		hwbp_slot_enable(bp->slot, bp->enabled);
	}
	if (!err && !ring_only)
		err = hwbp_events_open(bp);
	if (!err && bp->slot >= 0)
		hwbp_slot_cover(bp->slot, bp); /* the threads opened */
	if (!err)
		err = hwbp_handles_add(&handles, bp);
	if (err) {
		if (bp->slot < 0)
			bp->slot = -1;
		destroy(bp);
		free(bp);
		return err;
	}
	*out = bp;
	return 0;
}

HWBP_API int hwbp_create(struct hwbp **out, uint64_t addr, uint32_t len,
			 enum hwbp_access access, const struct hwbp_opts *opts)
{
	return create(out, addr, len, access, opts, false);
}

int hwbp_ring_create(struct hwbp **out, const struct hwbp_opts *opts)
{
	/* (a placement every architecture accepts; never armed) */
	return create(out, 4096, 1, HWBP_WRITE, opts, true);
}

/* A usable handle, or -EBADF/-EINVAL with the message set. */
static int check_handle(const struct hwbp *bp, const char *fn)
{
	if (!bp)
		return hwbp_fail(EINVAL, "%s: bp is NULL", fn);
	if (atomic_load(&bp->closed))
		return hwbp_fail(EBADF, "%s: this breakpoint is closed", fn);
	return 0;
}

HWBP_API int hwbp_close(struct hwbp *bp)
{
	if (!bp)
		return 0;
	if (!hwbp_handles_unlink(&handles, bp, &bp->closed))
		return hwbp_fail(EBADF, "hwbp_close: not an open hwbp handle "
				 "(closed already?)");
	destroy(bp);
	hwbp_handles_retire(&handles, bp);
	return 0;
}

static int set_enabled(struct hwbp *bp, bool on, const char *fn)
{
	int err = check_handle(bp, fn);

	if (err)
		return err;
	/* Armed before the kernel can fire it, disarmed after it cannot. */
	if (on && bp->slot >= 0)
		hwbp_slot_enable(bp->slot, true);
	err = hwbp_events_ioctl_all(bp, on ? PERF_EVENT_IOC_ENABLE
					   : PERF_EVENT_IOC_DISABLE);
	if (err) {
		if (bp->slot >= 0)
			hwbp_slot_enable(bp->slot, bp->enabled);
		return hwbp_fail(-err, "%s: ioctl failed: %s", fn,
				 strerror(-err));
	}
	bp->enabled = on;
	if (!on && bp->slot >= 0)
		hwbp_slot_enable(bp->slot, false);
	return 0;
}

HWBP_API int hwbp_enable(struct hwbp *bp)
{
	return set_enabled(bp, true, "hwbp_enable");
}

HWBP_API int hwbp_disable(struct hwbp *bp)
{
	return set_enabled(bp, false, "hwbp_disable");
}

/* A data placement every architecture takes (1, 2, 4 or 8 bytes aligned
 * in user space): a move's common case, checked without a call. */
static inline bool plainly_valid(const struct hwbp_place *p)
{
	return (p->access == HWBP_WRITE || p->access == HWBP_RW) && p->addr &&
	       (p->len == 1 || p->len == 2 || p->len == 4 || p->len == 8) &&
	       !(p->addr & (p->len - 1)) &&
	       p->addr + p->len <= hwbp_arch.user_top;
}

HWBP_API int hwbp_move(struct hwbp *bp, uint64_t addr, uint32_t len,
		       enum hwbp_access access)
{
	struct hwbp_place p = { addr, len, access };
	uint32_t old_gen, gen;
	int err = check_handle(bp, "hwbp_move");

	if (err)
		return err;
	if (access == HWBP_EXEC && len == 0)
		p.len = hwbp_arch.exec_len;
	if (!plainly_valid(&p) && (err = hwbp_check_place(&p, bp->req.kernel)))
		return err;
	old_gen = atomic_load_explicit(&bp->generation, memory_order_relaxed);
	gen = old_gen + 1; /* wraps at 2^32, as hit->generation */
	/* Publish the new placement before the kernel can report a hit on it. */
	if (bp->slot >= 0)
		hwbp_slot_place(bp->slot, gen, &p);
	err = hwbp_events_move(bp, &p, gen);
	if (err) {
		if (bp->slot >= 0)
			hwbp_slot_place(bp->slot, old_gen, &bp->req.place);
		return err;
	}
	bp->req.place = p;
	atomic_store_explicit(&bp->generation, gen, memory_order_release);
	atomic_fetch_add_explicit(&bp->moves, 1, memory_order_relaxed);
	return 0;
}

HWBP_API int hwbp_drain(struct hwbp *bp, int timeout_ms)
{
	uint64_t count, start = hwbp_now_ns(), waited_ms = 0;
	int err = check_handle(bp, "hwbp_drain");

	if (err)
		return err;
	if (timeout_ms < -1)
		return hwbp_fail(EINVAL, "hwbp_drain: timeout_ms %d (-1: no "
				 "limit, 0: do not wait)", timeout_ms);
	if (hwbp_in_handler())
		return hwbp_fail_const(EDEADLK, "hwbp_drain: called in a hit "
				       "callback, whose return the signals "
				       "waited for need");
	if (bp->req.delivery != HWBP_DELIVER_SIGNAL)
		return 0; /* count and ring: nothing is in flight */
	if ((err = hwbp_events_count(bp, &count, NULL)))
		return hwbp_fail(-err, "hwbp_drain: read failed: %s",
				 strerror(-err));
	for (int spin = 0; hwbp_slot_handled(bp->slot) < count; spin++) {
		waited_ms = (hwbp_now_ns() - start) / 1000000;
		if (timeout_ms >= 0 && waited_ms >= (uint64_t)timeout_ms)
			return hwbp_fail(ETIMEDOUT, "hwbp_drain: %llu of %llu "
					 "hits have had no callback after %d "
					 "ms: lost (stats.lost: a merged "
					 "signal whose access did not decode), "
					 "waiting in a thread that has not run "
					 "since, or hits of forked children "
					 "(their callbacks run there)",
					 (unsigned long long)(count -
					 hwbp_slot_handled(bp->slot)),
					 (unsigned long long)count, timeout_ms);
		if (spin < 100)
			sched_yield();
		else
			nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
	return 0;
}

HWBP_API int hwbp_read_count(struct hwbp *bp, uint64_t *count)
{
	int err = check_handle(bp, "hwbp_read_count");

	if (!err && !count)
		err = hwbp_fail(EINVAL, "hwbp_read_count: count is NULL");
	if (!err && (err = hwbp_events_count(bp, count, NULL)))
		err = hwbp_fail(-err, "hwbp_read_count: read failed: %s",
				strerror(-err));
	return err;
}

HWBP_API int hwbp_get_stats(const struct hwbp *bp, struct hwbp_stats *st)
{
	struct hwbp_stats all;
	uint64_t count, event_lost, lost = 0;
	int err = check_handle(bp, "hwbp_get_stats");

	if (!err && !st)
		err = hwbp_fail(EINVAL, "hwbp_get_stats: stats is NULL");
	if (!err)
		err = hwbp_opts_valid(st, st->sz, sizeof(*st), "hwbp_stats");
	if (err)
		return err;
	/* A LOST record only comes with the next record the kernel writes:
	 * after a flood with no hit since, the events' own drop counters
	 * (PERF_FORMAT_LOST) already know.  Both are lower bounds. */
	if (bp->lost_format && hwbp_events_count((struct hwbp *)bp, &count,
						 &event_lost) == 0)
		lost = event_lost;
	/* Signals: the hits counted that no callback served (in flight
	 * until hwbp_drain says none is). */
	if (bp->req.delivery == HWBP_DELIVER_SIGNAL &&
	    hwbp_events_count((struct hwbp *)bp, &count, NULL) == 0 &&
	    count > hwbp_slot_signals(bp->slot))
		lost = count - hwbp_slot_signals(bp->slot);
	all = (struct hwbp_stats){
		.sz = sizeof(all),
		.signals = hwbp_slot_signals(bp->slot),
		.stale = hwbp_slot_stale(bp->slot),
		.records = atomic_load(&bp->records),
		.lost = (lost > atomic_load(&bp->lost) ?
			 lost : atomic_load(&bp->lost)) +
			(bp->req.delivery == HWBP_DELIVER_RING ?
			 hwbp_slot_recovered(bp->slot) : 0),
		.moves = atomic_load(&bp->moves),
		.reopens = atomic_load(&bp->reopens),
		.events = (uint32_t)bp->nfds,
		.rings = (uint32_t)bp->nrings,
		.recovered = hwbp_slot_recovered(bp->slot),
	};
	hwbp_bpf_stats(bp, &all);
	hwbp_copy_out(st, st->sz, &all, sizeof(all));
	return 0;
}
