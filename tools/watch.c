/* SPDX-License-Identifier: MIT */
/*
 * watch.c - `hwbp watch`, the control thread: start or attach to the
 * target, resolve and arm each location (libhwbp's scheduler: process
 * scope, following threads and children, ring delivery with the sampled
 * registers; more locations than registers share them by --policy; --count
 * and --cpu keep a plain breakpoint per location; locations whose
 * registers would start at one address share one, share.c; pointer paths
 * move with --follow-pointers, follow.c), start the readers
 * (stream.c: a thread per CPU moving records out of the rings) and the
 * processor (hits.c: decoding, values, names, output, in time order), then
 * wait for the end: the target exits, SIGINT/SIGTERM, --max hits, or the
 * output closed.  Losses are counted from the kernel's own counters and
 * reported on stderr as well as in the output.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

#define MAX_RINGS 1024
/* Each CPU's ring holds what its reader may have to catch up on: ~10,000
 * records (2 MiB) by default; where mlock limits refuse it, less. */
#define DEFAULT_RING_PAGES 512
#define MIN_RING_PAGES 8
/* Per CPU, a share of 128 MiB between 16 and 64 MiB: 16 MiB (~2,000
 * records) lost 457-4,385 of 160,000 hits of 16 threads on 2 vCPUs whose
 * readers the host held off for tens of ms; 32 and 64 MiB lost none. */
#define BT_RING_PAGES 4096
#define BT_RING_PAGES_MAX 16384
#define BT_RING_BUDGET (128ull << 20)
/* --no-lost: hold the program from half full, release below a tenth. */
#define HIGH_WATER 0.5
#define LOW_WATER 0.1
/* Records kept in memory behind the processor, then spilled to a file (by
 * the readers: spilling is what the bound is for, rare): a quarter of the
 * memory available, within 256 MiB..8 GiB. */
#define MIN_MEM_BOUND (256ull << 20)
#define MAX_MEM_BOUND (8192ull << 20)

/* ---- records, in the reader threads ---- */

static bool use_sched(const struct watch *w)
{
	return !w->cfg->count && !w->cfg->ncpus;
}

/* A hit's id: its watch's cookie; --cpu: the register's, by its address
 * (the rings are the first register's, its cookie on every record). */
static void collect(const struct hwbp_record *r, void *cookie)
{
	const struct loc_ctx *ctx = cookie;
	int id = ctx->idx;

	if (r->kind == HWBP_REC_HIT && !use_sched(ctx->w))
		id = share_plain_id(ctx->w, r->addr, id);
	stream_put(r, r->kind == HWBP_REC_HIT ? id : -1);
}

static int consume_cpu(void *ctx, int cpu)
{
	struct watch *w = ctx;

	return w->sched ? hwbp_sched_consume_cpu(w->sched, cpu)
			: hwbp_ring_consume_cpu(w->ring_bp, cpu);
}

static int ring_stat(void *ctx, int cpu, uint64_t *lost, double *fill)
{
	struct watch *w = ctx;
	HWBP_OPTS(hwbp_ring_stat, st);
	int err = w->sched ? hwbp_sched_ring_stat_cpu(w->sched, cpu, &st)
			   : hwbp_ring_stat_cpu(w->ring_bp, cpu, &st);

	if (err || !st.lost_known)
		return err ? err : -EOPNOTSUPP;
	*lost = st.lost;
	*fill = st.size ? (double)st.waiting / (double)st.size : 0;
	return 0;
}

/* --no-lost: a reader found its ring past half full (reader thread). */
static void ask_pause(void *ctx)
{
	struct watch *w = ctx;
	uint64_t one = 1;

	if (write(w->pause_fd, &one, sizeof(one)) < 0)
		return; /* (a full counter: a request is pending anyway) */
}

static size_t memory_bound(void)
{
	uint64_t avail = (uint64_t)get_avphys_pages() * (uint64_t)getpagesize();

	avail /= 4;
	return avail < MIN_MEM_BOUND ? MIN_MEM_BOUND :
	       avail > MAX_MEM_BOUND ? MAX_MEM_BOUND : avail;
}

/* The readers, once the rings exist (the first location armed). */
int start_stream(struct watch *w)
{
	struct stream_ops ops = { .consume = consume_cpu,
				  .ring_stat = ring_stat, .ctx = w,
				  .on_high_water = w->cfg->no_lost ? ask_pause
								   : NULL };
	int cpus[MAX_RINGS], fds[MAX_RINGS], n, err;

	if (w->stream || w->cfg->count)
		return 0;
	n = w->sched ? hwbp_sched_ring_cpus(w->sched, cpus, fds, MAX_RINGS)
		     : w->ring_bp ? hwbp_ring_cpus(w->ring_bp, cpus, fds,
						   MAX_RINGS) : 0;
	if (n <= 0)
		return 0; /* nothing armed yet */
	if (n > MAX_RINGS)
		n = MAX_RINGS;
	memcpy(w->ring_cpus, cpus, (size_t)n * sizeof(*cpus));
	w->nrings = n;
	err = stream_new(&w->stream, &ops, cpus, fds, n,
			 w->cfg->spill_after_set ? w->cfg->spill_after
						 : memory_bound());
	if (!err)
		err = stream_start(w->stream);
	if (!err) {
		w->processing = pthread_create(&w->processor, NULL, hits_main,
					       w) == 0;
		if (w->processing)
			pthread_setname_np(w->processor, "hwbp-hits");
		else
			err = -EAGAIN;
	}
	if (err)
		snprintf(w->msg, sizeof(w->msg), "cannot start reading the "
			 "rings: %s", strerror(-err));
	return err ? EXIT_RUNTIME : 0;
}

