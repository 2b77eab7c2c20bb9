/* SPDX-License-Identifier: MIT */
/*
 * watch.c - `hwbp watch`: watch each location on the target through
 * libhwbp's scheduler (process scope, following threads and children,
 * ring-buffer delivery with the user registers and callchain sampled at
 * each hit; more locations than registers share them by --policy), then
 * read the rings, put the hits of all CPUs in time order (the value chain
 * of a location depends on it), and print them.  --count and --cpu use one
 * plain breakpoint per location (counted by the kernel).  Ends when the
 * target exits, on SIGINT/SIGTERM, or after --max hits, with a summary.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define MAX_BT 64
#define NREGS 18 /* popcount(SAMPLED_REGS_MASK) */

struct pending {
	uint64_t time_ns, ip, addr;
	uint32_t pid, tid, cpu;
	int loc;
	bool has_regs;
	uint64_t regs[NREGS];
	uint32_t nchain;
	uint64_t chain[MAX_BT];
	int nbr;                       /* --branches: decoded at collection */
	struct branch br[MAX_BRANCHES]; /* oldest first */
};

struct thread_name {
	pid_t tid;
	char name[32];
};

struct watch;
struct loc_ctx { /* the cookie of a location's breakpoint */
	struct watch *w;
	int idx;
	uint64_t records; /* hit records read from its ring */
};

struct watch {
	const struct watch_cfg *cfg;
	struct loc_ctx *ctx;
	struct target target;
	struct syms *syms;
	struct values *values;
	struct location *locs;
	struct hwbp **bps;            /* --count / --cpu: one per location */
	struct hwbp_sched *sched;     /* otherwise: the scheduler ... */
	struct hwbp_watch **watches;  /* ... and a watch per location */
	struct hwbp_sched_stats before; /* counted before the last read */
	struct coverage *cov;
	struct loc_ctx task_ctx;      /* the scheduler's task records */
	bool shared;                  /* locations take turns on registers */
	struct value_chain *chains;
	struct pending *pend;
	size_t npend, cap_pend;
	struct summary sum;
	struct thread_name *names;
	int nnames;
	struct switch_hist *switches; /* --switches */
	struct out out;
	uint64_t start_ns;
	bool stop, oom;
	bool ring_added;   /* every armed ring fd is in the epoll set */
	char msg[1024];
};

/* ---- thread names: from /proc at first sight, then the kernel's COMM and
 * FORK records, so a thread that has exited by the time its hits are
 * printed still has its name ---- */

static struct thread_name *name_slot(struct watch *w, pid_t tid)
{
	struct thread_name *t;

	for (int i = 0; i < w->nnames; i++)
		if (w->names[i].tid == tid)
			return &w->names[i];
	t = realloc(w->names, (w->nnames + 1) * sizeof(*t));
	if (!t)
		return NULL;
	w->names = t;
	t = &w->names[w->nnames++];
	t->tid = tid;
	t->name[0] = '\0';
	return t;
}

