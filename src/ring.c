/* SPDX-License-Identifier: MIT */
/*
 * ring.c - ring-buffer delivery.  Each ring belongs to a software "dummy"
 * event (as perf record does); breakpoint events send their samples to it
 * with PERF_EVENT_IOC_SET_OUTPUT, so moving or reopening a breakpoint never
 * remaps a buffer.  A process is followed with per-CPU rings, because an
 * inherited per-task event cannot be mmapped.  Records are decoded with
 * bounds checks; the kernel's LOST records are added up, never hidden.
 */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"


/* The ring's own dummy event: the side-band records asked for. */
static void ring_attr(const struct hwbp *bp, struct perf_event_attr *a)
{
	*a = (struct perf_event_attr){
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(*a),
		.config = PERF_COUNT_SW_DUMMY,
		.exclude_kernel = 1,
		.exclude_hv = 1,
		.use_clockid = 1,
		.clockid = CLOCK_MONOTONIC,
		.sample_id_all = 1,
	};
	if (bp->req.task_events) {
		/* Names and lifetimes of the tasks, and of those they create. */
		a->comm = 1;
		a->comm_exec = 1;
		a->task = 1;
	}
	/* Executable mappings (mmap2: with the file offset and name), so
	 * code addresses can be named after the task or its library is
	 * gone; data mappings are not asked for. */
	a->mmap = bp->req.mmap_events;
	a->mmap2 = bp->req.mmap_events;
	/* Tasks getting and leaving a CPU: per-task events see their own
	 * task's switches, CPU-wide ones every task's (SWITCH_CPU_WIDE). */
	a->context_switch = bp->req.switch_events;
	/* Inherited like the breakpoints even with nothing to record: a new
	 * thread's perf context then equals its creator's, so the kernel
	 * swaps them at a switch instead of reloading the debug registers
	 * (a plain process ring measured +27 us per switch in a VM). */
	a->inherit = bp->req.scope == HWBP_SCOPE_PROCESS && bp->req.follow;
	/* The sample_id trailer of each record says who, when and where. */
	if (bp->req.task_events || bp->req.switch_events ||
	    bp->req.mmap_events)
		a->sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
				 PERF_SAMPLE_CPU;
}

static int open_ring(struct hwbp *bp, struct hwbp_ring *r, pid_t tid, int cpu)
{
	struct perf_event_attr a;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct epoll_event ev = { .events = EPOLLIN };
	long fd;

	ring_attr(bp, &a);
	fd = hwbp_perf_event_open(&a, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	if (fd < 0) {
		if (errno == ENODEV)
			return -ENODEV;
		return hwbp_explain_open_error(errno, bp, &bp->req.place, tid,
					       cpu);
	}
	r->fd = (int)fd;
	r->cpu = cpu;
	r->scratch = malloc(HWBP_RECORD_SCRATCH);
	if (!r->scratch) {
		close(r->fd);
		return hwbp_fail(ENOMEM, "out of memory for a ring");
	}
	r->size = page * (1 + bp->req.ring_pages);
	r->base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       r->fd, 0);
	if (r->base == MAP_FAILED) {
		int err = errno;

		free(r->scratch);
		close(r->fd);
		return hwbp_fail(err, "mmap of a %u-page ring failed: %s (the "
				 "limit is kernel.perf_event_mlock_kb per user)",
				 bp->req.ring_pages, strerror(err));
	}
	ev.data.ptr = r;
	if (epoll_ctl(bp->epfd, EPOLL_CTL_ADD, r->fd, &ev)) {
		int err = errno;

		munmap(r->base, r->size);
		free(r->scratch);
		close(r->fd);
		return hwbp_fail(err, "epoll_ctl on a ring failed");
	}
	return 0;
}

static int ring_targets(struct hwbp *bp, pid_t *tid, int **cpus, int *n)
{
	switch (bp->req.scope) {
	case HWBP_SCOPE_SELF:
	case HWBP_SCOPE_THREAD:
		*tid = bp->req.scope == HWBP_SCOPE_SELF ? gettid() : bp->req.pid;
		*n = 1;
		*cpus = malloc(sizeof(int));
		if (*cpus)
			(*cpus)[0] = -1;
		break;
	case HWBP_SCOPE_PROCESS:
		*tid = bp->req.pid;
		*n = get_nprocs_conf();
		*cpus = malloc(*n * sizeof(int));
		for (int c = 0; *cpus && c < *n; c++)
			(*cpus)[c] = c;
		break;
	case HWBP_SCOPE_CPUS:
		*tid = -1;
		*n = bp->req.ncpus;
		*cpus = malloc(*n * sizeof(int));
		if (*cpus)
			memcpy(*cpus, bp->req.cpus, *n * sizeof(int));
		break;
	}
	return *cpus ? 0 : hwbp_fail(ENOMEM, "out of memory for rings");
}

