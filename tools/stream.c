/* SPDX-License-Identifier: MIT */
/*
 * stream.c - every record the kernel writes, moved out of its ring at once
 * and handed to one consumer in exact time order.
 *
 * Readers: one thread per ring does nothing but copy records into memory
 * that grows (chunks; past a bound they are spilled to an unlinked
 * temporary file), as perf record does, so a ring never fills while the
 * machine has a CPU for its reader.  Decoding, symbols and output run
 * behind, in the consumer, as fast as they can.  A reader runs on any CPU
 * but its ring's (perf record's reader is not on the watched program's CPU
 * either): a reader on its ring's CPU preempted the program there at each
 * wakeup (~270 times in 200,000 hits, 1.5 % of its time waiting).
 *
 * Order: a CPU's ring is written only by that CPU, with interrupts off, so
 * (1) a record read stamped T says every record of that CPU stamped before
 * T is read too, and (2) a reader running on the CPU that reads the clock
 * (T) and then the ring has every record stamped before T.  Each lane
 * publishes such a T (its progress) after each pass; the consumer merges
 * the lanes' heads (each lane is in time order) and hands out only records
 * stamped before the smallest T: nothing that comes later can be earlier.
 * A busy ring's progress is its newest record (1); a lane the consumer
 * waits for beyond that (an idle CPU's) is "fenced": its reader moves onto
 * the CPU for one pass (2), on demand only.  A reader that cannot run on
 * its CPU (cpuset) publishes T minus a margin, and a record that still
 * comes late is counted (stats.late), never dropped.
 *
 * Losses: a ring drops once full, until its reader frees it, so the drops
 * a pass finds (the ring's drop counter read after it freed the ring, at
 * time S) came after every record it read, and before S: a REC_LOSS
 * record dated just after the newest record read, whose window ends at S
 * (y), is handed out in time order.  The consumer's value chains are
 * unsure from its time, and no write inside the window can make them sure
 * again (the drops may lie after it).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tool.h"

#define CHUNK_BYTES (1u << 20)
#define UNPINNED_MARGIN_NS 20000000ull /* 20 ms */
#define CLOCK_MARGIN_NS 20000ull       /* perf's clock vs the vDSO's */
#define READER_TICK_MS 100
#define POKE_NS 20000000ull            /* a reader poked every 20 ms at most */
#define HOME_IDLE_NS 20000000ull       /* a ring idle this long: read at home */
#define RACE_SCAN 128                  /* records racer_in looks through */
#define FREE_CHUNKS 256                /* kept for reuse: 256 MiB */
#define OUTSIDE_MAX 16                 /* from outside, waiting */

/* Waiting from outside the rings: a loss (stream_lose_outside), or a
 * hit the guard recovered (stream_recover_outside: hit, the whole
 * record; r its window [time_ns, y] and thread). */
struct outside {
	struct rec r;
	struct rec *hit;
};

struct chunk {
	struct chunk *next;     /* set under the lane's lock */
	uint8_t *data;          /* NULL while spilled */
	off_t spill_off;        /* where it is in the spill file (-1: none) */
	size_t cap;
	uint64_t hits;          /* hit records in it, and the times of its */
	uint64_t t_first, t_last; /* first and last (all set by the producer) */
	_Atomic size_t used;    /* bytes of whole records, published */
	size_t filling;         /* the producer's own end (>= used) */
	bool sealed;            /* the producer moved on (under the lock) */
};

struct lane {
	struct stream *st;
	int cpu;                /* the ring's CPU (-1: a thread's ring) */
	int fd;                 /* readable when the ring has records */
	int poke;               /* eventfd: do a pass now */
	pthread_t thread;
	bool started;
	bool spill_lost;        /* spill_loss waits to be handed out */
	struct rec spill_loss;  /* a chunk that could not be read back */
	bool pinned;            /* it can run on its CPU (the cpuset allows) */
	bool home;              /* it runs there now */
	bool resident;          /* and always (no other CPU allowed) */
	cpu_set_t away;         /* the other CPUs */
	uint64_t copied;        /* records put (the reader's) */
	_Atomic uint64_t wanted; /* the consumer waits for this progress */
	pthread_mutex_t lock;
	struct chunk *first;    /* the consumer's chunk */
	struct chunk *last;     /* the producer's chunk */
	size_t read_off;        /* the consumer's place in first */
	_Atomic uint64_t progress; /* records stamped before: all here */
	uint64_t newest;        /* the newest record put */
	const struct rec *head; /* the consumer's look at first (stream_next) */
	uint64_t lost_seen;     /* drops already reported */
	_Atomic bool poked;
	uint64_t poked_at;      /* the consumer's last poke */
	/* drops found, in order (producer: tail; consumer: head) */
	struct rec losses[64];
	_Atomic unsigned loss_head, loss_tail;
};

struct stream {
	struct lane *lanes;
	int nlanes;
	struct stream_ops ops;
	_Atomic bool stop;
	int wake;               /* eventfd: readers -> consumer */
	size_t mem_bound;
	_Atomic size_t mem;     /* chunk bytes in memory */
	pthread_mutex_t spill_lock;
	pthread_mutex_t free_lock;
	struct chunk *free_chunks;
	int nfree;
	int spill_fd;
	off_t spill_end;
	_Atomic int spill_errno; /* the last write or read of it that failed */
	uint64_t last_time;     /* the last record handed out */
	struct rec loss;        /* the REC_LOSS handed out last */
	bool final;             /* readers joined: hand out everything */
	struct stream_stats stats;
	_Atomic uint64_t records, bytes, spilled, high_water, dropped_oom;
	_Atomic uint64_t spill_write_errors;
	/* losses and hits from outside the rings, in order */
	pthread_mutex_t outside_lock;
	_Atomic unsigned outside_n; /* posted, not handed out */
	unsigned outside_head;  /* (under outside_lock) */
	struct outside outside[OUTSIDE_MAX];
	struct rec *recovered;  /* the outside hit handed out last */
};

