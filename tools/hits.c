/* SPDX-License-Identifier: MIT */
/*
 * hits.c - `hwbp watch`'s processor: every record, in time order across
 * CPUs (stream.c), applied to the state it describes.  Task records name
 * threads and follow processes (a fork copies its parent's address space
 * and values, an exec starts anew); mmap records tell which file holds
 * which code (codemap.c); each hit is classified by the bytes its decoded
 * instruction touched (a register may cover bytes beside the location),
 * valued (values.c: old -> new along each process's chain of writes),
 * named (a whole object: the member touched, members.c) and printed.  A
 * record goes to every location its watch serves (share.c); a pointer
 * slot's moves the path's watch (follow.c).  A loss makes every chain
 * approximate until a write makes it exact again.  Nothing here reads the live program for names or
 * code: hits read after it exited come out the same.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <unistd.h>

#include "watch.h"

#define MAX_BT 64

/* ---- thread names: from the records (COMM, FORK) in time order; /proc
 * only for a thread never seen before ---- */

static struct thread_name *name_slot(struct watch *w, pid_t tid)
{
	struct thread_name *t;

	/* Hits come in runs of one thread: the last one asked first. */
	if (w->last_name < w->nnames && w->names[w->last_name].tid == tid)
		return &w->names[w->last_name];
	for (int i = w->nnames - 1; i >= 0; i--)
		if (w->names[i].tid == tid) {
			w->last_name = i;
			return &w->names[i];
		}
	t = realloc(w->names, (size_t)(w->nnames + 1) * sizeof(*t));
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

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid,
		 (int)tid);
	f = fopen(path, "r");
	if (f) {
		if (fgets(name, (int)len, f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
	}
}

const char *hits_thread_name(struct watch *w, pid_t pid, pid_t tid)
{
	struct thread_name *t = name_slot(w, tid);

	if (!t)
		return "?";
	if (!t->name[0])
		read_comm(pid, tid, t->name, sizeof(t->name));
	return t->name[0] ? t->name : "?";
}

static void set_name(struct watch *w, pid_t tid, const char *name)
{
	struct thread_name *t = name_slot(w, tid);

	if (t)
		snprintf(t->name, sizeof(t->name), "%s", name);
}

/* ---- each process's values ---- */

static struct proc_values *pv_find(struct watch *w, pid_t pid)
{
	for (int i = 0; i < w->npv; i++)
		if (w->pv[i].pid == pid)
			return &w->pv[i];
	return NULL;
}

static struct proc_values *pv_new(struct watch *w, pid_t pid)
{
	struct proc_values *p = pv_find(w, pid);
	int n = w->cfg->nlocs;

	if (!p) {
		p = realloc(w->pv, (size_t)(w->npv + 1) * sizeof(*p));
		if (!p)
			return NULL;
		w->pv = p;
		p = &w->pv[w->npv];
		p->pid = pid;
		p->bytes = calloc((size_t)n, sizeof(*p->bytes));
		p->q = calloc((size_t)n, sizeof(*p->q));
		if (!p->bytes || !p->q) {
			free(p->bytes);
			free(p->q);
			return NULL;
		}
		w->npv++;
	}
	for (int i = 0; i < n; i++) {
		free(p->bytes[i]);
		free(p->q[i]);
		p->bytes[i] = NULL;
		p->q[i] = NULL;
	}
	return p;
}

/* Location i's bytes in process p: from when it was armed, at first. */
static bool pv_loc(struct watch *w, struct proc_values *p, int i)
{
	uint32_t len = w->locs[i].len;

	if (p->bytes[i])
		return true;
	p->bytes[i] = calloc(len, 1);
	p->q[i] = calloc(len, 1);
	if (!p->bytes[i] || !p->q[i])
		return false;
	if (p->pid == w->target.pid && w->armed_bytes[i]) {
		memcpy(p->bytes[i], w->armed_bytes[i], len);
		memset(p->q[i], w->armed_q[i], len);
	}
	return true;
}

/* A fork: the child's memory is a copy of its parent's. */
static void pv_fork(struct watch *w, pid_t child, pid_t parent)
{
	struct proc_values *c = pv_new(w, child), *p;

	if (!c || !(p = pv_find(w, parent)))
		return;
	for (int i = 0; i < w->cfg->nlocs; i++) {
		uint32_t len = w->locs[i].len;

		/* (the parent's bytes as armed, if it wrote none since) */
		if (!pv_loc(w, p, i) || !pv_loc(w, c, i))
			continue;
		memcpy(c->bytes[i], p->bytes[i], len);
		memcpy(c->q[i], p->q[i], len);
	}
}

/* A loss: what was exact may have been written since. */
static void pv_all_approx(struct watch *w)
{
	for (int k = 0; k < w->npv; k++)
		for (int i = 0; i < w->cfg->nlocs; i++)
			for (uint32_t b = 0; w->pv[k].q[i] && b < w->locs[i].len;
			     b++)
				if (w->pv[k].q[i][b] == VQ_EXACT)
					w->pv[k].q[i][b] = VQ_APPROX;
}

static enum vquality worst(const uint8_t *q, uint32_t n)
{
	enum vquality v = VQ_EXACT;

	for (uint32_t i = 0; i < n; i++)
		if (q[i] < v)
			v = q[i];
	return v;
}

static uint64_t le_value(const uint8_t *b, uint32_t n)
{
	uint64_t v = 0;

	memcpy(&v, b, n < 8 ? n : 8);
	return v;
}

static bool read_pid(uint64_t addr, void *buf, size_t len, void *ctx)
{
	pid_t pid = (pid_t)(intptr_t)ctx;
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &local, 1, &remote, 1, 0) ==
	       (ssize_t)len;
}