static int push_side(struct hwbp *bp, int fd)
{
	int *fds = realloc(bp->side_fds, (bp->nside + 1) * sizeof(int));

	if (!fds) {
		close(fd);
		return hwbp_fail(ENOMEM, "out of memory for switch events");
	}
	bp->side_fds = fds;
	bp->side_fds[bp->nside++] = fd;
	return 0;
}

/* Thread tid's own switch records, one event per ring (CPU), written into
 * the rings.  -ESRCH: it exited meanwhile. */
static int open_side(struct hwbp *bp, pid_t tid)
{
	struct perf_event_attr a;
	int err = 0;

	ring_attr(bp, &a);
	/* the ring's event has those */
	a.comm = a.comm_exec = a.task = a.mmap = a.mmap2 = 0;
	for (int i = 0; i < bp->nrings && !err; i++) {
		long fd = hwbp_perf_event_open(&a, tid, bp->rings[i].cpu, -1,
					       PERF_FLAG_FD_CLOEXEC);

		if (fd < 0 && errno == ESRCH)
			return -ESRCH;
		if (fd < 0)
			return hwbp_explain_open_error(errno, bp,
						       &bp->req.place, tid,
						       bp->rings[i].cpu);
		if ((err = push_side(bp, (int)fd)))
			return err;
		if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, bp->rings[i].fd))
			err = hwbp_fail(errno, "PERF_EVENT_IOC_SET_OUTPUT of a "
					"switch event failed (tid %d)",
					(int)tid);
	}
	return err;
}

static bool listed(const pid_t *v, int n, pid_t tid)
{
	for (int i = 0; i < n; i++)
		if (v[i] == tid)
			return true;
	return false;
}

/*
 * The rings' inherited event covers the process's first thread and the
 * tasks created after it; the threads already running get their own
 * switch events, pass after pass until no new thread shows up (one may
 * be created by a thread not yet covered).
 */
static int open_sides(struct hwbp *bp)
{
	pid_t *done = NULL, *tids;
	int ndone = 0, n, err = 0, added = 1;

	for (int pass = 0; pass < 100 && added && !err; pass++) {
		if ((err = hwbp_list_threads(bp->req.pid, &tids, &n)))
			break;
		added = 0;
		for (int i = 0; i < n && !err; i++) {
			pid_t *d;

			if (tids[i] == bp->req.pid || listed(done, ndone, tids[i]))
				continue;
			if (!(d = realloc(done, (ndone + 1) * sizeof(pid_t)))) {
				err = hwbp_fail(ENOMEM, "out of memory");
				break;
			}
			done = d;
			done[ndone++] = tids[i];
			err = open_side(bp, tids[i]);
			if (err == -ESRCH) {
				err = 0;
				hwbp_clear_error();
			}
			added++;
		}
		free(tids);
		added = added && bp->req.follow;
	}
	free(done);
	return err;
}

int hwbp_rings_open(struct hwbp *bp)
{
	int *cpus = NULL, n = 0, err;
	pid_t tid = -1;

	bp->ring_owner = bp;
	if (bp->req.share_ring) { /* its events write into another's rings */
		bp->ring_owner = bp->req.share_ring;
		return 0;
	}
	bp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (bp->epfd < 0)
		return hwbp_fail(errno, "epoll_create1 failed");
	err = ring_targets(bp, &tid, &cpus, &n);
	if (err)
		return err;
	bp->rings = calloc((size_t)n, sizeof(*bp->rings));
	if (!bp->rings) {
		free(cpus);
		return hwbp_fail(ENOMEM, "out of memory for rings");
	}
	for (int i = 0; i < n; i++) {
		err = open_ring(bp, &bp->rings[bp->nrings], tid, cpus[i]);
		if (err == -ENODEV) /* offline CPU */
			continue;
		if (err)
			break;
		bp->nrings++;
	}
	free(cpus);
	if (err == -ENODEV)
		err = 0;
	if (!err && bp->req.switch_events && bp->req.scope == HWBP_SCOPE_PROCESS)
		err = open_sides(bp);
	if (!err)
		hwbp_bpf_open(bp); /* (a refusal keeps perf's samples) */
	return err;
}