static void read_comm(pid_t pid, pid_t tid, char *name, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	f = fopen(path, "r");
	if (f) {
		if (fgets(name, (int)len, f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
	}
}

static const char *thread_name(struct watch *w, pid_t pid, pid_t tid)
{
	struct thread_name *t = name_slot(w, tid);

	if (!t)
		return "?";
	if (!t->name[0])
		read_comm(pid, tid, t->name, sizeof(t->name));
	return t->name[0] ? t->name : "?";
}

static void task_record(struct watch *w, const struct hwbp_record *r)
{
	struct thread_name *t = name_slot(w, (pid_t)r->tid), *parent;

	if (!t)
		return;
	if (r->kind == HWBP_REC_COMM)
		snprintf(t->name, sizeof(t->name), "%s", r->comm);
	else if (r->kind == HWBP_REC_FORK && !t->name[0] &&
		 (parent = name_slot(w, (pid_t)r->ptid))) {
		/* A new task starts with its creator's name. */
		if (!parent->name[0])
			read_comm((pid_t)r->ppid, (pid_t)r->ptid, parent->name,
				  sizeof(parent->name));
		snprintf(w->names[t - w->names].name, sizeof(t->name), "%s",
			 parent->name);
	}
}

static size_t read_code(uint64_t addr, void *buf, size_t len, void *ctx)
{
	return syms_read_code(ctx, addr, buf, len);
}

/* --branches: the hit's trace into its last taken branches, now (the
 * record's bytes are gone after this callback). */
static void collect_branches(struct watch *w, const struct hwbp_record *r,
			     struct pending *p)
{
	int n = 0;

	if (w->cfg->branches && r->aux_format == HWBP_AUX_INTEL_PT)
		n = pt_branches(r->aux, r->aux_size, read_code, w->syms,
				p->br, MAX_BRANCHES);
	p->nbr = n > 0 ? n : 0;
}

/* ---- collecting records (hwbp_ring_poll calls this) ---- */

static void collect(const struct hwbp_record *r, void *cookie)
{
	const struct loc_ctx *ctx = cookie;
	struct watch *w = ctx->w;
	struct pending *p;

	if (r->kind == HWBP_REC_SWITCH) {
		if (w->switches)
			swh_add(w->switches, r);
		return;
	}
	if (r->kind != HWBP_REC_HIT) {
		task_record(w, r);
		return;
	}
	((struct loc_ctx *)cookie)->records++;

	if (w->npend == w->cap_pend) {
		size_t cap = w->cap_pend ? w->cap_pend * 2 : 256;
		struct pending *np = realloc(w->pend, cap * sizeof(*np));

		if (!np) {
			w->oom = true;
			w->sum.lost++;
			return;
		}
		w->pend = np;
		w->cap_pend = cap;
	}
	p = &w->pend[w->npend++];
	p->time_ns = r->time_ns;
	p->ip = r->ip;
	p->addr = r->addr;
	p->pid = r->pid;
	p->tid = r->tid;
	p->cpu = r->cpu;
	p->loc = ctx->idx;
	p->has_regs = r->regs && r->regs_mask == SAMPLED_REGS_MASK;
	if (p->has_regs)
		memcpy(p->regs, r->regs, sizeof(p->regs));
	p->nchain = r->nr_callchain < MAX_BT ? r->nr_callchain : MAX_BT;
	if (p->nchain)
		memcpy(p->chain, r->callchain, p->nchain * sizeof(uint64_t));
	collect_branches(w, r, p);
}

static int by_time(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

/* ---- per-hit processing ---- */

static void count_location(struct watch *w, const struct location *loc,
			   const struct code_loc *where, uint64_t ip)
{
	char key[1024];
	struct loc_count *l;

	if (where->function[0] && where->file[0])
		snprintf(key, sizeof(key), "%s+%" PRIu64 " (%s:%d)",
			 where->function, where->offset, where->file,
			 where->line);
	else if (where->function[0])
		snprintf(key, sizeof(key), "%s+%" PRIu64, where->function,
			 where->offset);
	else
		snprintf(key, sizeof(key), "0x%" PRIx64, ip);
	for (int i = 0; i < w->sum.nloc; i++)
		if (w->sum.by_loc[i].location == loc->name &&
		    !strcmp(w->sum.by_loc[i].key, key)) {
			w->sum.by_loc[i].hits++;
			return;
		}
	l = realloc(w->sum.by_loc, (w->sum.nloc + 1) * sizeof(*l));
	if (!l)
		return;
	w->sum.by_loc = l;
	l = &l[w->sum.nloc++];
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->where = *where;
	l->location = loc->name;
	l->hits = 1;
}

static void count_thread(struct watch *w, pid_t tid, const char *name)
{
	struct thread_count *t;

	for (int i = 0; i < w->sum.nthread; i++)
		if (w->sum.by_thread[i].tid == tid) {
			w->sum.by_thread[i].hits++;
			return;
		}
	t = realloc(w->sum.by_thread, (w->sum.nthread + 1) * sizeof(*t));
	if (!t)
		return;
	w->sum.by_thread = t;
	t = &t[w->sum.nthread++];
	t->tid = tid;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->hits = 1;
}

/* Callers from the sampled callchain (frame pointers). */
static int backtrace_of(struct watch *w, const struct pending *p,
			struct frame *bt)
{
	int n = 0;
	bool first = true;

	for (uint32_t i = 0; i < p->nchain && n < MAX_BT; i++) {
		uint64_t ip = p->chain[i];

		if (ip >= (uint64_t)-4095) /* PERF_CONTEXT_* markers */
			continue;
		if (first) { /* the hit's own IP: shown on the hit line */
			first = false;
			continue;
		}
		bt[n].ip = ip;
		/* A return address is after its call: look up the call. */
		syms_describe(w->syms, ip - 1, &bt[n].where);
		n++;
	}
	return n;
}

static bool type_signed(const struct vtype *t)
{
	return t->kind == V_SIGNED || t->kind == V_CHAR || t->kind == V_ENUM;
}

/* --switches: the runs that ended on the hit's CPU before it, named. */
static int ran_before(struct watch *w, const struct pending *p,
		      struct ran_before *ran)
{
	int n = swh_before(w->switches, p->cpu, p->time_ns, ran,
			   MAX_RAN_BEFORE);

	for (int i = 0; i < n; i++)
		snprintf(ran[i].thread, sizeof(ran[i].thread), "%s",
			 thread_name(w, ran[i].pid, ran[i].tid));
	return n;
}

/* --branches: the decoded branches described, latest first. */
static int branches_of(struct watch *w, const struct pending *p,
		       struct branch_where *out)
{
	for (int i = 0; i < p->nbr; i++) {
		const struct branch *b = &p->br[p->nbr - 1 - i];

		out[i].from = b->from;
		out[i].to = b->to;
		syms_describe(w->syms, b->from, &out[i].from_w);
		syms_describe(w->syms, b->to, &out[i].to_w);
	}
	return p->nbr;
}

static void process(struct watch *w, const struct pending *p)
{
	struct branch_where br[MAX_BRANCHES];
	const struct location *loc = &w->locs[p->loc];
	struct hit_event e = { 0 };
	struct ran_before ran[MAX_RAN_BEFORE];
	struct frame bt[MAX_BT];
	struct access acc = { 0 };
	uint64_t code_ip = p->ip;

	e.time_ns = p->time_ns > w->start_ns ? p->time_ns - w->start_ns : 0;
	e.pid = (pid_t)p->pid;
	e.tid = (pid_t)p->tid;
	e.loc = loc;
	e.addr = p->addr;
	e.access = hwbp_access_name(loc->access);
	if (loc->access != HWBP_EXEC && p->ip < 0x0000800000000000ull) {
		values_decode(w->values, p->ip, &acc);
		if (acc.decoded) {
			code_ip = acc.insn_addr;
			if (loc->access == HWBP_RW || loc->access == HWBP_READ)
				e.access = acc.reads && acc.writes ? "rmw" :
					   acc.writes ? "write" : "read";
		}
		if (!acc.decoded || acc.writes) {
			values_apply(w->values, p->ip, p->has_regs ? p->regs : NULL,
				     loc->addr, loc->len, &w->chains[p->loc],
				     target_read, &w->target, &e.val);
			/* Taking turns, a location misses the writes made
			 * while it waits: the old value may be stale. */
			if (w->shared && e.val.old_q == VQ_EXACT)
				e.val.old_q = VQ_APPROX;
			e.has_values = true;
		} else {
			/* A read sees the value the chain holds. */
			memcpy(&e.val.new_value, w->chains[p->loc].bytes, 8);
			e.val.new_value &= loc->len >= 8 ? ~0ull
						: (1ull << (loc->len * 8)) - 1;
			e.val.new_q = w->chains[p->loc].quality;
			e.has_read = true;
		}
		/* --read: a plain write moved the chain on; not shown. */
		if (loc->access == HWBP_READ && acc.decoded && acc.writes &&
		    !acc.reads) {
			w->sum.writes_dropped++;
			return;
		}
	}
	if (w->cfg->has_cond && (!(e.has_values || e.has_read) ||
				 e.val.new_q == VQ_NONE ||
				 !cond_eval(&w->cfg->cond, e.val.new_value,
					    loc->len, type_signed(&loc->type)))) {
		w->sum.filtered++;
		return;
	}
	syms_describe(w->syms, code_ip, &e.where);
	e.thread = thread_name(w, e.pid, e.tid);
	if (w->cfg->bt) {
		e.nbt = backtrace_of(w, p, bt);
		e.bt = bt;
	}
	if (w->switches) {
		e.nran = ran_before(w, p, ran);
		e.ran = ran;
	}
	if (w->cfg->branches) {
		e.nbr = branches_of(w, p, br);
		e.br = br;
	}
	out_hit(&w->out, &e);
	w->sum.hits++;
	count_location(w, loc, &e.where, code_ip);
	count_thread(w, e.tid, e.thread);
	if (w->cfg->max && w->sum.hits >= w->cfg->max)
		w->stop = true;
}

/*
 * Read every ring, then process in time order only the hits stamped before
 * the read began: a later one may still have an earlier-stamped sibling on a
 * ring already read, and each location's value chain needs the true order.
 * The rest wait for the next round (or are taken all when `final`).
 */
static void drain(struct watch *w, bool final)
{
	uint64_t cutoff = final ? UINT64_MAX : now_ns();
	size_t done = 0;

	if (w->sched)
		hwbp_sched_consume(w->sched);
	for (int i = 0; i < w->cfg->nlocs; i++)
		if (w->bps[i] && !w->cfg->count)
			hwbp_ring_consume(w->bps[i]);
	if (w->npend) /* (pend is NULL before the first hit) */
		qsort(w->pend, w->npend, sizeof(*w->pend), by_time);
	for (; done < w->npend && w->pend[done].time_ns < cutoff; done++) {
		if (w->cfg->max && w->sum.hits >= w->cfg->max)
			continue; /* --max reached: the rest are not shown */
		process(w, &w->pend[done]);
	}
	if (done && done < w->npend)
		memmove(w->pend, w->pend + done,
			(w->npend - done) * sizeof(*w->pend));
	w->npend -= done;
	if (w->switches)
		swh_prune(w->switches, cutoff);
}

/* ---- arming ---- */

/* Records per wakeup: a quarter of the ring, at ~200 bytes a record. */
static uint32_t wakeup_batch(uint32_t ring_pages)
{
	uint32_t records = (ring_pages ? ring_pages : 64) * 4096u / 200u / 4u;

	return records ? records : 1;
}

static bool use_sched(const struct watch *w)
{
	return !w->cfg->count && !w->cfg->ncpus;
}

/* Registers the locations need (an unresolved one: at least 1). */
static int registers_needed(const struct watch *w)
{
	int n = 0;

	for (int i = 0; i < w->cfg->nlocs; i++) {
		const struct location *l = &w->locs[i];
		int k = l->resolved && l->access != HWBP_EXEC ?
			hwbp_range_split(l->addr, l->len, 0, NULL, 0) : 1;

		n += k > 0 ? k : 1;
	}
	return n;
}

static void ring_opts(const struct watch *w, struct hwbp_opts *o)
{
	const struct watch_cfg *c = w->cfg;

	o->delivery = HWBP_DELIVER_RING;
	o->on_record = collect;
	o->sample = HWBP_SAMPLE_REGS | (c->bt ? HWBP_SAMPLE_CALLCHAIN : 0);
	o->regs_mask = SAMPLED_REGS_MASK;
	o->ring_pages = c->ring_pages;
	/* Wake the reader every quarter ring, not every hit (a wakeup per
	 * hit doubled the cost of a hit); a slow trickle is still read
	 * within the loop's 100 ms tick. */
	o->wakeup_events = wakeup_batch(c->ring_pages);
	o->kernel = c->kernel;
	o->no_follow = !c->follow;
	o->task_events = true;
	o->switch_events = c->switches;
	if (c->branches)
		o->sample |= HWBP_SAMPLE_BRANCHES;
	if (c->tid) {
		o->scope = HWBP_SCOPE_THREAD;
		o->pid = c->tid;
	} else {
		o->scope = HWBP_SCOPE_PROCESS;
		o->pid = w->target.pid;
	}
}

static int start_sched(struct watch *w)
{
	const struct watch_cfg *c = w->cfg;
	HWBP_OPTS(hwbp_probe, pr);
	HWBP_OPTS(hwbp_opts, bo);
	HWBP_OPTS(hwbp_sched_opts, so, .quantum_us = c->quantum_us,
		  .seed = (uint64_t)getpid(), .bp_opts = &bo,
		  .on_record = collect);

	ring_opts(w, &bo);
	w->task_ctx = (struct loc_ctx){ w, -1, 0 };
	bo.cookie = &w->task_ctx;
	hwbp_probe(&pr);
	so.policy = c->policy_set ? c->policy :
		    registers_needed(w) <= pr.slots ? HWBP_POLICY_PINNED
						    : HWBP_POLICY_RR;
	w->shared = so.policy != HWBP_POLICY_PINNED;
	if (hwbp_sched_create(&w->sched, &so)) {
		snprintf(w->msg, sizeof(w->msg), "cannot share the debug "
			 "registers: %s", hwbp_last_error());
		return EXIT_RUNTIME;
	}
	return 0;
}

/* --read is armed read-write: the writes keep the value chain exact and
 * are left out of the output here. */
static int arm_watch(struct watch *w, int i)
{
	struct location *loc = &w->locs[i];
	enum hwbp_access access = loc->access == HWBP_READ ? HWBP_RW
							   : loc->access;
	int err = w->sched ? 0 : start_sched(w);

	if (err)
		return err;
	w->ctx[i] = (struct loc_ctx){ w, i, 0 };
	if (hwbp_sched_add(w->sched, loc->addr, loc->len, access, &w->ctx[i],
			   &w->watches[i])) {
		snprintf(w->msg, sizeof(w->msg), "cannot watch %s (0x%" PRIx64
			 ", %u bytes, %s): %s", loc->name, loc->addr, loc->len,
			 hwbp_access_name(loc->access), hwbp_last_error());
		return EXIT_RUNTIME;
	}
	return 0;
}

/* --count and --cpu: one breakpoint per location, counted by the kernel
 * or (--cpu) read from its own rings. */
static int arm(struct watch *w, int i)
{
	const struct watch_cfg *c = w->cfg;
	struct location *loc = &w->locs[i];
	cpu_set_t set;
	HWBP_OPTS(hwbp_opts, o, .cookie = &w->ctx[i]);
	int err;

	if (use_sched(w))
		return arm_watch(w, i);
	ring_opts(w, &o);
	o.task_events = false;
	o.switch_events = c->switches && i == 0; /* one ring set has them */
	if (c->count)
		o.delivery = HWBP_DELIVER_COUNT;
	CPU_ZERO(&set);
	for (int k = 0; k < c->ncpus; k++)
		CPU_SET(c->cpus[k], &set);
	if (c->ncpus) {
		o.scope = HWBP_SCOPE_CPUS;
		o.cpus = &set;
		o.cpus_size = sizeof(set);
	}
	w->ctx[i] = (struct loc_ctx){ w, i, 0 };
	err = hwbp_create(&w->bps[i], loc->addr, loc->len, loc->access, &o);
	if (err) {
		w->bps[i] = NULL;
		snprintf(w->msg, sizeof(w->msg), "cannot watch %s (0x%" PRIx64
			 ", %u bytes, %s): %s%s", loc->name, loc->addr,
			 loc->len, hwbp_access_name(loc->access),
			 hwbp_last_error(), err != -ENOSPC ? "" :
			 " (--count and --cpu take a register per location; "
			 "without --count the locations share the registers)");
		return EXIT_RUNTIME;
	}
	return 0;
}

/* ---- the loop ---- */

static void arm_pending(struct watch *w);

int block_stop_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, old);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void on_signal(struct watch *w, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			/* the guard's stops first (target.c), then exits */
			target_handle_events(&w->target);
			if (target_poll_exit(&w->target, false))
				w->stop = true;
			continue;
		}
		w->stop = true;
		/* Ask a program we started to end too, as perf record does. */
		if (w->target.launched && !w->target.exited)
			kill(w->target.pid, SIGTERM);
	}
}