/* ---- per hit ---- */

/* Same code location: the strings are interned, compare pointers. */
static bool same_where(const struct code_loc *a, const struct code_loc *b,
		       uint64_t ip_a, uint64_t ip_b)
{
	if (!a->function[0] || !b->function[0])
		return !a->function[0] && !b->function[0] && ip_a == ip_b;
	return a->function == b->function && a->offset == b->offset &&
	       a->file == b->file && a->line == b->line;
}

/* A row's member: the one all its hits touched, else "" (names in member
 * tables are stable: compare pointers). */
static void row_member(struct loc_count *l, const char *member)
{
	if (l->member != member)
		l->member = "";
}

static void count_location(struct watch *w, const struct location *loc,
			   const char *member, const struct code_loc *where,
			   uint64_t ip)
{
	struct loc_count *l = w->last_row;
	char name[256];

	if (l && l->location == loc->name && same_where(&l->where, where,
							l->where.ip, ip)) {
		l->hits++; /* the common case: the same place again */
		row_member(l, member);
		return;
	}
	for (int i = 0; i < w->sum.nloc; i++) {
		l = &w->sum.by_loc[i];
		if (l->location == loc->name &&
		    same_where(&l->where, where, l->where.ip, ip)) {
			l->hits++;
			row_member(l, member);
			w->last_row = l;
			return;
		}
	}
	l = realloc(w->sum.by_loc, (size_t)(w->sum.nloc + 1) * sizeof(*l));
	if (!l)
		return;
	w->sum.by_loc = l;
	l = &l[w->sum.nloc++];
	cut_name(where->function, name, sizeof(name));
	if (where->function[0] && where->file[0])
		snprintf(l->key, sizeof(l->key), "%s+%" PRIu64 " (%s:%d)",
			 name, where->offset, where->file, where->line);
	else if (where->function[0])
		snprintf(l->key, sizeof(l->key), "%s+%" PRIu64, name,
			 where->offset);
	else
		out_unnamed_code(l->key, sizeof(l->key), where, ip);
	l->where = *where;
	l->where.ip = ip;
	l->location = loc->name;
	l->member = member;
	l->hits = 1;
	w->last_row = l;
}

static void count_thread(struct watch *w, pid_t tid, const char *name)
{
	struct thread_count *t;

	if (w->last_thread < w->sum.nthread &&
	    w->sum.by_thread[w->last_thread].tid == tid) {
		w->sum.by_thread[w->last_thread].hits++;
		return;
	}
	for (int i = 0; i < w->sum.nthread; i++)
		if (w->sum.by_thread[i].tid == tid) {
			w->sum.by_thread[i].hits++;
			w->last_thread = i;
			return;
		}
	t = realloc(w->sum.by_thread,
		    (size_t)(w->sum.nthread + 1) * sizeof(*t));
	if (!t)
		return;
	w->sum.by_thread = t;
	t = &t[w->sum.nthread++];
	t->tid = tid;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->hits = 1;
}

/* Callers from the kernel's callchain (frame pointers): a record without
 * a stack copy (--cpu, or a stack the kernel could not copy). */
static int callchain_frames(struct watch *w, const struct rec *r,
			    struct frame *bt)
{
	const uint64_t *chain = rec_chain(r);
	bool first = true;
	int n = 0;

	for (uint32_t i = 0; i < r->nchain && n < MAX_BT; i++) {
		uint64_t ip = chain[i];

		if (ip >= (uint64_t)-4095) /* PERF_CONTEXT_* markers */
			continue;
		if (first) { /* the hit's own IP: shown on the hit line */
			first = false;
			continue;
		}
		bt[n].ip = ip;
		/* A return address is after its call: look up the call. */
		bt[n].where = *codemap_describe(w->map, (pid_t)r->pid, ip - 1);
		bt[n++].inlined = false;
	}
	return n;
}