void hwbp_rings_close(struct hwbp *bp)
{
	hwbp_bpf_close(bp);
	for (int i = 0; i < bp->nside; i++)
		close(bp->side_fds[i]);
	free(bp->side_fds);
	bp->side_fds = NULL;
	bp->nside = 0;
	for (int i = 0; i < bp->nrings; i++) {
		munmap(bp->rings[i].base, bp->rings[i].size);
		free(bp->rings[i].scratch);
		close(bp->rings[i].fd);
	}
	free(bp->rings);
	bp->rings = NULL;
	bp->nrings = 0;
	if (bp->epfd >= 0)
		close(bp->epfd);
	bp->epfd = -1;
}

int hwbp_ring_attach(struct hwbp *bp, int fd, int cpu, pid_t tid)
{
	const struct hwbp *o = bp->ring_owner ? bp->ring_owner : bp;

	for (int i = 0; i < o->nrings; i++) {
		if (o->rings[i].cpu != cpu)
			continue;
		if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, o->rings[i].fd))
			return hwbp_fail(errno, "PERF_EVENT_IOC_SET_OUTPUT to "
					 "the ring of CPU %d failed (tid %d)",
					 cpu, (int)tid);
		/* the ring's samples have one layout: its owner's */
		return hwbp_bpf_attach(o, fd, tid);
	}
	return hwbp_fail(ENODEV, "no ring for CPU %d", cpu);
}

/* ---- decoding ---- */

struct cursor {
	const uint8_t *p, *end;
};

static bool take(struct cursor *c, void *out, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return false;
	if (out)
		memcpy(out, c->p, n);
	c->p += n;
	return true;
}

static bool take_array(struct cursor *c, uint64_t count, size_t elem,
		       const void **out)
{
	if (count > (size_t)(c->end - c->p) / elem)
		return false;
	*out = c->p;
	c->p += count * elem;
	return true;
}

int hwbp_decode_sample(const void *body, size_t size, uint64_t t,
		       uint64_t regs_mask, struct hwbp_record *r)
{
	struct cursor c = { body, (const uint8_t *)body + size };
	uint32_t pair[2] = { 0, 0 };
	uint64_t v = 0;
	bool ok = true;

	memset(r, 0, sizeof(*r));
	if (t & PERF_SAMPLE_IP)
		ok = ok && take(&c, &r->ip, 8);
	if (t & PERF_SAMPLE_TID) {
		ok = ok && take(&c, pair, 8);
		r->pid = pair[0];
		r->tid = pair[1];
	}
	if (t & PERF_SAMPLE_TIME)
		ok = ok && take(&c, &r->time_ns, 8);
	if (t & PERF_SAMPLE_ADDR)
		ok = ok && take(&c, &r->addr, 8);
	if (t & PERF_SAMPLE_CPU) {
		ok = ok && take(&c, pair, 8);
		r->cpu = pair[0];
	}
	if (ok && (t & PERF_SAMPLE_CALLCHAIN)) {
		const void *ips;

		ok = take(&c, &v, 8) && take_array(&c, v, 8, &ips);
		r->nr_callchain = ok ? (uint32_t)v : 0;
		r->callchain = ok ? ips : NULL;
	}
	if (ok && (t & PERF_SAMPLE_REGS_USER)) {
		const void *regs;

		ok = take(&c, &v, 8);
		r->abi = (uint32_t)v;
		if (ok && v) {
			ok = take_array(&c, (uint64_t)__builtin_popcountll(regs_mask),
					8, &regs);
			r->regs_mask = regs_mask;
			r->regs = ok ? regs : NULL;
		}
	}
	if (ok && (t & PERF_SAMPLE_STACK_USER)) {
		const void *data;
		uint64_t dyn;

		ok = take(&c, &v, 8);
		if (ok && v) {
			ok = take_array(&c, v, 1, &data) && take(&c, &dyn, 8);
			r->stack = ok ? data : NULL;
			r->stack_size = ok && dyn <= v ? dyn : 0;
		}
	}
	/* Last in the layout (perf_output_sample): u64 size, data[size].
	 * The only AUX leader libhwbp opens is intel_pt (aux.c). */
	if (ok && (t & PERF_SAMPLE_AUX)) {
		const void *data = NULL;

		ok = take(&c, &v, 8) && (!v || take_array(&c, v, 1, &data));
		r->aux = ok && v ? data : NULL;
		r->aux_size = ok ? v : 0;
		r->aux_format = ok && v ? HWBP_AUX_INTEL_PT : HWBP_AUX_NONE;
	}
	return ok ? 0 : -EINVAL;
}

