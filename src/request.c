/* SPDX-License-Identifier: MIT */
/*
 * request.c - turns (addr, len, access, opts) into a checked request: the
 * options struct is validated for size, every field against its range, and
 * the placement against the architecture's rules, before any syscall.
 */

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "internal.h"

HWBP_API const char *hwbp_access_name(enum hwbp_access access)
{
	switch (access) {
	case HWBP_READ: return "read";
	case HWBP_WRITE: return "write";
	case HWBP_RW: return "rw";
	case HWBP_EXEC: return "exec";
	}
	return "?";
}

int hwbp_check_place(const struct hwbp_place *p, bool kernel)
{
	if (p->access != HWBP_READ && p->access != HWBP_WRITE &&
	    p->access != HWBP_RW && p->access != HWBP_EXEC)
		return hwbp_fail(EINVAL, "access %d is not HWBP_READ, "
				 "HWBP_WRITE, HWBP_RW or HWBP_EXEC",
				 (int)p->access);
	if (!p->addr)
		return hwbp_fail(EINVAL, "address 0: a breakpoint needs a "
				 "mapped address");
	if (p->addr >= hwbp_arch.user_top && !kernel)
		return hwbp_fail(EINVAL, "0x%llx is a kernel address: set "
				 "opts.kernel (needs CAP_PERFMON or "
				 "perf_event_paranoid <= 1)",
				 (unsigned long long)p->addr);
	if (p->addr + p->len < p->addr)
		return hwbp_fail(EINVAL, "0x%llx + %u wraps around",
				 (unsigned long long)p->addr, p->len);
	return hwbp_arch_check(p);
}

/* A cpu_set_t of any size into a list of CPU numbers. */
static int cpus_from_set(struct hwbp_req *req, const void *set, size_t size)
{
	int max = (int)(size * 8), n = 0;

	if (!set || !size)
		return hwbp_fail(EINVAL, "scope cpus: opts.cpus is NULL or "
				 "opts.cpus_size is 0");
	req->cpus = calloc((size_t)max, sizeof(int));
	if (!req->cpus)
		return hwbp_fail(ENOMEM, "out of memory for the CPU list");
	for (int c = 0; c < max; c++)
		if (CPU_ISSET_S(c, size, (const cpu_set_t *)set))
			req->cpus[n++] = c;
	req->ncpus = n;
	if (!n)
		return hwbp_fail(EINVAL, "scope cpus: the CPU set is empty");
	for (int i = 0; i < n; i++)
		if (req->cpus[i] >= get_nprocs_conf())
			return hwbp_fail(EINVAL, "scope cpus: CPU %d does not "
					 "exist (this machine has %d)",
					 req->cpus[i], get_nprocs_conf());
	return 0;
}

static int check_scope(struct hwbp_req *req, const struct hwbp_opts *opts)
{
	switch (req->scope) {
	case HWBP_SCOPE_SELF:
		return 0;
	case HWBP_SCOPE_THREAD:
		if (req->pid <= 0)
			return hwbp_fail(EINVAL, "scope thread: opts.pid must "
					 "be a tid > 0, not %d", (int)req->pid);
		return 0;
	case HWBP_SCOPE_PROCESS:
		if (req->pid < 0)
			return hwbp_fail(EINVAL, "scope process: opts.pid must "
					 "be a pid (0: this process), not %d",
					 (int)req->pid);
		if (!req->pid)
			req->pid = getpid();
		return 0;
	case HWBP_SCOPE_CPUS:
		return cpus_from_set(req, HWBP_OPTS_GET(opts, cpus, NULL),
				     HWBP_OPTS_GET(opts, cpus_size, 0));
	}
	return hwbp_fail(EINVAL, "scope %d is not a hwbp_scope", (int)req->scope);
}

/*
 * Signals run opts.on_hit in the thread that hit, so the target must be this
 * process: another one has no handler, and the SIGTRAP would kill it.  A tid
 * that exists nowhere is left to perf_event_open (ESRCH).
 */