static void loop(struct watch *w, int sfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	if (w->target.pidfd >= 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, w->target.pidfd, &ev);
	while (!w->stop) {
		struct epoll_event got[8];

		if (!w->ring_added) {
			/* EEXIST for rings already in the set: harmless. */
			if (w->sched)
				epoll_ctl(ep, EPOLL_CTL_ADD,
					  hwbp_sched_fd(w->sched), &ev);
			for (int i = 0; i < w->cfg->nlocs; i++)
				if (w->bps[i] && !w->cfg->count)
					epoll_ctl(ep, EPOLL_CTL_ADD,
						  hwbp_ring_fd(w->bps[i]), &ev);
			w->ring_added = true;
		}

		/* Whatever woke us, look at everything: cheap, and simple. */
		epoll_wait(ep, got, 8, 100);
		on_signal(w, sfd);
		if (w->target.pid && target_poll_exit(&w->target, false))
			w->stop = true;
		drain(w, false);
		arm_pending(w);
		if (w->out.broken)
			w->stop = true;
	}
	close(ep);
	/* Stop counting before the last read, so the kernel's counts and
	 * the records describe the same hits (count_lost compares them);
	 * the scheduler's counts are taken before it: records read after
	 * can only shrink the difference. */
	for (int i = 0; i < w->cfg->nlocs && !w->cfg->count; i++)
		if (w->bps[i])
			hwbp_disable(w->bps[i]);
	w->before.sz = sizeof(w->before);
	if (w->sched)
		hwbp_sched_get_stats(w->sched, &w->before);
	drain(w, true);
}