void hwbp_record_regs(const struct hwbp_record *rec, uint64_t *regs)
{
	int k = 0;

	memset(regs, 0, HWBP_NREGS * sizeof(*regs));
	for (int bit = 0; rec->regs && bit < 64; bit++)
		if (rec->regs_mask & (1ull << bit)) {
			if (bit < HWBP_NREGS)
				regs[bit] = rec->regs[k];
			k++;
		}
}

/* A record, contiguous: in place, or copied out of the wrap-around. */
static const struct perf_event_header *record_at(void *scratch,
						 const uint8_t *data,
						 uint64_t size, uint64_t off)
{
	const struct perf_event_header *h = (const void *)(data + off);
	struct perf_event_header hdr;
	uint64_t first;

	if (off + sizeof(hdr) <= size && off + h->size <= size)
		return h;
	first = size - off;
	memcpy(&hdr, data + off, first < sizeof(hdr) ? first : sizeof(hdr));
	if (first < sizeof(hdr))
		memcpy((uint8_t *)&hdr + first, data, sizeof(hdr) - first);
	if (first > hdr.size)
		first = hdr.size;
	memcpy(scratch, data + off, first);
	memcpy((uint8_t *)scratch + first, data, hdr.size - first);
	return scratch;
}

/* The sample_id trailer of a side-band record (the ring events' sample_type:
 * TID, TIME, CPU: u32 pid, tid; u64 time; u32 cpu, res): who, when, where. */
static void side_trailer(const void *body, size_t size, struct hwbp_record *r)
{
	const uint8_t *t = (const uint8_t *)body + size - 24;
	uint32_t ids[2];

	if (size < 24)
		return;
	memcpy(&r->time_ns, t + 8, 8);
	memcpy(ids, t + 16, 8);
	r->cpu = ids[0];
}

/* PERF_RECORD_MMAP2: u32 pid, tid; u64 addr, len, pgoff; u32 maj, min;
 * u64 ino, ino_generation; u32 prot, flags; char filename[] (padded);
 * then the trailer. */
#define MMAP2_FIXED 64
int hwbp_decode_side(const struct perf_event_header *h, const void *body,
		     size_t size, bool trailer, struct hwbp_record *r,
		     char *name, size_t namelen)
{
	const uint8_t *b = body;
	size_t tail = trailer ? 24 : 0, n;
	uint32_t ids[4];

	memset(r, 0, sizeof(*r));
	if (size < 8 + tail || namelen < 1)
		return -EINVAL;
	memcpy(ids, b, 8);
	r->pid = ids[0];
	if (trailer)
		side_trailer(body, size, r);
	switch (h->type) {
	case PERF_RECORD_COMM: /* u32 pid, tid; char comm[] */
		n = size - tail - 8;
		n = strnlen((const char *)b + 8, n < namelen - 1 ? n : namelen - 1);
		memcpy(name, b + 8, n);
		name[n] = '\0';
		r->kind = HWBP_REC_COMM;
		r->tid = ids[1];
		r->comm = name;
		r->exec = h->misc & PERF_RECORD_MISC_COMM_EXEC;
		return 0;
	case PERF_RECORD_FORK: /* u32 pid, ppid, tid, ptid; u64 time */
	case PERF_RECORD_EXIT:
		if (size < 24)
			return -EINVAL;
		memcpy(ids, b, 16);
		r->kind = h->type == PERF_RECORD_FORK ? HWBP_REC_FORK
						      : HWBP_REC_EXIT;
		r->ppid = ids[1];
		r->tid = ids[2];
		r->ptid = ids[3];
		memcpy(&r->time_ns, b + 16, 8);
		return 0;
	case PERF_RECORD_MMAP2:
		if (size < MMAP2_FIXED + tail)
			return -EINVAL;
		r->kind = HWBP_REC_MMAP;
		r->tid = ids[1];
		memcpy(&r->map_addr, b + 8, 8);
		memcpy(&r->map_len, b + 16, 8);
		memcpy(&r->map_pgoff, b + 24, 8);
		memcpy(&r->map_prot, b + 56, 4);
		n = size - tail - MMAP2_FIXED;
		n = strnlen((const char *)b + MMAP2_FIXED,
			    n < namelen - 1 ? n : namelen - 1);
		memcpy(name, b + MMAP2_FIXED, n);
		name[n] = '\0';
		r->filename = name;
		return 0;
	}
	return -EINVAL;
}