static int check_signal_target(const struct hwbp_req *req)
{
	pid_t self = getpid();

	if (req->scope == HWBP_SCOPE_PROCESS && req->pid != self)
		return hwbp_fail(EINVAL, "signal delivery runs opts.on_hit in "
				 "the thread that hit: process %d is not this "
				 "process (%d); use count or ring delivery",
				 (int)req->pid, (int)self);
	if (req->scope == HWBP_SCOPE_THREAD &&
	    syscall(SYS_tgkill, self, req->pid, 0) && errno == ESRCH &&
	    (!kill(req->pid, 0) || errno == EPERM))
		return hwbp_fail(EINVAL, "signal delivery runs opts.on_hit in "
				 "the thread that hit: thread %d is not in this "
				 "process (%d); use count or ring delivery",
				 (int)req->pid, (int)self);
	return 0;
}

/* HWBP_SAMPLE_BRANCHES: a thread's trace, in a sample of at most 64 KiB. */
static int check_branches(const struct hwbp_req *req)
{
	if (req->scope == HWBP_SCOPE_CPUS)
		return hwbp_fail(EINVAL, "HWBP_SAMPLE_BRANCHES follows the "
				 "watched threads' trace: a thread or process "
				 "scope, not cpus");
	if (req->branch_bytes > 65528 || req->branch_bytes % 8)
		return hwbp_fail(EINVAL, "branch_bytes %u: a multiple of 8 up "
				 "to 65528 (a sample is at most 64 KiB)",
				 req->branch_bytes);
	return 0;
}

static int check_delivery(struct hwbp_req *req)
{
	if ((req->sample & HWBP_SAMPLE_BRANCHES) &&
	    req->delivery != HWBP_DELIVER_RING)
		return hwbp_fail(EINVAL, "HWBP_SAMPLE_BRANCHES puts the trace in "
				 "ring records: it needs delivery "
				 "HWBP_DELIVER_RING");
	if (req->switch_events && req->delivery != HWBP_DELIVER_RING)
		return hwbp_fail(EINVAL, "switch_events are ring records: "
				 "they need delivery HWBP_DELIVER_RING");
	if (req->mmap_events && req->delivery != HWBP_DELIVER_RING)
		return hwbp_fail(EINVAL, "mmap_events are ring records: "
				 "they need delivery HWBP_DELIVER_RING");
	if (req->bpf_samples && req->delivery != HWBP_DELIVER_RING)
		return hwbp_fail(EINVAL, "bpf_samples writes ring records: it "
				 "needs delivery HWBP_DELIVER_RING");
	if (req->share_ring && req->delivery != HWBP_DELIVER_RING)
		return hwbp_fail(EINVAL, "share_ring shares ring buffers: it "
				 "needs delivery HWBP_DELIVER_RING");
	switch (req->delivery) {
	case HWBP_DELIVER_COUNT:
		return 0;
	case HWBP_DELIVER_SIGNAL:
		if (!req->on_hit)
			return hwbp_fail(EINVAL, "signal delivery needs "
					 "opts.on_hit");
		if (req->scope == HWBP_SCOPE_CPUS)
			return hwbp_fail(EINVAL, "signal delivery needs a "
					 "thread or process scope, not cpus "
					 "(use ring or count)");
		if ((unsigned)req->signal_mode > HWBP_SIGNAL_ASYNC)
			return hwbp_fail(EINVAL, "signal_mode %d is not a "
					 "hwbp_signal_mode",
					 (int)req->signal_mode);
		if (req->signal_mode == HWBP_SIGNAL_ASYNC &&
		    req->scope == HWBP_SCOPE_PROCESS)
			return hwbp_fail(EINVAL, "async signals go to one owner "
					 "thread: they need a thread scope, "
					 "not process");
		return check_signal_target(req);
	case HWBP_DELIVER_RING:
		if (!req->on_record)
			return hwbp_fail(EINVAL, "ring delivery needs "
					 "opts.on_record");
		if (req->ring_pages & (req->ring_pages - 1))
			return hwbp_fail(EINVAL, "ring_pages %u is not a power "
					 "of 2", req->ring_pages);
		if (req->ring_pages > (1u << 16))
			return hwbp_fail(EINVAL, "ring_pages %u is over 65536",
					 req->ring_pages);
		if (req->sample & ~(uint32_t)(HWBP_SAMPLE_CALLCHAIN |
					      HWBP_SAMPLE_REGS |
					      HWBP_SAMPLE_STACK |
					      HWBP_SAMPLE_BRANCHES))
			return hwbp_fail(EINVAL, "opts.sample 0x%x has unknown "
					 "bits", req->sample);
		if ((req->sample & HWBP_SAMPLE_BRANCHES) &&
		    check_branches(req))
			return -EINVAL; /* (its only error) */
		if ((req->sample & HWBP_SAMPLE_STACK) &&
		    (!req->stack_size || req->stack_size > 65528 ||
		     req->stack_size % 8))
			return hwbp_fail(EINVAL, "stack_size %u: a multiple of "
					 "8 in 8..65528 with HWBP_SAMPLE_STACK",
					 req->stack_size);
		if ((req->task_events || req->mmap_events) &&
		    req->scope == HWBP_SCOPE_CPUS)
			return hwbp_fail(EINVAL, "%s follow the watched tasks: "
					 "a thread or process scope, not cpus",
					 req->task_events ? "task_events"
							  : "mmap_events");
		if ((req->sample & HWBP_SAMPLE_REGS) && !req->regs_mask)
			return hwbp_fail(EINVAL, "HWBP_SAMPLE_REGS needs "
					 "opts.regs_mask");
		return 0;
	}
	return hwbp_fail(EINVAL, "delivery %d is not a hwbp_delivery",
			 (int)req->delivery);
}