/* The frames of pc (ra - 1 for a return address): its inlined calls, then
 * the function they are in; from `skip` on in that chain. */
static int add_frames(struct watch *w, pid_t pid, uint64_t ip, uint64_t pc,
		      int skip, struct frame *bt, int n)
{
	const struct code_loc *chain;
	int k = codemap_frames(w->map, w->unwinder, pid, pc, &chain);

	if (k <= 0 && !skip && n < MAX_BT) { /* nothing names it */
		bt[n].ip = ip;
		bt[n].where = *codemap_describe(w->map, pid, pc);
		bt[n++].inlined = false;
		return n;
	}
	for (int i = skip; i < k && n < MAX_BT; i++) {
		bt[n].ip = ip;
		bt[n].where = chain[i];
		bt[n++].inlined = i < k - 1;
	}
	return n;
}

/* The callers of the hit from its sampled stack and the modules' CFI
 * (tools/unwind.c), with the calls inlined at each; first those the hit's
 * own instruction is inlined in. */
static int backtrace_of(struct watch *w, const struct rec *r, uint64_t code_ip,
			struct frame *bt)
{
	uint64_t pcs[MAX_BT], layout;
	uint8_t exact[MAX_BT];
	enum unwind_end end;
	Dwfl *dwfl;
	int n = 0, k;

	if (!r->nstack || !w->unwinder ||
	    !(dwfl = codemap_dwfl(w->map, (pid_t)r->pid, &layout)))
		return callchain_frames(w, r, bt);
	k = unwind_sample(w->unwinder, dwfl, layout, rec_regs(r), r->regs_mask,
			  rec_stack(r), r->nstack, pcs, exact, MAX_BT, &end);
	n = add_frames(w, (pid_t)r->pid, code_ip, code_ip, 1, bt, 0);
	for (int i = 0; i < k && n < MAX_BT; i++)
		n = add_frames(w, (pid_t)r->pid, pcs[i],
			       exact[i] ? pcs[i] : pcs[i] - 1, 0, bt, n);
	if (end != UNWIND_END_OUTERMOST && end != UNWIND_END_MAX)
		w->bt_short++;
	return n;
}

static bool type_signed(const struct vtype *t)
{
	return t->kind == V_SIGNED || t->kind == V_CHAR || t->kind == V_ENUM;
}

/* --switches: the runs that ended on the hit's CPU before it, named. */
static int ran_before(struct watch *w, const struct rec *r,
		      struct ran_before *ran)
{
	int n = swh_before(w->switches, r->cpu, r->time_ns, ran,
			   MAX_RAN_BEFORE);

	for (int i = 0; i < n; i++)
		snprintf(ran[i].thread, sizeof(ran[i].thread), "%s",
			 hits_thread_name(w, ran[i].pid, ran[i].tid));
	return n;
}

static size_t read_code(uint64_t addr, void *buf, size_t len, void *ctx)
{
	const struct code_source *cs = ctx;

	return cs->read(cs->ctx, addr, buf, len);
}

/* --branches: the hit's trace into its last taken branches, described,
 * latest first. */
static int branches_of(struct watch *w, const struct rec *r,
		       const struct code_source *cs, struct branch_where *out)
{
	struct branch br[MAX_BRANCHES];
	int n = 0;

	if (r->naux)
		n = pt_branches(rec_aux(r), r->naux, read_code, (void *)cs, br,
				MAX_BRANCHES);
	for (int i = 0; i < n; i++) {
		const struct branch *b = &br[n - 1 - i];

		out[i].from = b->from;
		out[i].to = b->to;
		out[i].from_w = *codemap_describe(w->map, (pid_t)r->pid,
						  b->from);
		out[i].to_w = *codemap_describe(w->map, (pid_t)r->pid, b->to);
	}
	return n > 0 ? n : 0;
}

/* The sampled registers at their PERF_REG index (0 where not sampled).
 * (Inlined in both callers: it runs for every hit.) */
static inline __attribute__((always_inline)) bool regs_of(const struct rec *r, uint64_t regs[HWBP_NREGS])
{
	const uint64_t *v = rec_regs(r);
	uint64_t m = r->regs_mask;

	memset(regs, 0, HWBP_NREGS * sizeof(*regs));
	/* the set bits only (a loop over all 64 was 40 % of this function) */
	for (int k = 0; m; m &= m - 1, k++) {
		int bit = __builtin_ctzll(m);

		if (bit < HWBP_NREGS)
			regs[bit] = v[k];
	}
	return r->regs_mask == SAMPLED_REGS_MASK;
}