static int deliver_side(struct hwbp *bp, const struct perf_event_header *h,
			const void *body, size_t size)
{
	struct hwbp_record rec;
	char name[4096];
	bool wanted = h->type == PERF_RECORD_MMAP2 ? bp->req.mmap_events
						   : bp->req.task_events;
	/* (the ring event has a trailer when it asked for any side band) */
	bool trailer = bp->req.task_events || bp->req.switch_events ||
		       bp->req.mmap_events;

	if (!wanted || hwbp_decode_side(h, body, size, trailer, &rec, name,
					sizeof(name)))
		return 0;
	rec.bp = bp;
	rec.cookie = bp->req.cookie;
	bp->req.on_record(&rec, bp->req.cookie);
	return 0;
}

/*
 * PERF_RECORD_SWITCH: only the sample_id trailer (u32 pid, tid; u64 time;
 * u32 cpu, res: the ring events' sample_type); SWITCH_CPU_WIDE: u32
 * next_prev_pid, next_prev_tid first.  Out or in, and preempted, are in
 * the header's misc bits.
 */
int hwbp_decode_switch(const struct perf_event_header *h, const void *body,
		       size_t size, struct hwbp_record *r)
{
	const uint8_t *b = body;
	size_t head = h->type == PERF_RECORD_SWITCH_CPU_WIDE ? 8 : 0;
	uint32_t ids[2];

	memset(r, 0, sizeof(*r));
	if (h->type != PERF_RECORD_SWITCH && h->type != PERF_RECORD_SWITCH_CPU_WIDE)
		return -EINVAL;
	if (size < head + 24)
		return -EINVAL;
	if (head) {
		memcpy(ids, b, 8);
		r->next_prev_pid = ids[0];
		r->next_prev_tid = ids[1];
	}
	b += size - 24; /* the trailer ends the record */
	memcpy(ids, b, 8);
	r->pid = ids[0];
	r->tid = ids[1];
	memcpy(&r->time_ns, b + 8, 8);
	memcpy(ids, b + 16, 8);
	r->cpu = ids[0];
	r->kind = HWBP_REC_SWITCH;
	r->switch_out = h->misc & PERF_RECORD_MISC_SWITCH_OUT;
	r->preempted = r->switch_out &&
		       (h->misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT);
	return 0;
}

static int deliver_switch(struct hwbp *bp, const struct perf_event_header *h,
			  const void *body, size_t size)
{
	struct hwbp_record rec;

	if (!bp->req.switch_events || hwbp_decode_switch(h, body, size, &rec))
		return 0;
	rec.bp = bp;
	rec.cookie = bp->req.cookie;
	bp->req.on_record(&rec, bp->req.cookie);
	return 0;
}

static int handle_record(struct hwbp *bp, const struct perf_event_header *h,
			 uint64_t sample_type)
{
	struct hwbp_record rec;
	const uint64_t *body = (const void *)(h + 1);
	size_t body_size = h->size - sizeof(*h);

	switch (h->type) {
	case PERF_RECORD_SAMPLE:
		if (hwbp_bpf_on(bp) ? hwbp_bpf_decode(bp, body, body_size, &rec)
				    : hwbp_decode_sample(body, body_size,
							 sample_type,
							 bp->req.regs_mask,
							 &rec)) {
			atomic_fetch_add(&bp->lost, 1); /* unreadable: lost */
			return 0;
		}
		rec.bp = bp;
		rec.cookie = bp->req.cookie;
		atomic_fetch_add(&bp->records, 1);
		bp->req.on_record(&rec, bp->req.cookie);
		return 1;
	case PERF_RECORD_COMM:
	case PERF_RECORD_FORK:
	case PERF_RECORD_EXIT:
	case PERF_RECORD_MMAP2:
		return deliver_side(bp, h, body, body_size);
	case PERF_RECORD_SWITCH:
	case PERF_RECORD_SWITCH_CPU_WIDE:
		return deliver_switch(bp, h, body, body_size);
	case PERF_RECORD_LOST: /* u64 id, u64 lost */
		/* Any records, side-band ones too: where the events count
		 * their own dropped samples (PERF_FORMAT_LOST), or the BPF
		 * program its unwritten hits, those counts are the hits
		 * lost, not this. */
		if (body_size >= 16 && !bp->lost_format && !hwbp_bpf_on(bp))
			atomic_fetch_add(&bp->lost, body[1]);
		return 0;
	case PERF_RECORD_LOST_SAMPLES: /* u64 lost */
		if (body_size >= 8)
			atomic_fetch_add(&bp->lost, body[0]);
		return 0;
	}
	return 0;
}