static void cleanup(struct watch *w)
{
	for (int i = 0; i < w->cfg->nlocs; i++) {
		hwbp_close(w->bps[i]);
		free(w->locs[i].type.enums);
	}
	hwbp_sched_close(w->sched);
	free(w->watches);
	free(w->cov);
	free(w->bps);
	free(w->ctx);
	free(w->locs);
	free(w->chains);
	free(w->pend);
	free(w->names);
	swh_free(w->switches);
	free(w->sum.by_loc);
	free(w->sum.by_thread);
	values_free(w->values);
	syms_close(w->syms);
}

/* Is tid a thread of pid?  (--tid of another process would watch it.) */
static bool thread_of(pid_t pid, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	return access(path, F_OK) == 0;
}

static int start_target(struct watch *w)
{
	const struct watch_cfg *c = w->cfg;

	if (c->cmd)
		return target_launch(c->cmd, false, &w->target, w->msg,
				     sizeof(w->msg));
	if (c->pid) {
		int err = target_attach(c->pid, &w->target, w->msg,
					sizeof(w->msg));

		if (!err && c->tid && !thread_of(c->pid, c->tid)) {
			snprintf(w->msg, sizeof(w->msg), "--tid %d: process %d "
				 "has no such thread", (int)c->tid, (int)c->pid);
			return EXIT_RUNTIME;
		}
		return err;
	}
	w->target.pidfd = -1;
	return 0;
}