static __thread struct lane *this_lane;

/* ---- chunks ---- */

/* A chunk's bytes, touched now (MADV_POPULATE_WRITE, Linux 5.14; else
 * the faults as records come in).  4 KiB pages: huge ones (MADV_HUGEPAGE)
 * made the processor's frees cheap, but a fresh 2 MiB page cost the
 * reader that cleared it long enough for --bt's rings to overflow (lost
 * hits at 1 and 2 threads in bench/run, on a VM whose host backs the
 * guest's memory at first touch). */
static uint8_t *data_alloc(size_t cap)
{
	uint8_t *p = malloc(cap);

	if (p)
		madvise((void *)((uintptr_t)p & ~(uintptr_t)4095), cap,
			MADV_POPULATE_WRITE);
	return p;
}

/* A chunk, from the free list where one waits (memory already touched: a
 * fresh one costs a page fault per 4 KiB in the reader). */
static struct chunk *chunk_new(struct stream *st, size_t need)
{
	struct chunk *c = NULL;
	size_t cap = need > CHUNK_BYTES ? need : CHUNK_BYTES;

	if (cap == CHUNK_BYTES) {
		pthread_mutex_lock(&st->free_lock);
		if ((c = st->free_chunks)) {
			st->free_chunks = c->next;
			st->nfree--;
		}
		pthread_mutex_unlock(&st->free_lock);
	}
	if (c) {
		uint8_t *data = c->data;

		memset(c, 0, sizeof(*c));
		c->data = data;
		c->cap = cap;
		c->spill_off = -1;
		atomic_fetch_add(&st->mem, cap);
		return c;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->data = data_alloc(cap); /* its pages at once, not a fault each */
	if (!c->data) {
		free(c);
		return NULL;
	}
	c->cap = cap;
	c->spill_off = -1;
	atomic_fetch_add(&st->mem, cap);
	return c;
}

/* Back to the free list (a few: the readers' working set), else freed.
 * Keeping every chunk a drained backlog gives back (freed only when the
 * consumer idles) saved the processor its munmap calls, but on a VM whose
 * host backs guest memory at first touch the page cache then took
 * untouched pages: replay --bt into a file fell to 95,000 records/s. */
static void chunk_free(struct stream *st, struct chunk *c)
{
	if (c->data)
		atomic_fetch_sub(&st->mem, c->cap);
	if (c->data && c->cap == CHUNK_BYTES) {
		pthread_mutex_lock(&st->free_lock);
		if (st->nfree < FREE_CHUNKS) {
			c->next = st->free_chunks;
			st->free_chunks = c;
			st->nfree++;
			c = NULL;
		}
		pthread_mutex_unlock(&st->free_lock);
		if (!c)
			return;
	}
	free(c->data);
	free(c);
}

/* The spill file: unlinked at once, in $TMPDIR (else /tmp). */
static int spill_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/hwbp-spill-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd < 0 ? -errno : fd;
}

/* A sealed chunk the consumer is not reading goes to the spill file when
 * memory is past its bound (under the lane's lock). */
static void maybe_spill(struct stream *st, struct lane *l, struct chunk *c)
{
	ssize_t n;

	if (atomic_load(&st->mem) <= st->mem_bound || c == l->first ||
	    !c->data)
		return;
	pthread_mutex_lock(&st->spill_lock);
	if (st->spill_fd < 0)
		st->spill_fd = spill_file();
	n = st->spill_fd < 0 ? -1 :
	    pwrite(st->spill_fd, c->data, atomic_load(&c->used), st->spill_end);
	if (n != (ssize_t)atomic_load(&c->used)) {
		/* (it stays in memory: nothing is lost, memory grows) */
		st->spill_errno = st->spill_fd < 0 ? -st->spill_fd :
				  n < 0 ? errno : ENOSPC;
		atomic_fetch_add(&st->spill_write_errors, 1);
	} else {
		c->spill_off = st->spill_end;
		st->spill_end += n;
		atomic_fetch_sub(&st->mem, c->cap);
		free(c->data);
		c->data = NULL;
		atomic_fetch_add(&st->spilled, (uint64_t)n);
	}
	pthread_mutex_unlock(&st->spill_lock);
}

/* Room for `need` bytes in the producer's chunk, a new one if full. */
static uint8_t *reserve(struct lane *l, size_t need)
{
	struct stream *st = l->st;
	struct chunk *c = l->last, *next;

	if (c && c->cap - c->filling >= need)
		return c->data + c->filling;
	next = chunk_new(st, need);
	if (!next)
		return NULL;
	pthread_mutex_lock(&l->lock);
	if (c) {
		atomic_store_explicit(&c->used, c->filling, memory_order_release);
		c->sealed = true;
		c->next = next;
		maybe_spill(st, l, c);
	} else {
		l->first = next;
	}
	l->last = next;
	pthread_mutex_unlock(&l->lock);
	return next->data;
}