/* ---- arming ---- */

/* Records per wakeup: an eighth of the ring, at ~200 bytes a record (and
 * the stack copy of --bt, which the kernel reserves whole). */
static uint32_t wakeup_batch(uint32_t ring_pages, bool stack)
{
	uint64_t record = 200 + (stack ? BT_STACK_BYTES + 16 : 0);
	uint64_t records = (uint64_t)ring_pages * 4096u / record / 8u;

	return records ? (uint32_t)records : 1;
}

/* Registers the locations need (an unresolved one: at least 1), but for
 * the thread-locals (tls_registers). */
static int registers_needed(const struct watch *w)
{
	int n = 0;

	for (int i = 0; i < w->cfg->nlocs; i++) {
		const struct location *l = &w->locs[i];
		int k = l->resolved && l->access != HWBP_EXEC ?
			hwbp_range_split(l->addr, l->len, 0, NULL, 0) : 1;

		if (!(l->resolved && l->tls))
			n += k > 0 ? k : 1;
	}
	return n;
}

/* Thread-locals take registers in each thread, before the others: what
 * is left is the scheduler's (0: all). */
static int registers_left(struct watch *w, int slots)
{
	int tls = tls_registers(w), others = registers_needed(w);

	if (!tls)
		return 0;
	if (tls > slots || (tls == slots && others))
		snprintf(w->msg, sizeof(w->msg), "the thread-locals take %d "
			 "debug register%s in each thread%s, and a thread has "
			 "%d: watch fewer thread-locals (each thread's copy "
			 "takes a register of its own thread per 8 aligned "
			 "bytes, and is never shared in turns)", tls,
			 tls == 1 ? "" : "s", others ? ", the other locations "
			 "at least one more" : "", slots);
	return tls > slots || (tls == slots && others) ? -1 : slots - tls;
}