static int resolve_all(struct watch *w)
{
	const struct watch_cfg *c = w->cfg;
	int err = syms_open(&w->syms, w->target.pid, c->kernel);

	if (err) {
		snprintf(w->msg, sizeof(w->msg), "cannot read symbols: %s",
			 strerror(-err));
		return EXIT_RUNTIME;
	}
	w->values = values_new(w->syms);
	if (!w->values)
		return EXIT_RUNTIME;
	for (int pass = 0; pass < 2; pass++) {
		int pending = 0;

		for (int i = 0; i < c->nlocs; i++) {
			if (w->locs[i].resolved)
				continue;
			err = syms_resolve(w->syms, c->locs[i], c->access,
					   &w->locs[i], w->msg, sizeof(w->msg));
			if (err == RESOLVE_PENDING)
				pending++;
			else if (err)
				return err;
		}
		/* lib.so:name before lib.so is mapped: run to the entry
		 * point, where the libraries it needs are; later, dlopen. */
		if (!pending || pass || !w->target.launched)
			return 0;
		err = target_run_to_entry(&w->target, w->msg, sizeof(w->msg));
		if (err)
			return err;
		syms_refresh(w->syms);
	}
	return 0;
}

/* Libraries loaded since: resolve and arm what waited for them. */
static void arm_pending(struct watch *w)
{
	bool refreshed = false;

	for (int i = 0; i < w->cfg->nlocs; i++) {
		if (w->locs[i].resolved)
			continue;
		if (!refreshed) {
			syms_refresh(w->syms);
			refreshed = true;
		}
		if (syms_resolve(w->syms, w->cfg->locs[i], w->cfg->access,
				 &w->locs[i], w->msg, sizeof(w->msg)))
			continue;
		if (arm(w, i) == 0) {
			target_read(w->locs[i].addr, w->chains[i].bytes,
				    w->locs[i].len, &w->target);
			w->chains[i].quality = VQ_APPROX;
			w->ring_added = false;
		} else {
			fprintf(stderr, "hwbp: %s\n", w->msg);
			w->locs[i].resolved = false;
		}
	}
}