/* ---- the producer side (reader threads) ---- */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static void put(struct lane *l, const struct rec *head, const void *parts[5],
		const size_t lens[5])
{
	size_t size = sizeof(*head);
	struct rec *r;
	uint8_t *p;

	for (int i = 0; i < 5; i++)
		size += pad8(lens[i]);
	p = reserve(l, size);
	if (!p) {
		atomic_fetch_add(&l->st->dropped_oom, 1); /* (any reader) */
		return;
	}
	r = (struct rec *)p;
	*r = *head;
	r->size = (uint32_t)size;
	p += sizeof(*r);
	for (int i = 0; i < 5; i++) {
		if (lens[i])
			memcpy(p, parts[i], lens[i]);
		p += pad8(lens[i]);
	}
	if (!l->last->filling)
		l->last->t_first = head->time_ns;
	l->last->t_last = head->time_ns;
	l->last->hits += head->kind == HWBP_REC_HIT;
	l->last->filling += size;
	if (head->time_ns > l->newest)
		l->newest = head->time_ns;
	l->copied++;
	atomic_fetch_add(&l->st->records, 1);
	atomic_fetch_add(&l->st->bytes, size);
}

/* A record's header and the parts after it (regs, callchain, stack,
 * aux, name), as the stream keeps it. */
static void rec_layout(const struct hwbp_record *r, int loc, struct rec *h,
		       const void *parts[5], size_t lens[5])
{
	*h = (struct rec){ .kind = (uint16_t)r->kind, .loc = loc,
			   .pid = r->pid, .tid = r->tid, .cpu = r->cpu,
			   .time_ns = r->time_ns, .ip = r->ip,
			   .addr = r->addr };
	parts[0] = r->regs;
	parts[1] = r->callchain;
	parts[2] = r->stack;
	parts[3] = r->aux;
	parts[4] = NULL;
	memset(lens, 0, 5 * sizeof(*lens));
	switch (r->kind) {
	case HWBP_REC_HIT:
		h->regs_mask = r->regs ? r->regs_mask : 0;
		h->nregs = (uint16_t)__builtin_popcountll(h->regs_mask);
		h->nchain = (uint16_t)(r->nr_callchain > 0xffff
				       ? 0xffff : r->nr_callchain);
		h->nstack = (uint32_t)r->stack_size;
		h->naux = (uint32_t)r->aux_size;
		lens[0] = h->nregs * 8u;
		lens[1] = h->nchain * 8u;
		lens[2] = h->nstack;
		lens[3] = h->naux;
		break;
	case HWBP_REC_COMM:
		parts[4] = r->comm;
		lens[4] = strlen(r->comm) + 1;
		h->flags = r->exec ? REC_F_EXEC : 0;
		break;
	case HWBP_REC_FORK:
	case HWBP_REC_EXIT:
		h->x = r->ppid;
		h->y = r->ptid;
		break;
	case HWBP_REC_MMAP:
		h->addr = r->map_addr;
		h->x = r->map_len;
		h->y = r->map_pgoff;
		parts[4] = r->filename;
		lens[4] = strlen(r->filename) + 1;
		break;
	case HWBP_REC_SWITCH:
		h->flags = (r->switch_out ? REC_F_SWITCH_OUT : 0) |
			   (r->preempted ? REC_F_PREEMPTED : 0);
		h->x = r->next_prev_pid;
		h->y = r->next_prev_tid;
		break;
	}
	h->nname = (uint32_t)lens[4];
}

void stream_put(const struct hwbp_record *r, int loc)
{
	struct lane *l = this_lane;
	const void *parts[5];
	size_t lens[5];
	struct rec h;

	if (!l)
		return; /* (not called from a reader: cannot happen) */
	rec_layout(r, loc, &h, parts, lens);
	put(l, &h, parts, lens);
}

/* Drops between `since` and `until`, for the consumer (when its 64 slots
 * are full, the last one takes them: its window grows). */
static void put_loss(struct lane *l, uint64_t since, uint64_t until,
		     uint64_t count)
{
	unsigned tail = atomic_load(&l->loss_tail);
	struct rec *r;

	if (tail - atomic_load(&l->loss_head) == 64) {
		l->losses[(tail - 1) % 64].x += count;
		l->losses[(tail - 1) % 64].y = until;
		return;
	}
	r = &l->losses[tail % 64];
	*r = (struct rec){ .size = sizeof(*r), .kind = REC_LOSS, .loc = -1,
			   .cpu = (uint32_t)l->cpu, .time_ns = since + 1,
			   .x = count, .y = until };
	atomic_store_explicit(&l->loss_tail, tail + 1, memory_order_release);
}

/* One pass: the time, the records, the drops before them; how many
 * records it copied.  A reader at home (on the ring's CPU) makes its
 * clock the lane's progress (2); one away, its newest record (1). */
static uint64_t pass(struct lane *l)
{
	struct stream *st = l->st;
	uint64_t t = now_ns(), lost = 0, p, before = l->copied;
	double fill;

	/* Lossless: say it when the ring is past half full (before this pass
	 * empties it), so the program is held before the ring overflows. */
	if (st->ops.on_high_water && st->ops.ring_stat &&
	    st->ops.ring_stat(st->ops.ctx, l->cpu, &lost, &fill) == 0 &&
	    fill > 0.5)
		st->ops.on_high_water(st->ops.ctx);
	st->ops.consume(st->ops.ctx, l->cpu);
	if (st->ops.ring_stat &&
	    st->ops.ring_stat(st->ops.ctx, l->cpu, &lost, &fill) == 0 &&
	    lost > l->lost_seen) {
		put_loss(l, l->newest, now_ns() + CLOCK_MARGIN_NS,
			 lost - l->lost_seen);
		l->lost_seen = lost;
	}
	if (l->last)
		atomic_store_explicit(&l->last->used, l->last->filling,
				      memory_order_release);
	if (l->home || l->cpu < 0)
		t -= CLOCK_MARGIN_NS;
	else if (!l->pinned)
		t -= UNPINNED_MARGIN_NS;
	else
		t = l->newest; /* (1): beyond it, fences */
	p = atomic_load_explicit(&l->progress, memory_order_relaxed);
	if (t > p)
		atomic_store_explicit(&l->progress, t, memory_order_release);
	return l->copied - before;
}