static void ring_opts(const struct watch *w, struct hwbp_opts *o)
{
	const struct watch_cfg *c = w->cfg;
	uint32_t pages = w->ring_pages;

	o->delivery = HWBP_DELIVER_RING;
	o->on_record = collect;
	o->sample = HWBP_SAMPLE_REGS;
	o->regs_mask = SAMPLED_REGS_MASK;
	/* the registers copied by a BPF program at the trap, where allowed
	 * (perf's copy costs ~1.3 us a hit on some hosts: libhwbp bpf.c) */
	o->bpf_samples = !c->no_bpf;
	/* --bt: the user stack, unwound with the modules' CFI (programs
	 * without frame pointers too); the kernel's frame-pointer chain
	 * where there is no stack to copy (--cpu: any process). */
	if (c->bt && !c->ncpus) {
		o->sample |= HWBP_SAMPLE_STACK;
		o->stack_size = BT_STACK_BYTES;
	} else if (c->bt) {
		o->sample |= HWBP_SAMPLE_CALLCHAIN;
	}
	o->ring_pages = pages;
	/* Wake the reader every eighth of the ring, not every hit (a wakeup
	 * per hit doubled the cost of a hit); a slow trickle is read at the
	 * readers' tick or when the processor asks. */
	o->wakeup_events = wakeup_batch(pages, c->bt && !c->ncpus);
	o->kernel = c->kernel;
	o->no_follow = !c->follow;
	o->task_events = !c->ncpus && !c->count;
	o->mmap_events = !c->ncpus && !c->count;
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

int start_sched(struct watch *w)
{
	const struct watch_cfg *c = w->cfg;
	HWBP_OPTS(hwbp_probe, pr);
	HWBP_OPTS(hwbp_opts, bo);
	HWBP_OPTS(hwbp_sched_opts, so, .quantum_us = c->quantum_us,
		  .seed = (uint64_t)getpid(), .bp_opts = &bo,
		  .on_record = collect, .raw_records = true);

	int left;

	ring_opts(w, &bo);
	w->task_ctx = (struct loc_ctx){ w, -1 };
	bo.cookie = &w->task_ctx;
	hwbp_probe(&pr);
	if ((left = registers_left(w, pr.slots)) < 0)
		return EXIT_RUNTIME;
	so.registers = (uint32_t)left;
	so.policy = c->policy_set ? c->policy :
		    registers_needed(w) <= (left ? left : pr.slots)
		    ? HWBP_POLICY_PINNED : HWBP_POLICY_RR;
	w->shared = so.policy != HWBP_POLICY_PINNED;
	if (hwbp_sched_create(&w->sched, &so)) {
		snprintf(w->msg, sizeof(w->msg), "cannot share the debug "
			 "registers: %s", hwbp_last_error());
		return EXIT_RUNTIME;
	}
	return 0;
}

/* The first watch opens the rings: where the locked-memory limit refuses
 * the default size (kernel.perf_event_mlock_kb, RLIMIT_MEMLOCK), halve it,
 * and say so; a size the user gave is not changed. */
static int first_add(struct watch *w, uint64_t addr, uint64_t len,
		     enum hwbp_access access, void *cookie,
		     struct hwbp_watch **out)
{
	int err;

	for (;;) {
		err = hwbp_sched_add(w->sched, addr, len, access, cookie, out);
		if ((err != -EPERM && err != -ENOMEM) || w->cfg->ring_pages ||
		    w->ring_pages <= MIN_RING_PAGES)
			return err;
		hwbp_sched_close(w->sched);
		w->sched = NULL;
		w->ring_pages /= 2;
		if ((err = start_sched(w)))
			return -ENOMEM;
		if (!w->ring_smaller++)
			fprintf(stderr, "hwbp: warning: locked memory is too "
				"short for the default ring buffers: smaller "
				"ones lose hits sooner (raise "
				"kernel.perf_event_mlock_kb or ulimit -l, or "
				"run as root)\n");
	}
}

int watch_sched_add(struct watch *w, int id, uint64_t addr, uint64_t len,
		    enum hwbp_access access, struct hwbp_watch **out)
{
	bool first = !w->sched;

	if (first && start_sched(w))
		return -EIO;
	return first ? first_add(w, addr, len, access, share_ctx(w, id), out)
		     : hwbp_sched_add(w->sched, addr, len, access,
				      share_ctx(w, id), out);
}

/* --read is armed read-write: the writes keep the value chain exact and
 * are left out of the output by the processor.  A location whose register
 * would start where another's does shares its watch (share.c). */
static int arm_watch(struct watch *w, int i)
{
	struct location *loc = &w->locs[i];
	enum hwbp_access access = loc->access == HWBP_READ ? HWBP_RW
							   : loc->access;

	if (share_add(w, i, loc->addr, loc->len, access)) {
		snprintf(w->msg, sizeof(w->msg), "cannot watch %s (0x%" PRIx64
			 ", %u bytes, %s): %s", loc->name, loc->addr, loc->len,
			 hwbp_access_name(loc->access), hwbp_last_error());
		return EXIT_RUNTIME;
	}
	return 0;
}

/* One register of a --count or --cpu location. */
static int arm_piece(struct watch *w, int i, const struct hwbp_piece *p,
		     struct hwbp_opts *o)
{
	const struct location *loc = &w->locs[i];
	struct hwbp *bp = NULL, **bps, **slot = NULL;
	int *locs, err;

	/* --cpu: a register already at this address is shared (a record
	 * names its register only by the address). */
	if (!w->cfg->count && loc->access != HWBP_EXEC &&
	    share_plain_join(w, i, p->addr, p->len, loc->access))
		return 0;
	o->share_ring = w->ring_bp;
	o->switch_events = w->cfg->switches && !w->ring_bp; /* once */
	/* Where its records go, before it can hit (the readers read it). */
	if (!w->cfg->count &&
	    !(slot = share_plain_note(w, i, p->addr, p->len))) {
		snprintf(w->msg, sizeof(w->msg), "cannot watch %s: more "
			 "registers than --cpu keeps apart", loc->name);
		return EXIT_RUNTIME;
	}
	err = hwbp_create(&bp, p->addr, loc->access == HWBP_EXEC ? 0 : p->len,
			  loc->access, o);
	if (err) {
		snprintf(w->msg, sizeof(w->msg), "cannot watch %s (0x%" PRIx64
			 ", %u bytes, %s): %s%s", loc->name, loc->addr,
			 loc->len, hwbp_access_name(loc->access),
			 hwbp_last_error(), err != -ENOSPC ? "" :
			 " (--count and --cpu take a register per aligned "
			 "piece of each location; without --count the "
			 "locations share the registers)");
		return EXIT_RUNTIME;
	}
	bps = realloc(w->bps, (size_t)(w->nbps + 1) * sizeof(*bps));
	locs = bps ? realloc(w->bp_loc, (size_t)(w->nbps + 1) * sizeof(*locs))
		   : NULL;
	if (bps)
		w->bps = bps;
	if (!locs) {
		hwbp_close(bp);
		snprintf(w->msg, sizeof(w->msg), "out of memory");
		return EXIT_RUNTIME;
	}
	w->bp_loc = locs;
	if (slot)
		*slot = bp;
	w->bps[w->nbps] = bp;
	w->bp_loc[w->nbps++] = i;
	if (!w->cfg->count && !w->ring_bp)
		w->ring_bp = bp;
	return 0;
}

/*
 * --count and --cpu: plain breakpoints, counted by the kernel or (--cpu)
 * written into the first one's rings.  A range takes a register per piece
 * of the exact split: no register covers a byte outside it, so nothing
 * beside it is counted (an access spanning two pieces counts in each).
 */
static int arm_plain(struct watch *w, int i)
{
	const struct watch_cfg *c = w->cfg;
	struct location *loc = &w->locs[i];
	struct hwbp_piece pieces[64] = { { loc->addr, loc->len } };
	int n = 1, err = 0;
	cpu_set_t set;
	HWBP_OPTS(hwbp_opts, o, .cookie = &w->ctx[i]);

	ring_opts(w, &o);
	if (c->count) {
		o.delivery = HWBP_DELIVER_COUNT;
		o.bpf_samples = false; /* (no samples) */
	}
	CPU_ZERO(&set);
	for (int k = 0; k < c->ncpus; k++)
		CPU_SET(c->cpus[k], &set);
	if (c->ncpus) {
		o.scope = HWBP_SCOPE_CPUS;
		o.cpus = &set;
		o.cpus_size = sizeof(set);
	}
	if (loc->access != HWBP_EXEC)
		n = hwbp_range_split(loc->addr, loc->len, HWBP_SPLIT_EXACT,
				     pieces, 64);
	if (n < 0 || n > 64) {
		snprintf(w->msg, sizeof(w->msg), "cannot watch %s (0x%" PRIx64
			 ", %u bytes): %s", loc->name, loc->addr, loc->len,
			 n < 0 ? hwbp_last_error() : "more than 64 registers");
		return EXIT_RUNTIME;
	}
	for (int k = 0; k < n && !err; k++)
		err = arm_piece(w, i, &pieces[k], &o);
	return err;
}

/* The location's bytes now, then its watch: the processor starts each
 * process's chain for it from these bytes. */
static int arm(struct watch *w, int i, enum vquality q)
{
	struct location *loc = &w->locs[i];

	w->ctx[i] = (struct loc_ctx){ w, i };
	if (!w->members[i] && members_build(w->syms, loc, &w->members[i]))
		fprintf(stderr, "hwbp: %s: out of memory for its members: "
			"its hits show bytes\n", loc->name);
	if (loc->tls) /* each thread's copy (watch_tls.c) */
		return tls_arm(w, i);
	free(w->armed_bytes[i]);
	w->armed_bytes[i] = calloc(loc->len, 1);
	w->armed_q[i] = VQ_NONE;
	if (w->armed_bytes[i] && w->target.pid &&
	    target_read(loc->addr, w->armed_bytes[i], loc->len, &w->target))
		w->armed_q[i] = q;
	follow_say(loc, NULL, false); /* a path: where it led */
	return use_sched(w) ? arm_watch(w, i) : arm_plain(w, i);
}

/* A path through a pointer that points nowhere yet: say why, once. */
static void note_pending(struct watch *w, int i, const char *msg)
{
	if (!w->locs[i].nderefs)
		return;
	if (strcmp(w->why[i], msg) && !w->cfg->follow_ptrs)
		fprintf(stderr, "hwbp: %s: %s: watched once it points somewhere "
			"(read again every 100 ms)\n", w->cfg->locs[i], msg);
	snprintf(w->why[i], sizeof(w->why[i]), "%s", msg);
}

/* ---- the loop ---- */

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

static bool on_signal(struct watch *w, int sfd)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			/* the guard's stops first (target.c), then exits */
			target_handle_events(&w->target);
			stop |= target_poll_exit(&w->target, false);
			continue;
		}
		stop = true;
		/* Ask a program we started to end too, as perf record does. */
		if (w->target.launched && !w->target.exited)
			kill(w->target.pid, SIGTERM);
	}
	return stop;
}

