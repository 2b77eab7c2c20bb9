/* SPDX-License-Identifier: MIT */
/*
 * event.c - the perf events behind a handle: the attr for a placement, one
 * event per (thread, CPU) target of the scope, re-arming in place with
 * PERF_EVENT_IOC_MODIFY_ATTRIBUTES or by close + reopen, and the messages
 * that explain why the kernel said no.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef PERF_EVENT_IOC_MODIFY_ATTRIBUTES
#define PERF_EVENT_IOC_MODIFY_ATTRIBUTES _IOW('$', 11, struct perf_event_attr *)
#endif

long hwbp_perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu,
			  int group_fd, unsigned long flags)
{
	return syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

static bool sync_signal(const struct hwbp *bp)
{
	return bp->req.delivery == HWBP_DELIVER_SIGNAL &&
	       bp->req.signal_mode == HWBP_SIGNAL_SYNC;
}

/* What perf writes in a hit's ring sample. */
static void ring_sample_attr(struct perf_event_attr *a,
			     const struct hwbp_req *r)
{
	a->sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
			 PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU;
	if (r->sample & HWBP_SAMPLE_CALLCHAIN) {
		a->sample_type |= PERF_SAMPLE_CALLCHAIN;
		a->exclude_callchain_kernel = 1;
	}
	if (r->sample & HWBP_SAMPLE_REGS) {
		a->sample_type |= PERF_SAMPLE_REGS_USER;
		a->sample_regs_user = r->regs_mask;
	}
	if (r->sample & HWBP_SAMPLE_STACK) {
		a->sample_type |= PERF_SAMPLE_STACK_USER;
		a->sample_stack_user = r->stack_size;
	}
	if (r->sample & HWBP_SAMPLE_BRANCHES) {
		/* The group leader's trace (aux.c), last in the sample
		 * (perf_output_sample). */
		a->sample_type |= PERF_SAMPLE_AUX;
		a->aux_sample_size = r->branch_bytes;
	}
}

void hwbp_fill_attr(struct perf_event_attr *a, const struct hwbp *bp,
		    const struct hwbp_place *p, uint32_t gen)
{
	const struct hwbp_req *r = &bp->req;

	memset(a, 0, sizeof(*a));
	a->type = PERF_TYPE_BREAKPOINT;
	a->size = sizeof(*a);
	a->bp_type = (uint32_t)p->access;
	a->bp_addr = p->addr;
	a->bp_len = p->len;
	/* Counting needs no overflow: with a period every hit would take
	 * the overflow path (perf stat counts with none). */
	a->sample_period = r->delivery == HWBP_DELIVER_COUNT ? 0 : 1;
	a->exclude_kernel = !r->kernel;
	a->exclude_hv = 1;
	a->disabled = !bp->enabled;
	a->inherit = r->scope == HWBP_SCOPE_PROCESS && r->follow;
	if (sync_signal(bp)) {
		a->sigtrap = 1;
		a->sig_data = hwbp_slot_sig_data(bp->slot, gen);
	}
	/* An address means nothing in the program a task execs: its
	 * breakpoints go with the old image (required with sigtrap; the
	 * same kernels, 5.13+, have it for every event). */
	a->remove_on_exec = sync_signal(bp) || bp->remove_on_exec;
	if (r->delivery != HWBP_DELIVER_RING)
		return;
	if (hwbp_bpf_on(bp->ring_owner))
		/* the owner's program writes the sample (bpf.c); perf only
		 * prepares this before running it */
		a->sample_type = PERF_SAMPLE_IP;
	else
		ring_sample_attr(a, r);
	a->wakeup_events = r->wakeup_events;
	a->use_clockid = 1;
	a->clockid = CLOCK_MONOTONIC;
	a->sample_id_all = 1;
	if (bp->lost_format)
		a->read_format = PERF_FORMAT_LOST;
}

/* Why a kernel would refuse a breakpoint on its own addresses ("" for a
 * user address).  x86 takes an execute one only where a kprobe could go
 * (hw_breakpoint_arch_parse: within_kprobe_blacklist), which without
 * CONFIG_KPROBES is nowhere; the kprobe PMU is there when it is on. */