/* Lane l's reader onto its ring's CPU (home) or off it; false if the
 * cpuset refuses. */
static bool go(struct lane *l, bool home)
{
	cpu_set_t here;

	CPU_ZERO(&here);
	CPU_SET(l->cpu, &here);
	if (pthread_setaffinity_np(pthread_self(), sizeof(here),
				   home ? &here : &l->away))
		return false;
	l->home = home;
	return true;
}

/* Where lane l's reader starts: at home, so an idle CPU's lane costs no
 * one anything (its passes are exact at once).  With no other CPU
 * allowed, it stays there (resident); with its CPU out of our cpuset,
 * never (unpinned: T minus a margin). */
static void place(struct lane *l)
{
	cpu_set_t allowed;

	if (l->cpu < 0 || sched_getaffinity(0, sizeof(allowed), &allowed) ||
	    !CPU_ISSET(l->cpu, &allowed))
		return;
	l->away = allowed;
	CPU_CLR(l->cpu, &l->away);
	l->resident = !CPU_COUNT(&l->away);
	l->pinned = go(l, true);
}

/* After a pass: a reader at home whose ring woke it (a watched thread
 * keeps the CPU busy: each wakeup would preempt it) moves away; one away
 * whose ring has had nothing for HOME_IDLE_NS (the CPU went idle) comes
 * home.  (Not at a pass that merely came soon after the last: each move
 * home and back preempted the program twice.) */
static void settle(struct lane *l, bool ring_woke, uint64_t copied)
{
	if (!l->pinned || l->resident)
		return;
	if (l->home && ring_woke)
		go(l, false);
	else if (!l->home && !copied && now_ns() > l->newest + HOME_IDLE_NS)
		l->pinned = go(l, true);
}

/* A pass at home (2) when the consumer waits for progress the records
 * read do not give, and the clock has reached it.  On a busy CPU the move
 * there and back preempts its thread twice: on demand only, and at most
 * every POKE_NS (poke_behind). */
static void fence(struct lane *l)
{
	uint64_t want = atomic_load(&l->wanted);

	if (!l->pinned || l->home || atomic_load(&l->progress) >= want ||
	    want + CLOCK_MARGIN_NS > now_ns())
		return;
	if (!(l->pinned = go(l, true)))
		return; /* the cpuset changed: a margin from now */
	if (pass(l))
		go(l, false);
}

void stream_prioritize(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	/* A reader's turn comes before the watched threads' (its work is a
	 * copy, then it sleeps), where allowed (root, CAP_SYS_NICE): on a
	 * CPU the program keeps busy, a woken reader of equal priority waits
	 * for the scheduler's fairness, milliseconds in which a ring fills.
	 * Else a better nice value, else as it is. */
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) &&
	    setpriority(PRIO_PROCESS, (id_t)gettid(), -10))
		return;
}

static void *reader(void *arg)
{
	struct lane *l = arg;
	struct stream *st = l->st;
	struct epoll_event ev = { .events = EPOLLIN }, got[2];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t one = 1, v;

	this_lane = l;
	place(l);
	stream_prioritize();
	ev.data.fd = l->fd;
	if (l->fd >= 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev);
	ev.data.fd = l->poke;
	epoll_ctl(ep, EPOLL_CTL_ADD, l->poke, &ev);
	while (!atomic_load(&st->stop)) {
		int n = epoll_wait(ep, got, 2, READER_TICK_MS);
		bool ring_woke = false;

		/* A ring whose events are all gone (the program exited) polls
		 * as hung up, always: watched on, it would keep this
		 * real-time thread running, and on one CPU nothing else would
		 * (the control thread could not see the exit: a QEMU guest
		 * hung).  Its last records come at the ticks and pokes. */
		for (int i = 0; i < n; i++) {
			if (got[i].data.fd != l->fd)
				continue;
			ring_woke = got[i].events & EPOLLIN;
			if (got[i].events & (EPOLLHUP | EPOLLERR))
				epoll_ctl(ep, EPOLL_CTL_DEL, l->fd, NULL);
		}
		if (read(l->poke, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		atomic_store(&l->poked, false);
		settle(l, ring_woke, pass(l));
		fence(l);
		if (write(st->wake, &one, sizeof(one)) < 0)
			break;
	}
	pass(l); /* what came in last */
	close(ep);
	return NULL;
}

/* ---- the consumer side ---- */

int stream_new(struct stream **out, const struct stream_ops *ops,
	       const int *cpus, const int *fds, int n, size_t mem_bound)
{
	struct stream *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st)
		return -ENOMEM;
	st->ops = *ops;
	st->mem_bound = mem_bound;
	st->spill_fd = -1;
	pthread_mutex_init(&st->spill_lock, NULL);
	pthread_mutex_init(&st->free_lock, NULL);
	pthread_mutex_init(&st->outside_lock, NULL);
	st->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	st->lanes = calloc((size_t)(n > 0 ? n : 1), sizeof(*st->lanes));
	if (st->wake < 0 || !st->lanes) {
		stream_free(st);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct lane *l = &st->lanes[st->nlanes++];

		l->st = st;
		l->cpu = cpus[i];
		l->fd = fds[i];
		pthread_mutex_init(&l->lock, NULL);
		l->poke = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->poke < 0) {
			stream_free(st);
			return -errno;
		}
	}
	*out = st;
	return 0;
}

/* ---- replay: records given by the caller (benchmarks, tests) ---- */

int stream_new_replay_bound(struct stream **out, size_t mem_bound)
{
	struct stream_ops none = { 0 };
	int cpu = -1, fd = -1, err = stream_new(out, &none, &cpu, &fd, 1,
					       mem_bound);

	if (!err)
		(*out)->final = true;
	return err;
}