static void arm_pending(struct watch *w);

/* --no-lost: the fullest ring, 0..1. */
static double fullest_ring(struct watch *w)
{
	double most = 0;

	for (int i = 0; i < w->nrings; i++) {
		uint64_t lost;
		double fill = 0;

		if (!ring_stat(w, w->ring_cpus[i], &lost, &fill) && fill > most)
			most = fill;
	}
	return most;
}

/*
 * --no-lost: a ring past half full holds the program (every thread stopped
 * with ptrace, target_pause) and has the readers empty the rings; below a
 * tenth full, it goes on.  Half a ring is what the threads may still write
 * while being stopped.  The control thread watches the rings itself too
 * (every 2 ms): a reader that cannot get its CPU cannot say it is behind.
 */
static void hold_or_release(struct watch *w)
{
	uint64_t v;
	bool asked = read(w->pause_fd, &v, sizeof(v)) == sizeof(v);
	double fill;

	if (!w->cfg->no_lost || !w->stream || w->pause_failed)
		return;
	fill = fullest_ring(w);
	if (!w->paused && (asked || fill > HIGH_WATER)) {
		int err = target_pause(&w->target);

		if (err && err != -ETIMEDOUT) {
			w->pause_failed = true;
			fprintf(stderr, "hwbp: --no-lost: cannot pause the "
				"program (%s): hits may be lost from now on\n",
				strerror(-err));
			return;
		}
		w->paused = true;
		w->paused_at = now_ns();
		w->pauses++;
		stream_poke_all(w->stream);
	} else if (w->paused && fill < LOW_WATER) {
		target_continue(&w->target);
		w->paused = false;
		w->paused_ns += now_ns() - w->paused_at;
	} else if (w->paused) {
		stream_poke_all(w->stream);
	}
}

static void release_hold(struct watch *w)
{
	if (!w->paused)
		return;
	target_continue(&w->target);
	w->paused = false;
	w->paused_ns += now_ns() - w->paused_at;
}

static void loop(struct watch *w, int sfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	bool stop = false;

	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	epoll_ctl(ep, EPOLL_CTL_ADD, w->stop_fd, &ev);
	if (w->cfg->no_lost) {
		epoll_ctl(ep, EPOLL_CTL_ADD, w->pause_fd, &ev);
		stream_prioritize(); /* it must see a ring fill, and stop it */
	}
	if (w->target.pidfd >= 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, w->target.pidfd, &ev);
	if (follow_fd(w) >= 0) /* --follow-pointers: a pointer changed */
		epoll_ctl(ep, EPOLL_CTL_ADD, follow_fd(w), &ev);
	while (!stop) {
		struct epoll_event got[4];
		uint64_t v;

		epoll_wait(ep, got, 4, w->cfg->no_lost || w->cfg->follow_ptrs
				       ? 2 : 100);
		hold_or_release(w);
		stop = on_signal(w, sfd);
		if (w->target.pid && target_poll_exit(&w->target, false))
			stop = true;
		if (read(w->stop_fd, &v, sizeof(v)) == sizeof(v))
			stop = true; /* --max reached, or the output closed */
		arm_pending(w);
		follow_service(w);
	}
	release_hold(w);
	close(ep);
}

/* The end of the run: stop counting, read the rings a last time.  The
 * kernel's counts are taken before the last read, so records read after
 * can only shrink the difference (count_lost). */