/* What the hit did to its location, decoded from the program's file:
 * HWBP_TOUCH_* bits (and the accessed bytes in *at, *size), 0 for a stray
 * (it touched only bytes a register covers beside the location), -1 when
 * not known for certain. */
static inline __attribute__((always_inline))
int touch_of(const struct code_source *cs, const struct access *acc,
		    const uint64_t *regs, const struct location *loc,
		    uint64_t *at, uint32_t *size)
{
	struct hwbp_insn_info info;
	uint8_t code[16];
	int how = 0;

	/* A variable addressed from the PC (most globals): the decoder has
	 * its address already, no need for registers. */
	if (acc->decoded && acc->mem_known && acc->mem_size) {
		if (!hwbp_range_overlaps(acc->mem_addr, acc->mem_size,
					 loc->addr, loc->len))
			return 0;
		*at = acc->mem_addr;
		*size = acc->mem_size;
		return (acc->reads ? HWBP_TOUCH_READ : 0) |
		       (acc->writes ? HWBP_TOUCH_WRITE : 0);
	}
	if (!acc->decoded || !regs ||
	    cs->read(cs->ctx, acc->insn_addr, code, acc->insn_len) !=
	    acc->insn_len ||
	    hwbp_insn_decode(code, acc->insn_len, acc->insn_addr, regs, &info))
		return -1;
	for (int i = 0; i < info.nmem; i++) {
		const struct hwbp_mem_access *m = &info.mem[i];

		if (!m->addr_known)
			return -1;
		if (!hwbp_range_overlaps(m->addr, m->len, loc->addr, loc->len))
			continue;
		how |= (m->reads ? HWBP_TOUCH_READ : 0) |
		       (m->writes ? HWBP_TOUCH_WRITE : 0);
		*at = m->addr;
		*size = m->len;
	}
	return how;
}

/* A whole object's table (NULL: not one), looked up before anything
 * else: most locations are not. */
static inline const struct members *members_of(const struct watch *w, int li)
{
	return w->members ? w->members[li] : NULL;
}

/* A whole object: the member [at, at+size) lies in (clipped to the
 * location), NULL if none. */
static const struct member *member_of(const struct members *t,
				      const struct location *loc, uint64_t at,
				      uint32_t size)
{
	uint64_t lo = at > loc->addr ? at : loc->addr;

	if (!size || lo >= loc->addr + loc->len || at + size <= lo)
		return NULL;
	return members_at(t, (uint32_t)(lo - loc->addr),
			  (uint32_t)(at + size - lo));
}

/* A member's own value (typed, up to 8 bytes): how its bytes read now. */
static bool member_typed(const struct member *m)
{
	return m && m->typed && m->len <= 8;
}

static void member_now(const uint8_t *bytes, const uint8_t *q,
		       const struct member *m, uint64_t *v, enum vquality *vq)
{
	*v = le_value(bytes + m->off, m->len);
	*vq = worst(q + m->off, m->len);
}

static void name_member(const struct watch *w, int li, const struct member *m,
			struct hit_event *e)
{
	e->member = m->name;
	if (member_typed(m)) {
		e->mtype = members_type(w->members[li], m);
		e->moff = m->off;
		e->mlen = m->len;
	}
}

/* The bytes of location li (placed at loc) this access wrote, old ->
 * new, along its chain (bytes, q: a process's, or a thread-local copy's).
 * regs: as sampled (SAMPLED_REGS_MASK's order).  In a whole object, the
 * old -> new of the member touched. */