static void read_initial_values(struct watch *w)
{
	for (int i = 0; i < w->cfg->nlocs; i++) {
		struct value_chain *ch = &w->chains[i];

		if (target_read(w->locs[i].addr, ch->bytes, w->locs[i].len,
				&w->target))
			/* Stopped at exec: nothing runs, the value is exact. */
			ch->quality = w->target.launched ? VQ_EXACT : VQ_APPROX;
	}
}

/*
 * Hits the rings did not deliver.  The kernel's LOST records and drop
 * counters say most; the exact count of hits (read() of the events) says
 * the rest: whatever it counted beyond the records read and the drops
 * reported was lost too (e.g. sampling throttled), and is counted, not
 * hidden.
 */
static void account_sched(struct watch *w)
{
	HWBP_OPTS(hwbp_sched_stats, now);
	uint64_t seen;

	if (hwbp_sched_get_stats(w->sched, &now))
		return;
	seen = now.records + now.lost;
	w->sum.lost += now.lost +
		       (w->before.counted > seen ? w->before.counted - seen : 0);
	w->cov = calloc((size_t)w->cfg->nlocs, sizeof(*w->cov));
	for (int i = 0; i < w->cfg->nlocs; i++) {
		HWBP_OPTS(hwbp_watch_stats, st);

		if (!w->watches[i] || hwbp_watch_get_stats(w->watches[i], &st))
			continue;
		w->sum.strays += st.strays;
		if (w->cov && st.armed_ns < st.total_ns)
			w->cov[w->sum.ncov++] = (struct coverage){
				w->locs[i].name, st.armed_ns, st.total_ns };
	}
	w->sum.cov = w->cov;
}