static void stop_reading(struct watch *w)
{
	for (int i = 0; i < w->nbps && !w->cfg->count; i++)
		hwbp_disable(w->bps[i]);
	w->before.sz = sizeof(w->before);
	if (w->sched)
		hwbp_sched_get_stats(w->sched, &w->before);
	if (w->stream)
		stream_finish(w->stream);
	atomic_store(&w->final, true);
}

/* The processor's last records (it works from the stream alone). */
static void join_processor(struct watch *w)
{
	if (w->processing) {
		pthread_join(w->processor, NULL);
		w->processing = false;
	}
}

static void close_handles(struct watch *w)
{
	hwbp_sched_close(w->sched);
	w->sched = NULL;
	/* Sharers first: the rings' owner goes last. */
	for (int i = w->nbps - 1; i >= 0; i--)
		if (w->bps[i] != w->ring_bp)
			hwbp_close(w->bps[i]);
	hwbp_close(w->ring_bp);
	w->ring_bp = NULL;
	w->nbps = 0;
}

static void cleanup(struct watch *w)
{
	if (w->stream && !atomic_load(&w->final))
		stop_reading(w);
	close_handles(w);
	join_processor(w);
	stream_free(w->stream);
	free(w->recovered_at);
	for (int i = 0; i < w->cfg->nlocs; i++) {
		free(w->locs[i].type.enums);
		free(w->armed_bytes[i]);
		if (w->members)
			members_free(w->members[i]);
	}
	free(w->members);
	free(w->armed_bytes);
	free(w->armed_q);
	free(w->watches);
	for (int i = 0; i < w->ncov; i++)
		free(w->cov[i].parts);
	free(w->cov);
	free(w->bps);
	free(w->bp_loc);
	free(w->ctx);
	free(w->locs);
	hits_free(w);
	tls_free(w);
	follow_free(w);
	share_free(w);
	free(w->why);
	out_close(&w->out);
	syms_close(w->syms);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->pause_fd >= 0)
		close(w->pause_fd);
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

/* Programs that run the program given to them: interpreters of a script
 * and wrappers.  Those that exec it (env, taskset, sh -c CMD, a script
 * that ends in exec) are followed to it; one that forks is not. */
static bool is_wrapper(const char *exe)
{
	static const char *const wrappers[] = {
		"sh", "dash", "bash", "zsh", "env", "taskset", "nice", "nohup",
		"timeout", "stdbuf", "setarch", "numactl", "chrt", "ionice",
		"time", "xargs", "make",
	};
	for (size_t i = 0; i < sizeof(wrappers) / sizeof(*wrappers); i++)
		if (!strcmp(base_name(exe), wrappers[i]))
			return true;
	return false;
}

/* The hint for a name the launched program lacks: which program that
 * was (first: the wrapper that ran it, "" if none), and what is
 * followed. */
static int wrapper_hint(struct watch *w, int err, const char *exe,
			const char *first)
{
	const char *c = w->cfg->cmd && w->cfg->cmd[0] ? w->cfg->cmd[0] : "";
	size_t n = strlen(w->msg);

	if (first[0])
		snprintf(w->msg + n, sizeof(w->msg) - n, " (in %s, which %s "
			 "ran)", exe, first);
	else if (is_wrapper(exe) || strcmp(base_name(c), base_name(exe)))
		snprintf(w->msg + n, sizeof(w->msg) - n, " (%s is what the "
			 "command runs first; hwbp follows a wrapper such as "
			 "env, taskset or sh into the program it execs%s; run "
			 "the program directly, or attach with -p once it "
			 "runs)", exe, w->target.guard ? "" : " only with its "
			 "guard, which is off");
	return err;
}

/* Every LOCATION in the program image the target runs now. */
static int resolve_image(struct watch *w)
{
	const struct watch_cfg *c = w->cfg;
	int err = syms_open(&w->syms, w->target.pid, c->kernel);

	if (err) {
		snprintf(w->msg, sizeof(w->msg), "cannot read symbols: %s",
			 strerror(-err));
		return EXIT_RUNTIME;
	}
	tls_allow(w);
	for (int pass = 0; pass < 2; pass++) {
		int pending = 0;

		for (int i = 0; i < c->nlocs; i++) {
			if (w->locs[i].resolved)
				continue;
			err = syms_resolve(w->syms, c->locs[i], c->access,
					   &w->locs[i], w->msg, sizeof(w->msg));
			if (err == RESOLVE_PENDING && pass)
				note_pending(w, i, w->msg);
			if (err == RESOLVE_PENDING)
				pending++;
			else if (err)
				return err;
		}
		/* lib.so:name before lib.so is mapped: run to the entry
		 * point, where the libraries it needs are; later, dlopen. */
		if (!pending || pass || !w->target.launched) {
			for (int i = 0; i < c->nlocs && !pass; i++)
				if (!w->locs[i].resolved)
					note_pending(w, i, w->msg);
			return 0;
		}
		err = target_run_to_entry(&w->target, w->msg, sizeof(w->msg));
		if (err)
			return err;
		syms_refresh(w->syms);
	}
	return 0;
}

#define MAX_WRAPPERS 8 /* execs followed to the program with the names */

/* The LOCATIONs, in the program the command runs first or, where that
 * is a wrapper without the name (env, taskset, sh -c, a #! script), in
 * the program it execs: followed from exec to exec, seized (the guard's
 * ptrace), before anything of ours is armed. */