static void apply_write(struct watch *w, const struct rec *r, int li,
			const struct location *loc, uint8_t *bytes,
			uint8_t *q, const struct code_source *cs,
			const uint64_t *regs, uint64_t at, uint32_t size,
			bool racy, struct hit_event *e)
{
	const struct members *t = members_of(w, li);
	const struct member *m = t ? member_of(t, loc, at, size) : NULL;
	uint64_t lo = at > loc->addr ? at : loc->addr;
	uint64_t hi = at + size < loc->addr + loc->len ? at + size
						       : loc->addr + loc->len;
	uint64_t m_old = 0;
	uint32_t off, n;
	struct value_chain win;
	struct hit_values hv;
	enum vquality old_whole, m_old_q = VQ_NONE;

	if (lo >= hi || hi - lo > 8) { /* unknown or a wide access */
		lo = loc->addr;
		hi = loc->addr + (loc->len < 8 ? loc->len : 8);
	}
	off = (uint32_t)(lo - loc->addr);
	n = (uint32_t)(hi - lo);
	old_whole = worst(q, loc->len);
	e->val.old_value = le_value(bytes, loc->len);
	if (member_typed(m))
		member_now(bytes, q, m, &m_old, &m_old_q);
	memcpy(win.bytes, bytes + off, n);
	win.quality = worst(q + off, n);
	/* Taking turns, or one thread of several, a location misses the
	 * writes made unseen: what it held before is known only if the
	 * instruction reveals it (and a read-modify-write's result too).  So
	 * where another thread's write may have come just before (racy). */
	if (w->shared || w->cfg->tid || racy) {
		if (win.quality == VQ_EXACT)
			win.quality = VQ_APPROX;
		if (old_whole == VQ_EXACT)
			old_whole = VQ_APPROX;
		if (m_old_q == VQ_EXACT)
			m_old_q = VQ_APPROX;
	}
	values_apply(w->values, cs, r->ip, regs, lo, n, &win, read_pid,
		     (void *)(intptr_t)r->pid, &hv);
	memcpy(bytes + off, win.bytes, n);
	memset(q + off, hv.new_q, n);
	if (m)
		name_member(w, li, m, e);
	if (member_typed(m)) { /* the member touched, by its type */
		e->val = hv;
		e->val.old_value = m_old;
		e->val.old_q = m_old_q;
		if (off == m->off && n == m->len) { /* the instruction's */
			e->val.old_value = hv.old_value;
			e->val.old_q = hv.old_q;
		}
		member_now(bytes, q, m, &e->val.new_value, &e->val.new_q);
	} else if (loc->len > 8 || m) { /* a range: the bytes touched */
		e->part_off = off;
		e->part_len = n;
		e->val = hv;
	} else {
		e->val.new_value = le_value(bytes, loc->len);
		e->val.new_q = worst(q, loc->len);
		e->val.old_q = old_whole;
		if (n == loc->len) { /* what the instruction says of it */
			e->val.old_value = hv.old_value;
			e->val.old_q = hv.old_q;
		}
	}
	/* Inside a loss window a write may precede lost ones, and a racy
	 * one may have come after the write the chain puts next: the value
	 * it stored is shown as it is, the chain stays unsure. */
	if ((r->time_ns <= w->unsure_until || racy) && hv.new_q == VQ_EXACT)
		memset(q + off, VQ_APPROX, n);
}

static void read_value(struct watch *w, int li, const struct location *loc,
		       const uint8_t *bytes, const uint8_t *q, uint64_t at,
		       uint32_t size, struct hit_event *e)
{
	const struct members *t = members_of(w, li);
	const struct member *m = t ? member_of(t, loc, at, size) : NULL;
	uint64_t lo = at > loc->addr ? at : loc->addr;
	uint32_t off = (uint32_t)(lo - loc->addr), n = loc->len;

	e->has_read = true;
	if (m)
		name_member(w, li, m, e);
	if (member_typed(m)) {
		member_now(bytes, q, m, &e->val.new_value, &e->val.new_q);
		return;
	}
	if (loc->len > 8 || m) {
		n = (uint32_t)((at + size < loc->addr + loc->len ? at + size
				: loc->addr + loc->len) - lo);
		if (!size || n > 8)
			n = loc->len - off < 8 ? loc->len - off : 8;
		e->part_off = off;
		e->part_len = n;
	} else {
		off = 0;
	}
	e->val.new_value = le_value(bytes + off, n);
	e->val.new_q = worst(q + off, n);
}

static bool passes_cond(struct watch *w, const struct hit_event *e,
			const struct location *loc)
{
	if (!w->cfg->has_cond)
		return true;
	return (e->has_values || e->has_read) && e->val.new_q != VQ_NONE &&
	       cond_eval(&w->cfg->cond, e->val.new_value,
			 e->mtype ? e->mlen : e->part_len ? e->part_len
							  : loc->len,
			 type_signed(e->mtype ? e->mtype : &loc->type));
}

/* A hit of location li, placed at loc (a pointer path followed: where it
 * led at the hit's time; a thread-local: the thread's copy), whose chain
 * is bytes and q (a process's, or a thread's copy's); racy: its place in
 * the chain is unsure (order_unsure). */