int hwbp_req_from_opts(struct hwbp_req *req, uint64_t addr, uint32_t len,
		       enum hwbp_access access, const struct hwbp_opts *o)
{
	int err = hwbp_opts_valid(o, o ? o->sz : 0, sizeof(*o), "hwbp_opts");

	*req = (struct hwbp_req){ 0 };
	if (err)
		return err;
	if (access == HWBP_EXEC && len == 0)
		len = hwbp_arch.exec_len;
	req->place = (struct hwbp_place){ .addr = addr, .len = len,
					  .access = access };
	req->scope = HWBP_OPTS_GET(o, scope, HWBP_SCOPE_SELF);
	req->pid = HWBP_OPTS_GET(o, pid, 0);
	req->delivery = HWBP_OPTS_GET(o, delivery, HWBP_DELIVER_COUNT);
	req->on_hit = HWBP_OPTS_GET(o, on_hit, NULL);
	req->on_record = HWBP_OPTS_GET(o, on_record, NULL);
	req->cookie = HWBP_OPTS_GET(o, cookie, NULL);
	req->signal_mode = HWBP_OPTS_GET(o, signal_mode, HWBP_SIGNAL_AUTO);
	req->rearm = HWBP_OPTS_GET(o, rearm, HWBP_REARM_AUTO);
	req->ring_pages = HWBP_OPTS_GET(o, ring_pages, 0) ?: 64;
	req->wakeup_events = HWBP_OPTS_GET(o, wakeup_events, 0) ?: 1;
	req->sample = HWBP_OPTS_GET(o, sample, 0);
	req->regs_mask = HWBP_OPTS_GET(o, regs_mask, 0);
	req->stack_size = HWBP_OPTS_GET(o, stack_size, 0);
	req->kernel = HWBP_OPTS_GET(o, kernel, false);
	req->disabled = HWBP_OPTS_GET(o, disabled, false);
	req->follow = !HWBP_OPTS_GET(o, no_follow, false);
	req->task_events = HWBP_OPTS_GET(o, task_events, false);
	req->switch_events = HWBP_OPTS_GET(o, switch_events, false);
	req->branch_bytes = HWBP_OPTS_GET(o, branch_bytes, 0) ?: 16384;
	req->mmap_events = HWBP_OPTS_GET(o, mmap_events, false);
	req->share_ring = HWBP_OPTS_GET(o, share_ring, NULL);
	req->bpf_samples = HWBP_OPTS_GET(o, bpf_samples, false);

	if ((unsigned)req->rearm > HWBP_REARM_REOPEN)
		return hwbp_fail(EINVAL, "rearm %d is not a hwbp_rearm",
				 (int)req->rearm);
	err = hwbp_check_place(&req->place, req->kernel);
	if (!err)
		err = check_scope(req, o);
	if (!err)
		err = check_delivery(req);
	if (err)
		hwbp_req_release(req);
	return err;
}

void hwbp_req_release(struct hwbp_req *req)
{
	free(req->cpus);
	req->cpus = NULL;
	req->ncpus = 0;
}