static void count_lost(struct watch *w)
{
	HWBP_OPTS(hwbp_stats, st);

	if (w->sched)
		account_sched(w);
	for (int i = 0; i < w->cfg->nlocs && !w->cfg->count; i++) {
		uint64_t hits = 0, seen;

		if (!w->bps[i] || hwbp_get_stats(w->bps[i], &st))
			continue;
		seen = w->ctx[i].records + st.lost;
		if (!hwbp_read_count(w->bps[i], &hits) && hits > seen)
			st.lost += hits - seen;
		w->sum.lost += st.lost;
	}
}

static void finish(struct watch *w)
{
	uint64_t *counts = NULL;

	if (w->cfg->count) {
		counts = calloc((size_t)w->cfg->nlocs, sizeof(*counts));
		for (int i = 0; counts && i < w->cfg->nlocs; i++) {
			if (w->bps[i])
				hwbp_read_count(w->bps[i], &counts[i]);
			w->sum.hits += counts[i];
		}
		w->sum.counts = counts;
	}
	for (int i = 0; i < w->cfg->nlocs; i++) {
		if (!w->locs[i].resolved)
			fprintf(stderr, "hwbp: %s was never loaded: not watched\n",
				w->cfg->locs[i]);
	}
	w->sum.locs = w->locs;
	w->sum.nlocs = w->cfg->nlocs;
	w->sum.wall_ns = now_ns() - w->start_ns;
	out_summary(&w->out, stderr, &w->sum);
	free(counts);
	w->sum.counts = NULL;
}