static void hit_on(struct watch *w, const struct rec *r, int li,
		   const struct location *loc, uint8_t *bytes, uint8_t *q,
		   bool racy)
{
	struct branch_where br[MAX_BRANCHES];
	struct ran_before ran[MAX_RAN_BEFORE];
	struct frame bt[MAX_BT];
	struct hit_event e = { .loc = loc, .addr = r->addr };
	uint64_t regs[HWBP_NREGS], code_ip = r->ip, at = r->addr;
	bool have_regs = regs_of(r, regs);
	struct code_source cs;
	struct code_ctx cctx;
	struct access acc = { 0 };
	uint32_t size = 0;
	int how = -1;

	codemap_code(w->map, (pid_t)r->pid, &cs, &cctx);
	e.time_ns = r->time_ns > w->start_ns ? r->time_ns - w->start_ns : 0;
	e.pid = (pid_t)r->pid;
	e.tid = (pid_t)r->tid;
	e.cpu = r->cpu;
	e.access = hwbp_access_name(loc->access);
	e.recovered = r->flags & REC_F_RECOVERED;
	if (loc->access != HWBP_EXEC && r->ip < 0x0000800000000000ull) {
		values_decode(w->values, &cs, r->ip, &acc);
		if (acc.decoded)
			code_ip = acc.insn_addr;
		how = touch_of(&cs, &acc, have_regs ? regs : NULL, loc, &at,
			       &size);
		if (how == 0) {
			w->sum.strays++; /* bytes beside the location only */
			return;
		}
		if (how > 0) {
			e.addr = at;
			if (loc->access == HWBP_RW || loc->access == HWBP_READ)
				e.access = how == (HWBP_TOUCH_READ |
						   HWBP_TOUCH_WRITE) ? "rmw" :
					   how == HWBP_TOUCH_WRITE ? "write"
								   : "read";
		}
		if (how < 0 || (how & HWBP_TOUCH_WRITE)) {
			/* (values.c reads the registers as sampled) */
			apply_write(w, r, li, loc, bytes, q, &cs,
				    have_regs ? rec_regs(r) : NULL, at,
				    how > 0 ? size : 0, racy, &e);
			e.has_values = true;
		} else if (loc->access == HWBP_WRITE) {
			return; /* a read on a register it shares (share.c) */
		} else {
			read_value(w, li, loc, bytes, q, at, size, &e);
		}
		/* --read: a plain write moved the chain on; not shown. */
		if (loc->access == HWBP_READ && how == HWBP_TOUCH_WRITE) {
			w->sum.writes_dropped++;
			return;
		}
	}
	if (!passes_cond(w, &e, loc)) {
		w->sum.filtered++;
		return;
	}
	e.where = *codemap_describe(w->map, e.pid, code_ip);
	e.thread = hits_thread_name(w, e.pid, e.tid);
	if (w->cfg->bt) {
		e.nbt = backtrace_of(w, r, code_ip, bt);
		e.bt = bt;
	}
	if (w->switches) {
		e.nran = ran_before(w, r, ran);
		e.ran = ran;
	}
	if (w->cfg->branches) {
		e.nbr = branches_of(w, r, &cs, br);
		e.br = br;
	}
	out_hit(&w->out, &e);
	w->sum.hits++;
	count_location(w, &w->locs[li], e.member, &e.where, code_ip);
	count_thread(w, e.tid, e.thread);
	if (w->cfg->max && w->sum.hits >= w->cfg->max)
		w->max_reached = true;
}

/* Timestamps order one CPU's hits, and one thread's, but not two
 * threads' on two CPUs: a CPU may stamp a hit long after its store (a VM
 * exit, a preempted vCPU) and another CPU's store come between.  Is a hit
 * of another thread on another CPU, in r's chain (rec_same_chain), within
 * ORDER_WINDOW_NS of r, before it (each CPU's latest per chain, here) or
 * after it (stream.c's flag)?  Then the chain cannot say what r's store
 * replaced, nor what replaced it. */
static bool racer_at(const struct watch *w, const struct rec *r, int c,
		     int k)
{
	const struct cpu_last *l = &w->cpu_last[c * w->nchain_last + k];

	return l->time_ns && l->pid == r->pid && l->tid != r->tid &&
	       l->time_ns + ORDER_WINDOW_NS >= r->time_ns;
}

/* (Per other CPU: the latest hit of r's location and of an unknown one;
 * of every location where r's is not known.) */
static bool order_unsure(struct watch *w, const struct rec *r)
{
	int nch = w->nchain_last, unknown = nch - 1;
	int own = r->loc >= 0 && r->loc < unknown ? r->loc : unknown;
	bool unsure = r->flags & REC_F_ORDER_UNSURE;

	for (int c = 0; c < w->ncpu_last && !unsure; c++) {
		if (c == (int)r->cpu)
			continue;
		if (own != unknown)
			unsure = racer_at(w, r, c, own) ||
				 racer_at(w, r, c, unknown);
		else
			for (int k = 0; k < nch && !unsure; k++)
				unsure = racer_at(w, r, c, k);
	}
	if (r->cpu < (uint32_t)w->ncpu_last) /* (a recovered hit's: maybe ?) */
		w->cpu_last[(int)r->cpu * nch + own] =
			(struct cpu_last){ r->time_ns, r->tid, r->pid };
	return unsure;
}