static const char *kernel_refusal(const struct hwbp_place *p)
{
	if (p->addr < hwbp_arch.user_top)
		return "";
#if defined(__x86_64__)
	if (p->access == HWBP_EXEC &&
	    access("/sys/bus/event_source/devices/kprobe", F_OK))
		return " (this kernel has no kprobes - CONFIG_KPROBES is off, "
		       "no kprobe PMU - and x86 then refuses every execute "
		       "breakpoint on kernel code)";
#endif
	return " (it refuses breakpoints on parts of its own text and data, "
	       "e.g. entry and noinstr code)";
}

/* ---- targets of a scope ---- */

int hwbp_list_threads(pid_t pid, pid_t **tids, int *n)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int cap = 16;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return hwbp_fail(ESRCH, "no process %d (%s unreadable)",
				 (int)pid, path);
	*n = 0;
	*tids = malloc(cap * sizeof(pid_t));
	while (*tids && (d = readdir(dir))) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		if (*n == cap) {
			pid_t *t = realloc(*tids, (cap *= 2) * sizeof(pid_t));

			if (!t) {
				free(*tids);
				*tids = NULL;
				break;
			}
			*tids = t;
		}
		(*tids)[(*n)++] = atoi(d->d_name);
	}
	closedir(dir);
	if (!*tids)
		return hwbp_fail(ENOMEM, "out of memory listing threads");
	return 0;
}

/* The parent process of task tid (its process's), or -1. */
static pid_t parent_of(pid_t tid)
{
	char path[64], line[128];
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &ppid) == 1)
			break;
	fclose(f);
	return (pid_t)ppid;
}

bool hwbp_task_in(pid_t tid, pid_t pid, bool children)
{
	char path[64];
	pid_t p = tid;

	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	if (tid > 0 && !access(path, F_OK))
		return true;
	for (int depth = 0; children && tid > 0 && depth < 64; depth++) {
		p = parent_of(p);
		if (p == pid)
			return true;
		if (p <= 1)
			break;
	}
	return false;
}

static int push_fd(struct hwbp *bp, int fd, pid_t tid, int cpu)
{
	if (bp->nfds == bp->cap_fds) {
		int cap = bp->cap_fds ? bp->cap_fds * 2 : 4;
		int *fds = realloc(bp->fds, cap * sizeof(int));
		pid_t *tids = fds ? realloc(bp->fd_tids, cap * sizeof(pid_t)) : NULL;
		int *cpus = tids ? realloc(bp->fd_cpus, cap * sizeof(int)) : NULL;
		struct hwbp_aux **aux = cpus ? realloc(bp->fd_aux,
						       cap * sizeof(*aux)) : NULL;

		if (fds)
			bp->fds = fds;
		if (tids)
			bp->fd_tids = tids;
		if (cpus)
			bp->fd_cpus = cpus;
		if (!aux)
			return hwbp_fail(ENOMEM, "out of memory for events");
		bp->fd_aux = aux;
		bp->cap_fds = cap;
	}
	bp->fds[bp->nfds] = fd;
	bp->fd_tids[bp->nfds] = tid;
	bp->fd_cpus[bp->nfds] = cpu;
	bp->fd_aux[bp->nfds] = NULL;
	bp->nfds++;
	return 0;
}

static bool has_target(const struct hwbp *bp, pid_t tid)
{
	for (int i = 0; i < bp->nfds; i++)
		if (bp->fd_tids[i] == tid)
			return true;
	return false;
}

/* Wire a fresh event to its delivery: the ring, or the async owner. */
static int connect_delivery(struct hwbp *bp, int fd, pid_t tid, int cpu)
{
	if (bp->req.delivery == HWBP_DELIVER_RING)
		return hwbp_ring_attach(bp, fd, cpu, tid);
	if (bp->req.delivery == HWBP_DELIVER_SIGNAL && !sync_signal(bp)) {
		int err = hwbp_async_arm_fd(fd, tid);

		if (!err)
			hwbp_slot_set_fd(bp->slot, fd);
		return err;
	}
	return 0;
}