static int resolve_all(struct watch *w)
{
	char first[PATH_MAX] = "", what[160];
	const char *exe;
	int err;

	for (int hops = 0;; hops++) {
		err = resolve_image(w);
		exe = w->syms ? syms_exe(w->syms) : "";
		if (!err && hops)
			fprintf(stderr, "hwbp: note: %s ran %s, which has the "
				"names: watching it\n", first, exe);
		if (!err || err == EXIT_RUNTIME || !w->target.launched ||
		    !syms_missed(w->syms))
			return err;
		if (!w->target.guard || !is_wrapper(exe) || hops == MAX_WRAPPERS)
			return wrapper_hint(w, err, exe, first);
		if (!hops)
			snprintf(first, sizeof(first), "%s", exe);
		if (target_next_exec(&w->target, what, sizeof(what))) {
			size_t n = strlen(w->msg);

			snprintf(w->msg + n, sizeof(w->msg) - n, "; %s %s "
				 "before it ran a program with the name (a "
				 "program that a script or a wrapper execs is "
				 "followed, one it starts as a child is not: run "
				 "it directly, or attach with -p once it runs)",
				 exe, what);
			return EXIT_USAGE;
		}
		syms_close(w->syms);
		w->syms = NULL;
		for (int i = 0; i < w->cfg->nlocs; i++)
			w->locs[i].resolved = false;
	}
}

/* Two locations shown by one name (`counter` and `counter:4`) are shown
 * as typed instead: each hit goes to each, and says which.  Once the
 * processor runs, only the new one (i) is renamed: the others' names are
 * in its output already. */
static void distinct_names(struct watch *w, int i, bool both)
{
	struct location *l = &w->locs[i];

	for (int j = 0; j < w->cfg->nlocs; j++) {
		struct location *o = &w->locs[j];

		if (j == i || !o->resolved || strcmp(o->name, l->name))
			continue;
		snprintf(l->name, sizeof(l->name), "%s", l->spec);
		if (both)
			snprintf(o->name, sizeof(o->name), "%s", o->spec);
	}
}

/* Libraries loaded since: resolve and arm what waited for them. */
static void arm_pending(struct watch *w)
{
	bool refreshed = false;

	for (int i = 0; i < w->cfg->nlocs; i++) {
		struct location now;
		int err;

		if (w->locs[i].resolved || follow_owns(w, i))
			continue;
		if (!refreshed) {
			syms_refresh(w->syms);
			refreshed = true;
		}
		err = syms_resolve(w->syms, w->cfg->locs[i], w->cfg->access,
				   &now, w->msg, sizeof(w->msg));
		/* (a program gone keeps what its pointers said last) */
		if (err && !now.nderefs && w->locs[i].nderefs) {
			free(now.type.enums);
			continue;
		}
		free(w->locs[i].type.enums);
		w->locs[i] = now;
		if (err == RESOLVE_PENDING)
			note_pending(w, i, w->msg);
		if (err)
			continue;
		distinct_names(w, i, false);
		/* The first armed (lib.so:name once dlopen loaded it): no
		 * event recorded the mappings made since the start; /proc
		 * shows them.  No processor runs yet: the map is ours. */
		if (!w->stream && w->target.pid && !w->target.exited)
			codemap_process(w->map, w->target.pid);
		if (arm(w, i, VQ_APPROX) == 0) {
			if (start_stream(w))
				fprintf(stderr, "hwbp: %s\n", w->msg);
		} else {
			fprintf(stderr, "hwbp: %s\n", w->msg);
			w->locs[i].resolved = false;
		}
	}
}

/* Location i's parts, one per register: how long each was armed, what a
 * whole object holds there (the control thread: syms is its own). */
static void coverage_parts(struct watch *w, int i, uint32_t registers,
			   struct coverage *cv)
{
	const struct location *loc = &w->locs[i];

	cv->parts = calloc(registers, sizeof(*cv->parts));
	for (uint32_t k = 0; cv->parts && k < registers; k++) {
		HWBP_OPTS(hwbp_piece_stats, ps);
		struct cov_part *p = &cv->parts[cv->nparts];
		uint64_t lo, hi;

		if (hwbp_watch_get_piece_stats(w->watches[i], k, &ps))
			continue;
		lo = ps.addr > loc->addr ? ps.addr : loc->addr;
		hi = ps.addr + ps.len < loc->addr + loc->len ?
		     ps.addr + ps.len : loc->addr + loc->len;
		if (lo >= hi) /* another location's, sharing the watch */
			continue;
		p->off = (uint32_t)(lo - loc->addr);
		p->len = (uint32_t)(hi - lo);
		p->armed_ns = ps.armed_ns;
		p->total_ns = ps.total_ns;
		/* (named where DWARF names it more narrowly than the
		 * object: "arr[3]", not "buf+8") */
		if (!w->members[i] ||
		    syms_member_at(w->syms, loc, lo, p->len, p->member,
				   sizeof(p->member), NULL) ||
		    !strcmp(p->member, loc->name) || strchr(p->member, '+'))
			p->member[0] = '\0';
		cv->nparts++;
	}
}

static void coverage_of(struct watch *w, int i,
			const struct hwbp_watch_stats *st, struct coverage *cv)
{
	*cv = (struct coverage){ w->locs[i].name, st->armed_ns, st->total_ns,
				 st->any_ns, NULL, 0 };
	if (st->registers > 1)
		coverage_parts(w, i, st->registers, cv);
}

/* Who wrote the samples: a BPF program, or perf (and why, if refused), as
 * the rings' stats say (why points into the rings' handle: copied). */
static void note_bpf(struct watch *w, int32_t bpf, const char *why)
{
	w->sum.bpf = bpf;
	snprintf(w->sum.bpf_why, sizeof(w->sum.bpf_why), "%s", why ? why : "");
}