/* A hit of location li in its process, placed at loc. */
static void process_hit(struct watch *w, const struct rec *r, int li,
			const struct location *loc)
{
	struct proc_values *p = pv_find(w, (pid_t)r->pid);

	if (w->max_reached)
		return;
	if (!p)
		p = pv_new(w, (pid_t)r->pid);
	if (!p || !pv_loc(w, p, li))
		return;
	hit_on(w, r, li, loc, p->bytes[li], p->q[li], w->racy);
}

/* A hit on a thread's copy of a thread-local (watch_tls.c): its own
 * chain, from the bytes read when it was armed. */
static void process_copy_hit(struct watch *w, const struct rec *r, int id)
{
	struct tls_copy *c = tls_copy_of(w, id);

	if (!w->max_reached && c && c->bytes)
		hit_on(w, r, c->loc, &c->view, c->bytes, c->q, false);
}

/* --follow-pointers: a write to a pointer on a path.  Its new value is
 * decoded (exact from the instruction, else read now); a change moves the
 * path's watch (follow.c).  Only the watched process's own pointers count
 * (a forked child's are its own).  Not a hit of the location. */
static void slot_hit(struct watch *w, const struct rec *r, int id)
{
	struct location slot = { .len = sizeof(void *) };
	uint64_t regs[HWBP_NREGS], *val, at = r->addr, now = 0;
	bool have_regs = regs_of(r, regs);
	struct code_source cs;
	struct code_ctx cctx;
	struct access acc = { 0 };
	struct value_chain chain;
	struct hit_values hv;
	uint32_t size = 0;
	uint8_t *q;
	int i, k, how;

	if (!follow_slot(w, id, &i, &k, &slot.addr, &val, &q)) {
		w->sum.strays++; /* an old slot's record: not the path now */
		return;
	}
	if ((pid_t)r->pid != w->target.pid)
		return;
	codemap_code(w->map, (pid_t)r->pid, &cs, &cctx);
	values_decode(w->values, &cs, r->ip, &acc);
	how = touch_of(&cs, &acc, have_regs ? regs : NULL, &slot, &at, &size);
	if (how == 0)
		w->sum.strays++;
	if (how == 0 || (how > 0 && !(how & HWBP_TOUCH_WRITE)))
		return;
	memcpy(chain.bytes, val, sizeof(*val));
	chain.quality = *q;
	values_apply(w->values, &cs, r->ip, have_regs ? rec_regs(r) : NULL,
		     slot.addr, slot.len, &chain, read_pid,
		     (void *)(intptr_t)r->pid, &hv);
	memcpy(&now, chain.bytes, sizeof(now));
	if (hv.new_q == VQ_NONE && !read_pid(slot.addr, &now, sizeof(now),
					     (void *)(intptr_t)r->pid))
		return;
	if (now != *val)
		follow_changed(w, i, k, now, r->time_ns);
	*val = now;
	*q = hv.new_q == VQ_NONE ? VQ_APPROX : hv.new_q;
}

/* One user of a record: a location (followed: where its path led, its
 * hits left out while a change waits), a pointer slot (follow.c) or a
 * thread's copy of a thread-local (watch_tls.c). */
static void hit_for(struct watch *w, const struct rec *r, int id)
{
	const struct location *loc;

	if (id >= NIDS(w)) {
		process_copy_hit(w, r, id);
		return;
	}
	if (id >= w->cfg->nlocs) {
		slot_hit(w, r, id);
		return;
	}
	if (id < 0)
		return;
	loc = w->follow ? follow_view(w, id) : &w->locs[id];
	if (loc && !(w->follow && follow_drop(w, id)))
		process_hit(w, r, id, loc);
}

/* A record of a watch that several ids share (share.c): each takes the
 * access if it touched its own bytes; a stray only if it touched none. */
static void dispatch_hit(struct watch *w, const struct rec *r)
{
	int n;
	const int *riders;
	uint64_t strays = w->sum.strays;

	if (w->follow)
		follow_adopt(w, r->time_ns); /* watches moved before r */
	hit_for(w, r, r->loc);
	if (!w->share_any || !(riders = share_riders(w, r->loc, &n)))
		return;
	for (int k = 0; k < n; k++)
		hit_for(w, r, riders[k]);
	w->sum.strays = strays + (w->sum.strays - strays == (uint64_t)n + 1);
}

/* ---- side-band records ---- */

static void on_fork(struct watch *w, const struct rec *r)
{
	struct thread_name *parent = name_slot(w, (pid_t)r->y);
	char name[32];

	/* A new task starts with its creator's name. */
	if (parent) {
		snprintf(name, sizeof(name), "%s", parent->name);
		set_name(w, (pid_t)r->tid, name);
	}
	if (r->pid != r->x) { /* a new process */
		codemap_fork(w->map, (pid_t)r->pid, (pid_t)r->x);
		pv_fork(w, (pid_t)r->pid, (pid_t)r->x);
	}
}