static int open_one(struct hwbp *bp, const struct hwbp_place *p, uint32_t gen,
		    pid_t tid, int cpu, int group_fd, int *out)
{
	struct perf_event_attr attr;
	bool wire;
	long fd;
	int err;

	hwbp_fill_attr(&attr, bp, p, gen);
	/* An event that must be wired to a ring or a signal owner is armed
	 * only once wired: a hit in between would be counted with no record
	 * and no signal (seen: 1 of 30 hits lost when attaching). */
	wire = bp->req.delivery == HWBP_DELIVER_RING ||
	       (bp->req.delivery == HWBP_DELIVER_SIGNAL && !sync_signal(bp));
	if (wire)
		attr.disabled = 1;
	fd = hwbp_perf_event_open(&attr, tid, cpu, group_fd,
				  PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return hwbp_explain_open_error(errno, bp, p, tid, cpu);
	err = connect_delivery(bp, (int)fd, tid, cpu);
	if (!err && wire && bp->enabled &&
	    ioctl((int)fd, PERF_EVENT_IOC_ENABLE, 0))
		err = hwbp_fail(errno, "PERF_EVENT_IOC_ENABLE of a new event "
				"failed: %s", strerror(errno));
	if (err) {
		close((int)fd);
		return err;
	}
	*out = (int)fd;
	return 0;
}

/* HWBP_SAMPLE_BRANCHES: the target's intel_pt leader (aux.c), else NULL. */
static int leader_of(struct hwbp *bp, pid_t tid, int cpu, struct hwbp_aux **a)
{
	*a = NULL;
	if (!(bp->req.sample & HWBP_SAMPLE_BRANCHES))
		return 0;
	return hwbp_aux_get(tid, cpu, bp->req.scope == HWBP_SCOPE_PROCESS &&
			    bp->req.follow, bp->req.branch_bytes, a);
}

static int open_target(struct hwbp *bp, pid_t tid, int cpu)
{
	uint32_t gen = atomic_load(&bp->generation);
	struct hwbp_aux *a;
	int fd, err = leader_of(bp, tid, cpu, &a);

	if (!err)
		err = open_one(bp, &bp->req.place, gen, tid, cpu,
			       hwbp_aux_fd(a), &fd);
	if (!err && (err = push_fd(bp, fd, tid, cpu)))
		close(fd);
	if (!err)
		bp->fd_aux[bp->nfds - 1] = a;
	else
		hwbp_aux_put(a);
	return err;
}

/* A thread scope writing into a process's per-CPU rings (opts.share_ring):
 * its events too are per CPU, each writing into its CPU's ring (the
 * kernel redirects output only between events of the same CPU). */
static bool into_cpu_rings(const struct hwbp *bp)
{
	const struct hwbp *o = bp->ring_owner;

	return bp->req.scope == HWBP_SCOPE_THREAD && o && o != bp &&
	       o->nrings && o->rings[0].cpu >= 0;
}

/* Per-CPU events (ring delivery of a process, or into its rings) or one
 * event of any CPU. */
static int open_thread(struct hwbp *bp, pid_t tid)
{
	int ncpu = get_nprocs_conf(), opened = 0, err = 0;

	if (bp->req.delivery != HWBP_DELIVER_RING ||
	    (bp->req.scope != HWBP_SCOPE_PROCESS && !into_cpu_rings(bp)))
		return open_target(bp, tid, -1);
	for (int cpu = 0; cpu < ncpu; cpu++) {
		err = open_target(bp, tid, cpu);
		if (err == -ENODEV) /* offline CPU */
			continue;
		if (err)
			return err;
		opened++;
	}
	return opened ? 0 : err;
}

/*
 * Every thread of the process, then again for threads that appeared while
 * we opened (their creator may not have had the inherited event yet), until
 * a pass finds none.  A thread that exits meanwhile (ESRCH) is skipped, the
 * first one listed too: a main thread that called pthread_exit stays listed
 * (a zombie leader) while the other threads run.
 */
static int open_process(struct hwbp *bp)
{
	for (int pass = 0; pass < 100; pass++) {
		pid_t *tids;
		int n, added = 0, err = hwbp_list_threads(bp->req.pid, &tids, &n);

		if (err)
			return err;
		for (int i = 0; i < n && !err; i++) {
			if (has_target(bp, tids[i]))
				continue;
			err = open_thread(bp, tids[i]);
			if (err == -ESRCH) {
				err = 0;
				hwbp_clear_error();
			} else if (!err) {
				added++;
			}
		}
		free(tids);
		if (err)
			return err;
		if (!added || !bp->req.follow)
			return bp->nfds ? 0 : hwbp_fail(ESRCH, "process %d has "
							"no threads left",
							(int)bp->req.pid);
	}
	return 0;
}

int hwbp_events_open(struct hwbp *bp)
{
	int err = 0;

	switch (bp->req.scope) {
	case HWBP_SCOPE_SELF:
		err = open_target(bp, (pid_t)syscall(SYS_gettid), -1);
		break;
	case HWBP_SCOPE_THREAD:
		err = open_thread(bp, bp->req.pid);
		break;
	case HWBP_SCOPE_PROCESS:
		err = open_process(bp);
		break;
	case HWBP_SCOPE_CPUS:
		for (int i = 0; i < bp->req.ncpus && !err; i++)
			err = open_target(bp, -1, bp->req.cpus[i]);
		break;
	}
	if (err)
		hwbp_events_close(bp);
	else
		hwbp_fill_attr(&bp->attr, bp, &bp->req.place,
			       atomic_load(&bp->generation));
	return err;
}

/* One event's count, and with PERF_FORMAT_LOST the samples it could not
 * write to its ring.  async-signal-safe */
static int read_event(const struct hwbp *bp, int fd, uint64_t *count,
		      uint64_t *lost)
{
	uint64_t v[2] = { 0, 0 };
	ssize_t want = bp->lost_format ? 16 : 8;

	if (read(fd, v, (size_t)want) != want)
		return -errno ?: -EIO;
	*count = v[0];
	*lost = v[1];
	return 0;
}

/* Close one event, keeping its hits (and drops) in the handle's counts.
 * async-signal-safe */
static void close_counted(struct hwbp *bp, int fd)
{
	uint64_t v, lost;

	if (fd < 0)
		return;
	if (read_event(bp, fd, &v, &lost) == 0) {
		atomic_fetch_add(&bp->count_carry, v);
		atomic_fetch_add(&bp->lost_carry, lost);
	}
	close(fd);
}

void hwbp_events_close(struct hwbp *bp)
{
	for (int i = 0; i < bp->nfds; i++)
		close_counted(bp, bp->fds[i]);
	/* Leaders last: a member left without its AUX leader goes into
	 * the ERROR state (perf_put_aux_event). */
	for (int i = 0; i < bp->nfds; i++)
		hwbp_aux_put(bp->fd_aux[i]);
	bp->nfds = 0;
}

/* async-signal-safe */
int hwbp_events_ioctl_all(struct hwbp *bp, unsigned long req)
{
	for (int i = 0; i < bp->nfds; i++)
		if (bp->fds[i] >= 0 && ioctl(bp->fds[i], req, 0))
			return -errno;
	return 0;
}

/* async-signal-safe */
int hwbp_events_lost_cpu(const struct hwbp *bp, int cpu, uint64_t *lost)
{
	uint64_t v, l;
	int err;

	*lost = 0;
	for (int i = 0; bp->lost_format && i < bp->nfds; i++) {
		if (bp->fds[i] < 0 || bp->fd_cpus[i] != cpu)
			continue;
		if ((err = read_event(bp, bp->fds[i], &v, &l)))
			return err;
		*lost += l;
	}
	return 0;
}

int hwbp_events_count(struct hwbp *bp, uint64_t *count, uint64_t *lost)
{
	/* with the hits the handler recovered where the hypervisor lost
	 * the trap's cause (signal.c): the kernel did not count them */
	uint64_t sum = atomic_load(&bp->count_carry) +
		       hwbp_slot_recovered(bp->slot), v, l;
	uint64_t lost_sum = atomic_load(&bp->lost_carry);
	int err;

	for (int i = 0; i < bp->nfds; i++) {
		if (bp->fds[i] < 0)
			continue;
		if ((err = read_event(bp, bp->fds[i], &v, &l)))
			return err;
		sum += v;
		lost_sum += l;
	}
	*count = sum;
	if (lost)
		*lost = lost_sum;
	return 0;
}

/* ---- re-arming ---- */

/* The attributes the events were opened with, at placement p: the
 * kernel wants every other field unchanged, so a copy of them with the
 * placement's fields set (cheaper than filling them all again). */
void hwbp_move_attr(struct perf_event_attr *a, const struct hwbp *bp,
		    const struct hwbp_place *p, uint32_t gen)
{
	*a = bp->attr;
	a->bp_type = (uint32_t)p->access;
	a->bp_addr = p->addr;
	a->bp_len = p->len;
	a->disabled = !bp->enabled;
	if (a->sigtrap) /* the generation is sig_data's low 32 bits */
		a->sig_data = (a->sig_data & ~0xffffffffull) | gen;
}

static int modify_all(struct hwbp *bp, const struct hwbp_place *p, uint32_t gen)
{
	struct perf_event_attr attr;

	hwbp_move_attr(&attr, bp, p, gen);
	for (int i = 0; i < bp->nfds; i++)
		if (bp->fds[i] >= 0 &&
		    ioctl(bp->fds[i], PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &attr))
			return -errno;
	return 0;
}

/*
 * One event at a time: open the new one before closing the old (so the
 * registers never go unwatched), or, when no register is free, close first.
 * Allocates nothing: async-signal-safe for thread scopes.
 */
static int swap_one(struct hwbp *bp, int i, const struct hwbp_place *p,
		    uint32_t gen, const struct hwbp_place *old, uint32_t old_gen)
{
	int group = hwbp_aux_fd(bp->fd_aux[i]);
	int fd, err = open_one(bp, p, gen, bp->fd_tids[i], bp->fd_cpus[i],
			       group, &fd);

	if (err == -ENOSPC) {
		close_counted(bp, bp->fds[i]);
		err = open_one(bp, p, gen, bp->fd_tids[i], bp->fd_cpus[i],
			       group, &fd);
		if (err && !open_one(bp, old, old_gen, bp->fd_tids[i],
				     bp->fd_cpus[i], group, &bp->fds[i]))
			return err;
		if (err)
			bp->fds[i] = -1;
	} else if (!err) {
		close_counted(bp, bp->fds[i]);
	}
	if (!err)
		bp->fds[i] = fd;
	return err;
}

/* The threads a reopened process scope covers now (companion hits). */
static void update_cover(const struct hwbp *bp)
{
	if (bp->slot >= 0)
		hwbp_slot_cover(bp->slot, bp);
}

static int reopen_all(struct hwbp *bp, const struct hwbp_place *p, uint32_t gen)
{
	struct hwbp_place old = bp->req.place;
	uint32_t old_gen = atomic_load(&bp->generation);
	int err = 0;

	atomic_fetch_add(&bp->reopens, 1);
	if (bp->req.scope == HWBP_SCOPE_PROCESS) {
		/* Inherited copies die with their parent event: open anew so
		 * the threads created since are covered again. */
		hwbp_events_close(bp);
		bp->req.place = *p;
		atomic_store(&bp->generation, gen);
		err = hwbp_events_open(bp);
		if (err) {
			int saved = err;

			bp->req.place = old;
			atomic_store(&bp->generation, old_gen);
			hwbp_events_open(bp);
			update_cover(bp);
			return saved;
		}
		update_cover(bp);
		return 0;
	}
	for (int i = 0; i < bp->nfds && !err; i++)
		err = swap_one(bp, i, p, gen, &old, old_gen);
	return err;
}

/* The kernel said the ioctl does not exist or does not apply here. */
static bool modify_unsupported(int err)
{
	return err == -ENOTTY || err == -EINVAL || err == -EOPNOTSUPP;
}

int hwbp_events_move(struct hwbp *bp, const struct hwbp_place *p, uint32_t gen)
{
	int err;

	if (bp->req.rearm == HWBP_REARM_REOPEN || bp->modify_refused)
		return reopen_all(bp, p, gen);
	err = modify_all(bp, p, gen);
	if (!err || bp->req.rearm == HWBP_REARM_MODIFY) {
		if (err)
			return hwbp_fail(-err, "PERF_EVENT_IOC_MODIFY_ATTRIBUTES "
					 "refused (needs kernel >= 4.17): %s; "
					 "use HWBP_REARM_AUTO to fall back",
					 strerror(-err));
		return 0;
	}
	if (modify_unsupported(err))
		bp->modify_refused = true;
	return reopen_all(bp, p, gen);
}

/* ---- why the kernel said no ---- */

static int read_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
	int v = -99;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -99;
		fclose(f);
	}
	return v;
}