/*
 * Hits the rings did not deliver.  The drop counters say most; the exact
 * count of hits (read() of the events) says the rest: whatever it counted
 * beyond the records read and the drops was lost too (e.g. sampling
 * throttled), and is counted, not hidden.
 */
static void account_sched(struct watch *w)
{
	HWBP_OPTS(hwbp_sched_stats, now);
	uint64_t seen;

	if (hwbp_sched_get_stats(w->sched, &now))
		return;
	note_bpf(w, now.bpf, now.bpf_why);
	seen = now.records + now.lost;
	w->lost += now.lost +
		   (w->before.counted > seen ? w->before.counted - seen : 0);
	w->cov = calloc((size_t)w->cfg->nlocs, sizeof(*w->cov));
	for (int i = 0; i < w->cfg->nlocs; i++) {
		HWBP_OPTS(hwbp_watch_stats, st);

		if (!w->watches[i] || hwbp_watch_get_stats(w->watches[i], &st))
			continue;
		if (w->cov && st.armed_ns < st.total_ns)
			coverage_of(w, i, &st, &w->cov[w->ncov++]);
	}
}

static void count_lost(struct watch *w)
{
	HWBP_OPTS(hwbp_stats, st);
	uint64_t records = 0, lost = 0, hits = 0;

	w->sum.sampled = !w->cfg->count;
	if (w->sched)
		account_sched(w);
	if (w->cfg->count || !w->ring_bp)
		return;
	/* --cpu: the handles share the first one's rings. */
	for (int i = 0; i < w->nbps; i++) {
		uint64_t n = 0;

		if (hwbp_get_stats(w->bps[i], &st))
			continue;
		if (w->bps[i] == w->ring_bp)
			note_bpf(w, st.bpf, st.bpf_why);
		lost += st.lost;
		records += st.records;
		if (!hwbp_read_count(w->bps[i], &n))
			hits += n;
	}
	w->lost += lost + (hits > records + lost ? hits - records - lost : 0);
}

/* --count: the kernel's counts, before the handles go. */
static void read_counts(struct watch *w)
{
	uint64_t *counts;

	if (!w->cfg->count)
		return;
	counts = calloc((size_t)w->cfg->nlocs, sizeof(*counts));
	for (int i = 0; counts && i < w->nbps; i++) {
		uint64_t n = 0;

		hwbp_read_count(w->bps[i], &n);
		counts[w->bp_loc[i]] += n;
	}
	for (int i = 0; counts && w->recovered_at && i < w->cfg->nlocs; i++)
		counts[i] += w->recovered_at[i];
	w->counts = counts;
}

/* The summary's pointer paths: where each led at the end. */
static void summarize_pointers(struct watch *w)
{
	struct ptr_summary *ps = calloc((size_t)w->cfg->nlocs, sizeof(*ps));
	int n = 0;

	for (int i = 0; ps && i < w->cfg->nlocs; i++) {
		const struct follow_stats *st = follow_stats_of(w, i);
		struct ptr_summary *p = &ps[n];

		if (!w->locs[i].nderefs)
			continue;
		p->loc = &w->locs[i];
		p->why = w->locs[i].resolved ? NULL :
			 follow_owns(w, i) ? follow_why(w, i) : w->why[i];
		if (!w->locs[i].resolved && !p->why)
			p->why = "not watched";
		if (st) {
			p->followed = true;
			p->moves = st->moves;
			p->window_max_ns = st->window_max_ns;
			p->left_out = st->left_out;
		}
		n++;
	}
	w->sum.ptrs = ps;
	w->sum.nptrs = n;
}