int hwbp_mmap_read(void *base, size_t map_size, void *scratch,
		   hwbp_record_visit_fn fn, void *ctx)
{
	struct perf_event_mmap_page *pg = base;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const uint8_t *data = (const uint8_t *)base + page;
	uint64_t size = map_size - page;
	uint64_t head = __atomic_load_n(&pg->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = pg->data_tail;
	int n = 0;

	while (tail < head) {
		const struct perf_event_header *h =
			record_at(scratch, data, size, tail % size);

		if (h->size < sizeof(*h))
			break; /* corrupt: drop the rest of this batch */
		n += fn(h, ctx);
		tail += h->size;
	}
	__atomic_store_n(&pg->data_tail, head, __ATOMIC_RELEASE);
	return n;
}

struct ring_ctx {
	struct hwbp *bp;
	uint64_t sample_type;
};

static int handle_in_ring(const struct perf_event_header *h, void *ctx)
{
	struct ring_ctx *c = ctx;

	return handle_record(c->bp, h, c->sample_type);
}

static int consume_ring(struct hwbp *bp, struct hwbp_ring *r,
			uint64_t sample_type)
{
	struct ring_ctx c = { bp, sample_type };

	return hwbp_mmap_read(r->base, r->size, r->scratch, handle_in_ring,
			      &c);
}

int hwbp_rings_drain(struct hwbp *const *bps, int n)
{
	int total = 0;

	for (int i = 0; i < n; i++) {
		/* (a zero-timeout poll also stops waking on rings whose task
		 * is gone, so an fd gathering them does not stay readable) */
		int got = hwbp_ring_poll(bps[i], 0);

		if (got < 0)
			return got;
		total += got;
	}
	return total;
}

int hwbp_epoll_wait(int epfd, int timeout_ms, const char *fn)
{
	struct epoll_event ev[8];

	if (epoll_wait(epfd, ev, 8, timeout_ms) < 0 && errno != EINTR)
		return hwbp_fail(errno, "%s: epoll_wait: %s", fn,
				 strerror(errno));
	return 0;
}

/* A usable ring handle, or -EINVAL/-EBADF with the message set; *owner is
 * the handle whose rings it writes into (itself, or opts.share_ring's). */
static int check_ring(const struct hwbp *bp, const char *fn,
		      struct hwbp **owner)
{
	if (!bp)
		return hwbp_fail(EINVAL, "%s: bp is NULL", fn);
	if (atomic_load(&bp->closed))
		return hwbp_fail(EBADF, "%s: this breakpoint is closed", fn);
	if (bp->req.delivery != HWBP_DELIVER_RING)
		return hwbp_fail(EINVAL, "%s: this breakpoint has no ring "
				 "(delivery is not HWBP_DELIVER_RING)", fn);
	*owner = bp->ring_owner;
	if (atomic_load(&(*owner)->closed))
		return hwbp_fail(EBADF, "%s: the breakpoint whose rings it "
				 "shares (opts.share_ring) is closed", fn);
	return 0;
}

/* The rings of CPU cpu (all: INT_MIN) of the ring owner bp. */
static int consume_rings(struct hwbp *bp, int cpu)
{
	struct perf_event_attr attr;
	int n = 0;

	hwbp_fill_attr(&attr, bp, &bp->req.place, 0);
	for (int i = 0; i < bp->nrings; i++)
		if (cpu == INT_MIN || bp->rings[i].cpu == cpu)
			n += consume_ring(bp, &bp->rings[i], attr.sample_type);
	return n;
}

HWBP_API int hwbp_ring_consume(struct hwbp *bp)
{
	struct hwbp *o;
	int err = check_ring(bp, "hwbp_ring_consume", &o);

	return err ? err : consume_rings(o, INT_MIN);
}

HWBP_API int hwbp_ring_consume_cpu(struct hwbp *bp, int cpu)
{
	struct hwbp *o;
	int err = check_ring(bp, "hwbp_ring_consume_cpu", &o);

	if (err)
		return err;
	for (int i = 0; i < o->nrings; i++)
		if (o->rings[i].cpu == cpu)
			return consume_rings(o, cpu);
	return hwbp_fail(ENOENT, "hwbp_ring_consume_cpu: no ring collects "
			 "CPU %d (hwbp_ring_cpus lists them)", cpu);
}

HWBP_API int hwbp_ring_cpus(const struct hwbp *bp, int *cpus, int *fds,
			    int max)
{
	struct hwbp *o;
	int err = check_ring(bp, "hwbp_ring_cpus", &o);

	if (err)
		return err;
	if (max < 0 || (max && !cpus && !fds))
		return hwbp_fail(EINVAL, "hwbp_ring_cpus: max %d with no "
				 "array to fill", max);
	for (int i = 0; i < o->nrings && i < max; i++) {
		if (cpus)
			cpus[i] = o->rings[i].cpu;
		if (fds)
			fds[i] = o->rings[i].fd;
	}
	return o->nrings;
}

/* Ring of CPU cpu of the owner o: size and bytes waiting; + bp's drops. */
int hwbp_ring_stat_of(const struct hwbp *bp, const struct hwbp *o, int cpu,
		      struct hwbp_ring_stat *all)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	for (int i = 0; i < o->nrings; i++) {
		const struct perf_event_mmap_page *pg = o->rings[i].base;
		uint64_t head, tail;

		if (o->rings[i].cpu != cpu)
			continue;
		head = __atomic_load_n(&pg->data_head, __ATOMIC_ACQUIRE);
		tail = __atomic_load_n(&pg->data_tail, __ATOMIC_RELAXED);
		all->size = o->rings[i].size - page;
		all->waiting = head - tail;
		all->lost_known = bp->lost_format || hwbp_bpf_on(o);
		if (hwbp_bpf_on(o)) { /* the owner's program counts them */
			all->lost = bp == o ? hwbp_bpf_lost(o, cpu) : 0;
			return 0;
		}
		return hwbp_events_lost_cpu(bp, cpu, &all->lost);
	}
	return hwbp_fail(ENOENT, "no ring collects CPU %d (hwbp_ring_cpus "
			 "lists them)", cpu);
}