static int explain_privilege(int err, const struct hwbp *bp,
			     const struct hwbp_place *p, pid_t tid)
{
	int par = read_paranoid();

	if (par >= 3)
		return hwbp_fail(err, "perf_event_paranoid is %d: this kernel "
				 "forbids perf_event_open to unprivileged users "
				 "(sysctl kernel.perf_event_paranoid=2, or "
				 "CAP_PERFMON)", par);
	if (bp->req.scope == HWBP_SCOPE_CPUS)
		return hwbp_fail(err, "CPU-wide breakpoints need CAP_PERFMON "
				 "(or CAP_SYS_ADMIN) or perf_event_paranoid "
				 "<= 0 (now %d)", par);
	if (bp->req.kernel || p->addr >= hwbp_arch.user_top)
		return hwbp_fail(err, "kernel accesses at 0x%llx need "
				 "CAP_PERFMON (or CAP_SYS_ADMIN) or "
				 "perf_event_paranoid <= 1 (now %d)",
				 (unsigned long long)p->addr, par);
	return hwbp_fail(err, "no permission to watch thread %d: it needs "
			 "ptrace access (same user, kernel.yama.ptrace_scope, "
			 "or CAP_SYS_PTRACE)", (int)tid);
}

int hwbp_explain_open_error(int err, const struct hwbp *bp,
			    const struct hwbp_place *p, pid_t tid, int cpu)
{
	unsigned long long a = (unsigned long long)p->addr;

	/* In a hit callback: no registry lock (the interrupted thread may
	 * hold it) and no stdio; the errno says what happened. */
	if (hwbp_in_handler())
		return hwbp_fail(err, "perf_event_open refused the re-armed "
				 "breakpoint (in a hit callback: see the errno)");
	switch (err) {
	case ENOSPC: {
		int ours = hwbp_count_self_bps_on(tid);

		return hwbp_fail(ENOSPC, "no free debug register for %s at "
				 "0x%llx on %s %d: the CPU has %d per thread and "
				 "all are taken (%d by hwbp breakpoints of this "
				 "process, the rest by others: a debugger, "
				 "perf)", hwbp_access_name(p->access), a,
				 tid > 0 ? "thread" : "CPU", tid > 0 ? tid : cpu,
				 hwbp_probe_cached(NULL), ours);
	}
	case EACCES:
	case EPERM:
		return explain_privilege(err, bp, p, tid);
	case ESRCH:
		return hwbp_fail(ESRCH, "no thread %d (exited, or never "
				 "existed)", (int)tid);
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
		if (cpu >= 0 && err == ENODEV)
			return hwbp_fail(ENODEV, "CPU %d is offline", cpu);
		return hwbp_fail(ENOSYS, "this kernel has no breakpoint PMU "
				 "(CONFIG_HAVE_HW_BREAKPOINT): %s",
				 strerror(err));
	case EMFILE:
	case ENFILE:
		return hwbp_fail(err, "out of file descriptors (ulimit -n): a "
				 "breakpoint needs one per thread or CPU it "
				 "covers");
	case EINVAL:
		if (sync_signal(bp))
			return hwbp_fail(EINVAL, "the kernel rejected %s len %u "
					 "at 0x%llx with sigtrap (synchronous "
					 "signals need kernel >= 5.13)",
					 hwbp_access_name(p->access), p->len, a);
		return hwbp_fail(EINVAL, "the kernel rejected %s len %u at "
				 "0x%llx%s", hwbp_access_name(p->access), p->len,
				 a, kernel_refusal(p));
	}
	return hwbp_fail(err, "perf_event_open(%s len %u at 0x%llx, tid %d, "
			 "cpu %d): %s", hwbp_access_name(p->access), p->len, a,
			 (int)tid, cpu, strerror(err));
}