int stream_new_replay(struct stream **out)
{
	return stream_new_replay_bound(out, SIZE_MAX);
}

void stream_replay_put(struct stream *st, const struct hwbp_record *r, int loc)
{
	struct lane *l = &st->lanes[0];

	this_lane = l;
	stream_put(r, loc);
	this_lane = NULL;
	if (l->last)
		atomic_store_explicit(&l->last->used, l->last->filling,
				      memory_order_release);
}

int stream_start(struct stream *st)
{
	for (int i = 0; i < st->nlanes; i++) {
		struct lane *l = &st->lanes[i];
		int err = pthread_create(&l->thread, NULL, reader, l);
		char name[16];

		if (err)
			return -err;
		/* (top -H, perf sched: which of hwbp's threads ran) */
		snprintf(name, sizeof(name), "hwbp-ring%d", l->cpu);
		pthread_setname_np(l->thread, name);
		l->started = true;
	}
	return 0;
}

int stream_wake_fd(const struct stream *st)
{
	return st->wake;
}

void stream_finish(struct stream *st)
{
	uint64_t v;

	atomic_store(&st->stop, true);
	for (int i = 0; i < st->nlanes; i++) {
		struct lane *l = &st->lanes[i];
		uint64_t one = 1;

		if (!l->started)
			continue;
		if (write(l->poke, &one, sizeof(one)) < 0)
			continue;
	}
	for (int i = 0; i < st->nlanes; i++)
		if (st->lanes[i].started) {
			pthread_join(st->lanes[i].thread, NULL);
			st->lanes[i].started = false;
		}
	st->final = true;
	if (read(st->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
}

/* Bring a spilled chunk back (under the lane's lock). */
static bool unspill(struct stream *st, struct chunk *c)
{
	size_t used = atomic_load(&c->used);
	ssize_t n;

	if (c->data)
		return true;
	c->data = data_alloc(c->cap);
	if (!c->data) {
		st->spill_errno = ENOMEM;
		return false;
	}
	n = pread(st->spill_fd, c->data, used, c->spill_off);
	if (n != (ssize_t)used) {
		st->spill_errno = n < 0 ? errno : EIO; /* (cut short) */
		free(c->data);
		c->data = NULL;
		return false;
	}
	atomic_fetch_add(&st->mem, c->cap);
	return true;
}

/* A spilled chunk that did not come back (under the lane's lock): its
 * records count as lost, handed out as a REC_LOSS over the time they span
 * (the value chains are unsure from there), and it is left empty.  One at a
 * time: the lane stops at it until stream_next has handed it out. */
static void lose_spilled(struct stream *st, struct lane *l, struct chunk *c)
{
	l->spill_loss = (struct rec){ .size = sizeof(struct rec),
				       .kind = REC_LOSS, .loc = -1,
				       .cpu = (uint32_t)l->cpu,
				       .time_ns = c->t_first, .x = c->hits,
				       .y = c->t_last };
	st->stats.spill_errors++;
	st->stats.spill_lost += c->hits;
	atomic_store(&c->used, 0);
	c->hits = 0;
	l->spill_lost = true;
}

/* The lane's next record (not taken), or NULL if none is published.  A
 * chunk the consumer leaves is freed: the record handed out by the
 * previous stream_next (the caller's until this call) may go with it. */
static const struct rec *head_of(struct stream *st, struct lane *l)
{
	for (;;) {
		struct chunk *c, *next;

		pthread_mutex_lock(&l->lock);
		c = l->first;
		pthread_mutex_unlock(&l->lock);
		if (!c)
			return NULL;
		if (l->read_off < atomic_load_explicit(&c->used,
						       memory_order_acquire))
			return (const struct rec *)(c->data + l->read_off);
		if (l->spill_lost)
			return &l->spill_loss;
		pthread_mutex_lock(&l->lock);
		next = c->sealed ? c->next : NULL;
		if (next && !unspill(st, next))
			lose_spilled(st, l, next); /* (empty now) */
		if (next) {
			l->first = next;
			l->read_off = 0;
		}
		pthread_mutex_unlock(&l->lock);
		if (!next)
			return NULL;
		chunk_free(st, c);
	}
}

/* Poke the readers whose progress holds the others back, to read, and
 * fence if their records do not reach t - once the clock has: before, a
 * fence cannot give t (records up to it can still come).  Not more often
 * than every POKE_NS a reader: at a high rate each poke is a wakeup, and
 * a fence a preemption of the CPU's thread (a server lost half its
 * requests/s), while its ring's own wakeups bring them in batches. */
static void poke_behind(struct stream *st, uint64_t t)
{
	uint64_t one = 1, now = now_ns();

	if (t + CLOCK_MARGIN_NS > now)
		return;
	for (int i = 0; i < st->nlanes; i++) {
		struct lane *l = &st->lanes[i];

		if (atomic_load(&l->progress) > t ||
		    now - l->poked_at < POKE_NS)
			continue;
		if (atomic_load(&l->wanted) < t)
			atomic_store(&l->wanted, t);
		if (atomic_exchange(&l->poked, true))
			continue;
		l->poked_at = now;
		if (write(l->poke, &one, sizeof(one)) < 0)
			atomic_store(&l->poked, false);
	}
}

/* The consumer looks now (else at its 100 ms tick anyway). */
static void wake_consumer(struct stream *st)
{
	uint64_t one = 1;

	if (write(st->wake, &one, sizeof(one)) < 0)
		return; /* (full or closed: it looks at its tick) */
}

/*
 * A loss from outside the rings: hits the kernel never recorded (the
 * guard's SIGTRAPs with no cause).  Dated window_ns before now, read
 * under the lock after outside_n counts it: a consumer that did not see
 * it read the lanes' progress before, so it handed out only records
 * stamped before now - ORDER_WINDOW_NS (stream_next's lag) - nothing at
 * or after the loss's time, as long as window_ns <= ORDER_WINDOW_NS.
 * Its window ends at now: the value chains are unsure over all of it -
 * from after tid's newest hit in it, where the loss is tid's (not 0):
 * narrow_outside.
 */
void stream_lose_outside(struct stream *st, uint64_t count,
			 uint64_t window_ns, uint32_t tid)
{
	uint64_t now;
	unsigned n;

	pthread_mutex_lock(&st->outside_lock);
	n = atomic_fetch_add(&st->outside_n, 1); /* (before the clock) */
	now = now_ns();
	if (n == OUTSIDE_MAX) { /* (full: the last one's window grows; a
				  * loss: a hit never takes the last slot) */
		struct rec *last = &st->outside[(st->outside_head + n - 1) %
						OUTSIDE_MAX].r;

		atomic_fetch_sub(&st->outside_n, 1);
		last->x += count;
		last->y = now;
		last->tid = 0; /* (several threads' now: not narrowed) */
	} else {
		st->outside[(st->outside_head + n) % OUTSIDE_MAX] =
			(struct outside){ .r = {
				.size = sizeof(struct rec), .kind = REC_LOSS,
				.loc = -1, .cpu = UINT32_MAX, .tid = tid,
				.x = count, .y = now,
				.time_ns = now > window_ns ? now - window_ns
							   : 0 } };
	}
	pthread_mutex_unlock(&st->outside_lock);
	wake_consumer(st);
}

/* A copy of r as the stream keeps it, in memory of its own. */
static struct rec *rec_copy(const struct hwbp_record *r, int loc)
{
	const void *parts[5];
	size_t lens[5], size = sizeof(struct rec);
	struct rec h, *x;
	uint8_t *p;

	rec_layout(r, loc, &h, parts, lens);
	for (int i = 0; i < 5; i++)
		size += pad8(lens[i]);
	if (!(x = calloc(1, size)))
		return NULL;
	*x = h;
	x->size = (uint32_t)size;
	p = (uint8_t *)(x + 1);
	for (int i = 0; i < 5; i++) {
		if (lens[i])
			memcpy(p, parts[i], lens[i]);
		p += pad8(lens[i]);
	}
	return x;
}

/*
 * A recovered hit: dated and ordered as an outside loss of its thread
 * (above), so the consumer has handed out nothing after its window's
 * start.  It never takes the last slot (a loss may need it).
 */
int stream_recover_outside(struct stream *st, const struct hwbp_record *r,
			   int loc, uint64_t window_ns)
{
	struct rec *hit = rec_copy(r, loc);
	uint64_t now;
	unsigned n;

	if (!hit)
		return -ENOMEM;
	hit->flags |= REC_F_RECOVERED;
	pthread_mutex_lock(&st->outside_lock);
	n = atomic_fetch_add(&st->outside_n, 1); /* (before the clock) */
	if (n >= OUTSIDE_MAX - 1) {
		atomic_fetch_sub(&st->outside_n, 1);
		pthread_mutex_unlock(&st->outside_lock);
		free(hit);
		return -ENOSPC;
	}
	now = now_ns();
	st->outside[(st->outside_head + n) % OUTSIDE_MAX] =
		(struct outside){ .hit = hit, .r = {
			.size = sizeof(struct rec), .kind = HWBP_REC_HIT,
			.loc = loc, .cpu = UINT32_MAX, .tid = r->tid,
			.y = now,
			.time_ns = now > window_ns ? now - window_ns : 0 } };
	pthread_mutex_unlock(&st->outside_lock);
	wake_consumer(st);
	return 0;
}

/* Visit lane l's records waiting in memory, from the consumer's place
 * on, up to the first stamped after `to`, until visit returns true (then
 * true); a chunk spilled to the file is visited as (NULL, chunk).  Under
 * the lane's lock, which keeps the producer from moving the chunks. */
static bool lane_scan(struct lane *l, uint64_t to,
		      bool (*visit)(const struct rec *x,
				    const struct chunk *spilled, void *ctx),
		      void *ctx)
{
	size_t off = l->read_off;
	bool stop = false;

	pthread_mutex_lock(&l->lock);
	for (struct chunk *c = l->first; c && !stop; c = c->next, off = 0) {
		const uint8_t *p, *end;

		if (!c->data) {
			stop = visit(NULL, c, ctx);
			continue;
		}
		p = c->data + off;
		end = c->data + atomic_load_explicit(&c->used,
						     memory_order_acquire);
		for (; p < end && !stop; p += ((const struct rec *)p)->size) {
			const struct rec *x = (const struct rec *)p;

			if (!x->size || x->time_ns > to)
				break;
			stop = visit(x, NULL, ctx);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return stop;
}

/* What narrow_outside and racer_within look for: x's thread (tid) or
 * chain, from `from` on; newest the latest of tid's hits seen. */
struct scan_for {
	const struct rec *x;
	uint32_t tid;
	uint64_t from, to, newest;
};

/* (a user-mode store of tid: none while its thread is stopped in the
 * SIGTRAP; a spilled chunk is passed over: then less is narrowed, never
 * wrongly) */
static bool newest_of_tid(const struct rec *x, const struct chunk *spilled,
			  void *ctx)
{
	struct scan_for *f = ctx;

	if (!spilled && x->kind == HWBP_REC_HIT && x->tid == f->tid &&
	    x->time_ns >= f->from && (int64_t)x->ip >= 0 &&
	    x->time_ns > f->newest)
		f->newest = x->time_ns;
	return false;
}

/*
 * Narrow an outside loss of one thread: the hit was that thread's last
 * store before its SIGTRAP (it has been stopped since, until after the
 * loss's end), so it came after every hit of that thread stamped before
 * the end.  Run once every record up to the end is in (cutoff past it):
 * the loss then starts after the newest of them.
 */
static void narrow_outside(struct stream *st, struct rec *x)
{
	struct scan_for f = { .tid = x->tid, .from = x->time_ns };

	for (int i = 0; i < st->nlanes; i++)
		lane_scan(&st->lanes[i], x->y, newest_of_tid, &f);
	if (f.newest >= x->time_ns)
		x->time_ns = f.newest + 1;
	x->tid = 0; /* (narrowed) */
}

/* A hit of another thread in f->x's chain stamped from f->from to f->to;
 * a spilled chunk that may hold one counts (unsure is never wrong). */
static bool racer(const struct rec *h, const struct chunk *spilled,
		  void *ctx)
{
	const struct scan_for *f = ctx;

	if (spilled)
		return spilled->hits && spilled->t_first <= f->to &&
		       spilled->t_last >= f->from;
	return h->kind == HWBP_REC_HIT && h->tid != f->x->tid &&
	       h->time_ns >= f->from && rec_same_chain(h, f->x);
}

/* A recovered hit, its window narrowed, as it is handed out: dated at
 * the window's start (the earliest it can have been), its order unsure
 * when another thread's hit of its chain was stamped in the window or
 * within ORDER_WINDOW_NS after it - then y says until when. */
static struct rec *place_recovered(struct stream *st, struct outside *o)
{
	struct rec *hit = o->hit;
	uint64_t end = o->r.y + ORDER_WINDOW_NS;
	struct scan_for f = { .x = hit, .from = o->r.time_ns, .to = end };

	hit->time_ns = o->r.time_ns;
	hit->y = end;
	for (int i = 0; i < st->nlanes; i++)
		if (lane_scan(&st->lanes[i], end, racer, &f)) {
			hit->flags |= REC_F_ORDER_UNSURE;
			break;
		}
	free(st->recovered); /* (the one before: the consumer is done) */
	st->recovered = hit;
	o->hit = NULL;
	return hit;
}

/* The first outside loss or hit into *out, if before t and before lane
 * loss r (NULL: none): 1.  -1 while it waits for every record up to its
 * end (a hit's: and ORDER_WINDOW_NS after, for its racers), when nothing
 * after its start may be handed out; else 0. */
static int outside_before(struct stream *st, uint64_t t, const struct rec *r,
			  uint64_t cutoff, const struct rec **out,
			  uint64_t *until)
{
	struct outside *x;
	uint64_t end;
	int take;

	pthread_mutex_lock(&st->outside_lock);
	x = &st->outside[st->outside_head];
	end = x->r.y + (x->hit ? ORDER_WINDOW_NS : 0);
	take = atomic_load(&st->outside_n) && x->r.time_ns <= t &&
	       (!r || x->r.time_ns <= r->time_ns);
	if (take && end >= cutoff) {
		take = -1;
		*until = end;
	}
	if (take > 0 && x->r.tid) {
		narrow_outside(st, &x->r);
		take = x->r.time_ns <= t && (!r || x->r.time_ns <= r->time_ns);
	}
	if (take > 0) {
		if (x->hit) {
			*out = place_recovered(st, x);
		} else {
			st->loss = x->r;
			*out = &st->loss;
		}
		st->outside_head = (st->outside_head + 1) % OUTSIDE_MAX;
		atomic_fetch_sub(&st->outside_n, 1);
	}
	pthread_mutex_unlock(&st->outside_lock);
	return take;
}

/* The earliest drop not handed out yet, of any lane, or outside loss
 * or hit, if before t; *wait (else 0): an outside one waits for records
 * stamped up to then (nothing may be handed out meanwhile). */
static const struct rec *loss_before(struct stream *st, uint64_t t,
				     uint64_t cutoff, uint64_t *wait)
{
	struct lane *best = NULL;
	const struct rec *r = NULL;

	for (int i = 0; i < st->nlanes; i++) {
		struct lane *l = &st->lanes[i];
		unsigned head = atomic_load(&l->loss_head);
		const struct rec *x;

		if (head == atomic_load_explicit(&l->loss_tail,
						 memory_order_acquire))
			continue;
		x = &l->losses[head % 64];
		if (x->time_ns <= t && (!r || x->time_ns < r->time_ns)) {
			r = x;
			best = l;
		}
	}
	if (atomic_load(&st->outside_n)) {
		const struct rec *x = NULL;
		int o = outside_before(st, t, r, cutoff, &x, wait);

		if (o)
			return x;
	}
	if (!best)
		return NULL;
	st->loss = *r; /* the slot is the producer's again */
	atomic_store(&best->loss_head, atomic_load(&best->loss_head) + 1);
	return &st->loss;
}

void stream_poke_all(struct stream *st)
{
	uint64_t one = 1;

	for (int i = 0; i < st->nlanes; i++)
		if (!atomic_exchange(&st->lanes[i].poked, true) &&
		    write(st->lanes[i].poke, &one, sizeof(one)) < 0)
			atomic_store(&st->lanes[i].poked, false);
}

/* A hit in lane l, from its head h on, stamped by end, that may have come
 * before r: of another thread, on another CPU, in r's chain; NULL if none.
 * Each lane is in true order (one CPU's ring, or one thread's), so a
 * record of r's thread, or on r's CPU, truly follows r, and so does all
 * that is behind it in its lane.  Only hits race (a thread's exit near a
 * hit made the demo's exact values approximate), and only in one chain.
 * Every record stamped by end is in the lane (stream_next hands r out only
 * then): the lane's end says none.  Looked for in the head's chunk only
 * (the producer may spill the others to the file meanwhile) and in
 * RACE_SCAN records at most (it runs for every hit): beyond either, h, as
 * if it raced - as every record in the window did before. */
static const struct rec *racer_in(struct lane *l, const struct rec *h,
				  const struct rec *r, uint64_t end)
{
	const uint8_t *p = (const uint8_t *)h, *stop;
	struct chunk *c;
	bool sealed;

	pthread_mutex_lock(&l->lock);
	c = l->first;
	sealed = c->sealed;
	pthread_mutex_unlock(&l->lock);
	if (!c->data)
		return h; /* (h: a chunk's loss, in which anything may race) */
	stop = c->data + atomic_load_explicit(&c->used, memory_order_acquire);
	for (int n = 0; p < stop && n < RACE_SCAN; n++) {
		const struct rec *x = (const struct rec *)p;

		if (x->time_ns > end || x->tid == r->tid || x->cpu == r->cpu)
			return NULL;
		if (x->kind == HWBP_REC_HIT && rec_same_chain(x, r))
			return x;
		if (!x->size)
			return h; /* (never: a record has a size) */
		p += x->size;
	}
	return p < stop || sealed ? h : NULL;
}

/* May a hit stamped within the order window after r have come first? */
static bool order_unsure(struct stream *st, const struct lane *own,
			 const struct rec *r)
{
	uint64_t end = r->time_ns + ORDER_WINDOW_NS;

	for (int i = 0; i < st->nlanes; i++) {
		const struct rec *h = st->lanes[i].head;

		if (&st->lanes[i] != own && h && h->time_ns <= end &&
		    racer_in(&st->lanes[i], h, r, end))
			return true;
	}
	return false;
}

const struct rec *stream_next(struct stream *st)
{
	struct lane *best = NULL;
	const struct rec *r = NULL, *loss;
	uint64_t cutoff = UINT64_MAX, wait = 0;

	for (int i = 0; i < st->nlanes; i++) {
		struct lane *l = &st->lanes[i];
		const struct rec *h = head_of(st, l);
		uint64_t p = atomic_load_explicit(&l->progress,
						  memory_order_acquire);

		l->head = h;
		if (!st->final && p < cutoff)
			cutoff = p;
		if (h && (!r || h->time_ns < r->time_ns)) {
			r = h;
			best = l;
		}
	}
	/* Drops (and recovered hits) come before the next record, and
	 * before the cutoff. */
	loss = cutoff ? loss_before(st, r && r->time_ns < cutoff ? r->time_ns
							       : cutoff - 1,
				    cutoff, &wait)
		      : NULL;
	if (wait) {
		poke_behind(st, wait);
		return NULL;
	}
	if (loss) {
		if (loss->kind == REC_LOSS)
			st->stats.losses += loss->x;
		return loss;
	}
	if (!r)
		return NULL;
	if (cutoff != UINT64_MAX && r->time_ns + ORDER_WINDOW_NS >= cutoff) {
		poke_behind(st, r->time_ns + ORDER_WINDOW_NS);
		return NULL;
	}
	if (r->kind == HWBP_REC_HIT && order_unsure(st, best, r))
		((struct rec *)r)->flags |= REC_F_ORDER_UNSURE; /* (ours now) */
	if (r->time_ns < st->last_time)
		st->stats.late++;
	else
		st->last_time = r->time_ns;
	if (r == &best->spill_loss) {
		st->stats.losses += r->x;
		best->spill_lost = false;
	} else {
		best->read_off += r->size;
	}
	return r;
}

int stream_wait(struct stream *st, int timeout_ms)
{
	struct pollfd pf = { .fd = st->wake, .events = POLLIN };
	uint64_t v;

	if (st->final)
		return 0;
	if (poll(&pf, 1, timeout_ms) < 0 && errno != EINTR)
		return -errno;
	if (read(st->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

void stream_get_stats(const struct stream *st, struct stream_stats *out)
{
	*out = st->stats;
	out->records = atomic_load(&st->records);
	out->bytes = atomic_load(&st->bytes);
	out->spilled = atomic_load(&st->spilled);
	out->dropped_oom = atomic_load(&st->dropped_oom);
	out->spill_write_errors = atomic_load(&st->spill_write_errors);
	out->spill_errno = st->spill_errno;
	out->lanes = st->nlanes;
	for (int i = 0; i < st->nlanes; i++)
		out->unpinned += st->lanes[i].cpu >= 0 && !st->lanes[i].pinned;
}

void stream_free(struct stream *st)
{
	if (!st)
		return;
	if (!st->final)
		stream_finish(st);
	for (int i = 0; i < st->nlanes; i++) {
		struct lane *l = &st->lanes[i];
		struct chunk *c = l->first, *next;

		for (; c; c = next) {
			next = c->next;
			chunk_free(st, c);
		}
		if (l->poke >= 0)
			close(l->poke);
		pthread_mutex_destroy(&l->lock);
	}
	free(st->lanes);
	if (st->wake >= 0)
		close(st->wake);
	if (st->spill_fd >= 0)
		close(st->spill_fd);
	while (st->free_chunks) {
		struct chunk *c = st->free_chunks;

		st->free_chunks = c->next;
		free(c->data);
		free(c);
	}
	pthread_mutex_destroy(&st->spill_lock);
	pthread_mutex_destroy(&st->free_lock);
	pthread_mutex_destroy(&st->outside_lock);
	for (int i = 0; i < OUTSIDE_MAX; i++)
		free(st->outside[i].hit);
	free(st->recovered);
	free(st);
}