static void on_record(struct watch *w, const struct rec *r)
{
	struct hwbp_record sw;

	switch (r->kind) {
	case HWBP_REC_HIT:
		/* A recovered hit that raced: its window, through the
		 * racers', leaves the chains it joins unsure (stream.c). */
		if ((r->flags & REC_F_RECOVERED) &&
		    (r->flags & REC_F_ORDER_UNSURE) && r->y > w->unsure_until)
			w->unsure_until = r->y;
		w->racy = order_unsure(w, r);
		w->sum.order_unsure += w->racy;
		if (!atomic_load_explicit(&w->dispatch, memory_order_relaxed) &&
		    r->loc >= 0 && r->loc < w->cfg->nlocs) /* the common case */
			process_hit(w, r, r->loc, &w->locs[r->loc]);
		else
			dispatch_hit(w, r);
		break;
	case HWBP_REC_COMM:
		set_name(w, (pid_t)r->tid, rec_name(r));
		if (r->flags & REC_F_EXEC) { /* another program from now on */
			codemap_exec(w->map, (pid_t)r->pid);
			pv_new(w, (pid_t)r->pid);
		}
		break;
	case HWBP_REC_FORK:
		on_fork(w, r);
		break;
	case HWBP_REC_MMAP:
		codemap_mmap(w->map, (pid_t)r->pid, r->addr, r->x, r->y,
			     rec_name(r));
		break;
	case HWBP_REC_SWITCH:
		if (!w->switches)
			break;
		sw = (struct hwbp_record){ .kind = HWBP_REC_SWITCH,
			.pid = r->pid, .tid = r->tid, .cpu = r->cpu,
			.time_ns = r->time_ns,
			.switch_out = r->flags & REC_F_SWITCH_OUT,
			.preempted = r->flags & REC_F_PREEMPTED };
		swh_add(w->switches, &sw);
		break;
	case REC_LOSS:
		w->losses++;
		if (r->y > w->unsure_until)
			w->unsure_until = r->y;
		pv_all_approx(w);
		tls_all_approx(w);
		break;
	}
}

void *hits_main(void *arg)
{
	struct watch *w = arg;
	uint64_t done = 0;

	for (;;) {
		const struct rec *r;
		bool final = atomic_load(&w->final);

		while ((r = stream_next(w->stream))) {
			on_record(w, r);
			if (w->switches && ++done % 4096 == 0)
				swh_prune(w->switches, r->time_ns);
		}
		if (final)
			follow_adopt(w, UINT64_MAX);
		out_flush(&w->out);
		if (final)
			break;
		if ((w->max_reached || w->out.broken) && w->stop_fd >= 0) {
			uint64_t one = 1;

			if (write(w->stop_fd, &one, sizeof(one)) < 0)
				break;
		}
		stream_wait(w->stream, 100);
	}
	return NULL;
}

/* ---- set up, before the processor runs ---- */

void hits_prime(struct watch *w, pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;

	codemap_process(w->map, pid);
	pv_new(w, pid);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	while (dir && (d = readdir(dir)))
		if (d->d_name[0] >= '0' && d->d_name[0] <= '9')
			(void)hits_thread_name(w, pid, (pid_t)atoi(d->d_name));
	if (dir)
		closedir(dir);
}

int hits_init(struct watch *w)
{
	w->map = codemap_new(w->syms ? syms_describe_kernel : NULL, w->syms);
	w->values = values_new();
	if (w->cfg->switches)
		w->switches = swh_new();
	if (w->cfg->bt)
		w->unwinder = unwind_new();
	w->ncpu_last = get_nprocs_conf();
	w->nchain_last = w->cfg->nlocs + 1;
	w->cpu_last = calloc((size_t)w->ncpu_last * (size_t)w->nchain_last,
			     sizeof(*w->cpu_last));
	if (!w->cpu_last)
		return -ENOMEM;
	return w->map && w->values && (!w->cfg->bt || w->unwinder) ? 0
								   : -ENOMEM;
}

void hits_free(struct watch *w)
{
	for (int k = 0; k < w->npv; k++) {
		for (int i = 0; i < w->cfg->nlocs; i++) {
			free(w->pv[k].bytes[i]);
			free(w->pv[k].q[i]);
		}
		free(w->pv[k].bytes);
		free(w->pv[k].q);
	}
	free(w->pv);
	free(w->names);
	free(w->cpu_last);
	swh_free(w->switches);
	free(w->sum.by_loc);
	free(w->sum.by_thread);
	values_free(w->values);
	unwind_free(w->unwinder);
	codemap_free(w->map);
}