/* Say it before the run, not after a silent one: on some hypervisors the
 * kernel arms breakpoints that never trap. */
void warn_if_no_traps(void)
{
	HWBP_OPTS(hwbp_probe, pr);

	if (hwbp_probe(&pr) == 0 && pr.breakpoints && !pr.fires)
		fprintf(stderr, "hwbp: warning: debug registers do not fire on "
			"this machine: the kernel arms the watchpoints but the "
			"hypervisor never delivers a trap, so no hit can be "
			"seen (see 'hwbp probe')\n");
}

/* --branches where the probe says no: its reason, and exit 1. */
static int check_branches(struct watch *w)
{
	HWBP_OPTS(hwbp_probe, pr);
	char text[4096], *line, *end;

	if (!w->cfg->branches || (hwbp_probe(&pr) == 0 && pr.branches))
		return 0;
	if (hwbp_probe_explain(text, sizeof(text)) < 0 ||
	    !(line = strstr(text, "branch records")))
		line = "branch records    no";
	else if ((end = strchr(line, '\n')))
		*end = '\0';
	line += strspn(line + strlen("branch records"), " ") +
		strlen("branch records");
	snprintf(w->msg, sizeof(w->msg), "--branches: this machine cannot "
		 "record the branches before a hit: %s", line);
	return EXIT_RUNTIME;
}

int watch_run(const struct watch_cfg *c)
{
	struct watch w = { .cfg = c, .out = { .f = c->out, .json = c->json } };
	sigset_t old;
	int sfd = block_stop_signals(&old), rc;

	w.locs = calloc((size_t)c->nlocs, sizeof(*w.locs));
	w.bps = calloc((size_t)c->nlocs, sizeof(*w.bps));
	w.watches = calloc((size_t)c->nlocs, sizeof(*w.watches));
	w.ctx = calloc((size_t)c->nlocs, sizeof(*w.ctx));
	w.chains = calloc((size_t)c->nlocs, sizeof(*w.chains));
	if (c->switches)
		w.switches = swh_new();
	rc = check_branches(&w);
	if (!rc)
		rc = start_target(&w);
	if (!rc)
		rc = resolve_all(&w);
	for (int i = 0; !rc && i < c->nlocs; i++)
		if (w.locs[i].resolved)
			rc = arm(&w, i);
	if (rc) {
		fprintf(stderr, "hwbp: %s\n", w.msg);
		if (w.target.launched && !w.target.exited) {
			kill(w.target.pid, SIGKILL);
			waitpid(w.target.pid, NULL, 0);
		}
		cleanup(&w);
		return rc;
	}
	warn_if_no_traps();
	read_initial_values(&w);
	if (w.target.pid)
		(void)thread_name(&w, w.target.pid, w.target.pid);
	w.start_ns = now_ns();
	if (w.target.launched)
		target_resume(&w.target);
	loop(&w, sfd);
	/* Disarm first: the target goes on with no breakpoint left (the
	 * drops are counted before the handles go). */
	count_lost(&w);
	hwbp_sched_close(w.sched);
	w.sched = NULL;
	for (int i = 0; i < c->nlocs && !c->count; i++) {
		hwbp_close(w.bps[i]);
		w.bps[i] = NULL;
	}
	finish(&w);
	if (w.target.launched)
		target_poll_exit(&w.target, true);
	rc = target_exit_code(&w.target);
	cleanup(&w);
	target_release(&w.target); /* attached: nothing armed now, let go */
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