static void finish(struct watch *w)
{
	struct stream_stats ss = { 0 };

	for (int i = 0; i < w->cfg->nlocs; i++) {
		const char *why = follow_owns(w, i) ? follow_why(w, i)
			       : w->why[i][0] ? w->why[i] : NULL;

		if (!w->locs[i].resolved && why)
			fprintf(stderr, "hwbp: %s: %s: not watched at the end\n",
				w->cfg->locs[i], why);
		else if (!w->locs[i].resolved)
			fprintf(stderr, "hwbp: %s was not loaded when hwbp "
				"looked (at the start, then every 100 ms): not "
				"watched\n", w->cfg->locs[i]);
	}
	summarize_pointers(w);
	if (w->stream)
		stream_get_stats(w->stream, &ss);
	/* What the control thread counted, now the processor is done. */
	w->sum.lost += w->lost + ss.dropped_oom + ss.spill_lost + w->uncounted;
	w->sum.lost_uncounted = w->uncounted;
	w->sum.recovered = w->recovered;
	w->sum.lost_memory = ss.dropped_oom;
	w->sum.lost_spill = ss.spill_lost;
	w->sum.spilled = ss.spilled;
	w->sum.spill_failed = ss.spill_write_errors;
	w->sum.spill_errno = ss.spill_errno;
	w->sum.late = ss.late;
	w->sum.cov = w->cov;
	w->sum.ncov = w->ncov;
	w->sum.counts = w->counts;
	w->sum.no_lost = w->cfg->no_lost;
	w->sum.pauses = w->pauses;
	w->sum.paused_ns = w->paused_ns;
	for (int i = 0; w->counts && i < w->cfg->nlocs; i++)
		w->sum.hits += w->counts[i];
	w->sum.locs = w->locs;
	w->sum.nlocs = w->cfg->nlocs;
	w->sum.wall_ns = now_ns() - w->start_ns;
	out_summary(&w->out, stderr, &w->sum);
	free(w->counts);
	w->counts = NULL;
	w->sum.counts = NULL;
	free((void *)w->sum.ptrs);
	w->sum.ptrs = NULL;
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

/* The guard dropped a SIGTRAP with no cause (target.c): a hit the kernel
 * did not count, so neither a record nor a count has it.  Recovered from
 * the stopped thread where recover.c can tell it; else counted as lost;
 * with records, a loss in the stream makes every value chain unsure from
 * tid's newest hit within the last ORDER_WINDOW_NS (the lost one was its
 * last store, and it is stopped since: a host that took longer than that
 * to deliver the trap is the one case left approximate too late). */
static void on_uncaused(void *ctx, const struct uncaused_trap *trap)
{
	struct watch *w = ctx;
	int lost = recover_hits(w, trap);

	w->uncounted += (uint64_t)lost;
	if (lost && w->stream)
		stream_lose_outside(w->stream, (uint64_t)lost, ORDER_WINDOW_NS,
				    (uint32_t)trap->tid);
}

static int setup(struct watch *w)
{
	const struct watch_cfg *c = w->cfg;
	int rc = check_branches(w);
	/* Stopped at exec, nothing runs: the values read now are exact. */
	enum vquality q;

	if (!rc)
		rc = start_target(w);
	if (!rc)
		target_on_uncaused(&w->target, on_uncaused, w);
	if (!rc && c->no_lost && !w->target.guard) {
		snprintf(w->msg, sizeof(w->msg), "--no-lost pauses the program "
			 "with ptrace, and ptrace is not possible here (the "
			 "line above says why)");
		rc = EXIT_RUNTIME;
	}
	if (!rc)
		rc = resolve_all(w);
	if (!rc)
		rc = tls_prepare(w);
	if (!rc && hits_init(w)) {
		snprintf(w->msg, sizeof(w->msg), "out of memory");
		rc = EXIT_RUNTIME;
	}
	if (!rc && w->target.pid)
		hits_prime(w, w->target.pid);
	w->start_ns = now_ns();
	q = w->target.launched ? VQ_EXACT : VQ_APPROX;
	for (int i = 0; !rc && i < c->nlocs; i++)
		if (w->locs[i].resolved)
			distinct_names(w, i, true);
	for (int i = 0; !rc && i < c->nlocs; i++)
		if (w->locs[i].resolved)
			rc = arm(w, i, q);
	for (int i = 0; !rc && i < c->nlocs; i++) /* --follow-pointers */
		follow_start(w, i, w->locs[i].resolved, w->why[i]);
	if (!rc)
		rc = start_stream(w);
	return rc;
}

/* --bt's ring pages per CPU (a power of 2): BT_RING_BUDGET shared by the
 * online CPUs, within [BT_RING_PAGES, BT_RING_PAGES_MAX]. */
static uint32_t bt_ring_pages(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t share = BT_RING_BUDGET / 4096u / (uint64_t)(cpus > 0 ? cpus : 1);
	uint32_t pages = BT_RING_PAGES;

	while ((uint64_t)pages * 2 <= share && pages < BT_RING_PAGES_MAX)
		pages *= 2;
	return pages;
}

int watch_run(const struct watch_cfg *c)
{
	struct watch w = { .cfg = c, .out = { .f = c->out, .json = c->json,
					      .lines = c->out == stdout },
			   .stop_fd = -1, .pause_fd = -1 };
	sigset_t old;
	int sfd = block_stop_signals(&old), rc;

	w.locs = calloc((size_t)c->nlocs, sizeof(*w.locs));
	w.watches = calloc((size_t)c->nlocs, sizeof(*w.watches));
	w.ctx = calloc((size_t)c->nlocs, sizeof(*w.ctx));
	w.armed_bytes = calloc((size_t)c->nlocs, sizeof(*w.armed_bytes));
	w.armed_q = calloc((size_t)c->nlocs, sizeof(*w.armed_q));
	w.members = calloc((size_t)c->nlocs, sizeof(*w.members));
	w.why = calloc((size_t)c->nlocs, sizeof(*w.why));
	w.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w.pause_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w.ring_pages = c->ring_pages ? c->ring_pages :
		       c->bt ? bt_ring_pages() : DEFAULT_RING_PAGES;
	rc = !w.locs || !w.watches || !w.ctx || !w.armed_bytes ||
	     !w.armed_q || !w.members || !w.why || w.stop_fd < 0 || w.pause_fd < 0 ? EXIT_RUNTIME : 0;
	if (!rc && (share_init(&w, NIDS(&w), c->ncpus ? c->nlocs * 64 : 0) ||
		    follow_init(&w)))
		rc = EXIT_RUNTIME;
	if (rc)
		snprintf(w.msg, sizeof(w.msg), "out of memory");
	if (!rc)
		rc = setup(&w);
	if (rc) {
		fprintf(stderr, "hwbp: %s\n", w.msg);
		if (w.target.launched && !w.target.exited) {
			kill(w.target.pid, SIGKILL);
			waitpid(w.target.pid, NULL, 0);
		}
		cleanup(&w);
		target_release(&w.target);
		close(sfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return rc;
	}
	warn_if_no_traps();
	if (w.target.launched)
		target_resume(&w.target);
	loop(&w, sfd);
	stop_reading(&w);
	count_lost(&w);
	read_counts(&w);
	/* Disarm and let go: the target goes on with no breakpoint left and
	 * no tracer, while the processor finishes what the readers read. */
	close_handles(&w);
	target_release(&w.target);
	join_processor(&w);
	finish(&w);
	if (w.target.launched)
		target_poll_exit(&w.target, true);
	rc = target_exit_code(&w.target);
	cleanup(&w);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