HWBP_API int hwbp_ring_stat_cpu(const struct hwbp *bp, int cpu,
				struct hwbp_ring_stat *st)
{
	struct hwbp_ring_stat all = { .sz = sizeof(all) };
	struct hwbp *o;
	int err = check_ring(bp, "hwbp_ring_stat_cpu", &o);

	if (!err && !st)
		err = hwbp_fail(EINVAL, "hwbp_ring_stat_cpu: stat is NULL");
	if (!err)
		err = hwbp_opts_valid(st, st->sz, sizeof(*st), "hwbp_ring_stat");
	if (!err)
		err = hwbp_ring_stat_of(bp, o, cpu, &all);
	if (!err)
		hwbp_copy_out(st, st->sz, &all, sizeof(all));
	return err;
}

HWBP_API int hwbp_ring_poll(struct hwbp *bp, int timeout_ms)
{
	struct epoll_event ev[16];
	struct hwbp *o;
	int n = check_ring(bp, "hwbp_ring_poll", &o);

	if (n)
		return n;
	bp = o;
	n = epoll_wait(bp->epfd, ev, 16, timeout_ms);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct hwbp_ring *r = ev[i].data.ptr;

		/* Its task is gone: keep reading it, stop waking on it. */
		if ((ev[i].events & EPOLLHUP) && !r->hup) {
			r->hup = true;
			epoll_ctl(bp->epfd, EPOLL_CTL_DEL, r->fd, NULL);
		}
	}
	return hwbp_ring_consume(bp);
}

HWBP_API int hwbp_ring_fd(const struct hwbp *bp)
{
	struct hwbp *o;
	int err = check_ring(bp, "hwbp_ring_fd", &o);

	return err ? err : o->epfd;
}
