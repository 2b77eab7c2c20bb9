/* SPDX-License-Identifier: MIT */
/*
 * silent.c - `hwbp silent`: a silent-store detector on the sampling API
 * (Witch's SilentCraft).  Candidate addresses (the program's variables, the
 * LOCATIONs given, or the CPU's precise store samples with --pmu) are
 * offered to a hwbp_sampler; the value is read when a register is armed,
 * and each write that hits is decoded (values.c) for the value it stored.
 * A write is silent when it stored the value it replaced, both known
 * exactly; otherwise it is unsure.  The report gives, per code location,
 * the writes seen and the fraction that were silent.
 *
 * The value read at arming is the first write's old value only if that
 * write came after the read, and a trap's record is stamped microseconds
 * (on a VM, up to milliseconds) after its store: no time tells.  Nor can
 * the values: a first write that stored the value read may have come
 * before the read, or been silent.  (One that stored another value was
 * after the read, unless a later write of the arming stored the value
 * read; counting those and not the others would bias every fraction
 * toward "not silent".)  So the first write of an arming counts only where
 * the instruction tells its old value (xchg, xadd, cmpxchg) or whether it
 * changed it (add $1, bts's CF); a register is kept for a burst of writes,
 * each of which has the one before it as its old value, exactly.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define MAX_CANDIDATES 65536
#define WORDS_PER_OBJECT 64 /* a large object: its first 64 words */
#define BURST 16            /* writes watched per arming */

struct candidate {
	char name[128];
	uint64_t addr;
	uint32_t len;
	uint64_t seq;              /* the sample its chain belongs to */
	uint64_t last_ns;          /* time of the chain's last write */
	uint32_t burst;            /* writes seen of this arming */
	struct value_chain chain;
};

struct site {
	uint64_t ip;               /* the writing instruction */
	int cand;
	uint64_t writes, silent, unsure;
};

/* An index from a 64-bit key to an entry number (open addressing). */
struct index {
	uint64_t *keys;
	int *vals;          /* -1: empty */
	size_t cap, n;
};

struct silent {
	const struct silent_cfg *cfg;
	struct target target;
	struct syms *syms;
	struct values *values;
	struct hwbp_sampler *sampler;
	struct candidate *cands;
	int ncands, cap_cands;
	struct site *sites;
	int nsites, cap_sites;
	struct index site_index, cand_index;
	uint64_t writes, silent, unsure, strays, dropped, start_ns, rng, lost;
	uint64_t uncounted; /* the guard's SIGTRAPs with no cause */
	uint64_t unmatched;        /* records no sample claimed, last look */
	bool stop;
	char msg[512];
};

/* ---- candidates ---- */

static bool add_candidate(struct silent *s, const char *name, uint64_t addr,
			  uint32_t len)
{
	struct candidate *c;

	if (s->ncands >= MAX_CANDIDATES)
		return false;
	if (s->ncands == s->cap_cands) {
		int cap = s->cap_cands ? 2 * s->cap_cands : 64;
		void *v = realloc(s->cands, (size_t)cap * sizeof(*s->cands));

		if (!v)
			return false;
		s->cands = v;
		s->cap_cands = cap;
	}
	c = &s->cands[s->ncands++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->addr = addr;
	c->len = len;
	return true;
}

/* A variable: itself when it fits a register, else its aligned words. */
static void add_object(const char *name, uint64_t addr, uint64_t size,
		       void *ctx)
{
	struct silent *s = ctx;
	struct hwbp_piece p[WORDS_PER_OBJECT];
	int n = hwbp_range_split(addr, size, HWBP_SPLIT_EXACT, p,
				 WORDS_PER_OBJECT);
	char label[128];

	if (n > WORDS_PER_OBJECT)
		n = WORDS_PER_OBJECT;
	for (int i = 0; i < n; i++) {
		if (n == 1)
			snprintf(label, sizeof(label), "%s", name);
		else
			snprintf(label, sizeof(label), "%s+%llu", name,
				 (unsigned long long)(p[i].addr - addr));
		add_candidate(s, label, p[i].addr, p[i].len);
	}
}

static int collect_candidates(struct silent *s)
{
	const struct silent_cfg *c = s->cfg;

	for (int i = 0; i < c->nlocs; i++) {
		struct location loc = { 0 };
		int err = syms_resolve(s->syms, c->locs[i], HWBP_WRITE, &loc,
				       s->msg, sizeof(s->msg));

		if (err)
			return err == RESOLVE_PENDING ? EXIT_RUNTIME : err;
		add_object(loc.name, loc.addr, loc.len, s);
		free(loc.type.enums);
	}
	if (!c->nlocs && !c->pmu)
		syms_data_objects(s->syms, add_object, s);
	if (!s->ncands && !c->pmu) {
		snprintf(s->msg, sizeof(s->msg), "no variables to watch: the "
			 "program has no data symbols (stripped?); name "
			 "LOCATIONs, or use --pmu where the CPU samples stores");
		return EXIT_RUNTIME;
	}
	return 0;
}

/* ---- the index ---- */

static uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	return k ^ (k >> 33);
}

/* The slot of key (its value, or the empty slot where it goes). */
static size_t index_slot(const struct index *x, uint64_t key)
{
	size_t i = mix(key) & (x->cap - 1);

	while (x->vals[i] >= 0 && x->keys[i] != key)
		i = (i + 1) & (x->cap - 1);
	return i;
}

static int index_get(const struct index *x, uint64_t key)
{
	return x->cap ? x->vals[index_slot(x, key)] : -1;
}

static bool index_put(struct index *x, uint64_t key, int val)
{
	if (2 * (x->n + 1) > x->cap) { /* grow: at most half full */
		struct index big = { .cap = x->cap ? 2 * x->cap : 256 };

		big.keys = malloc(big.cap * sizeof(*big.keys));
		big.vals = malloc(big.cap * sizeof(*big.vals));
		if (!big.keys || !big.vals) {
			free(big.keys);
			free(big.vals);
			return false;
		}
		memset(big.vals, 0xff, big.cap * sizeof(*big.vals));
		for (size_t i = 0; i < x->cap; i++)
			if (x->vals[i] >= 0) {
				size_t j = index_slot(&big, x->keys[i]);

				big.keys[j] = x->keys[i];
				big.vals[j] = x->vals[i];
			}
		big.n = x->n;
		free(x->keys);
		free(x->vals);
		*x = big;
	}
	size_t i = index_slot(x, key);

	x->keys[i] = key;
	x->vals[i] = val;
	x->n++;
	return true;
}

static void index_free(struct index *x)
{
	free(x->keys);
	free(x->vals);
}

/* ---- hits ---- */

/* values.c's code source: the symbols' ELF files. */
static size_t code_bytes(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return syms_read_code(ctx, addr, buf, len);
}

static uint64_t code_function(void *ctx, uint64_t addr)
{
	return syms_function_start(ctx, addr);
}

/* The row of (writing instruction, candidate); NULL when out of memory.
 * User addresses fit 48 bits and candidates 16: the key is exact. */
static struct site *site_of(struct silent *s, uint64_t ip, int cand)
{
	uint64_t key = (ip & 0xffffffffffffull) | ((uint64_t)cand << 48);
	int at = index_get(&s->site_index, key);

	if (at >= 0)
		return s->sites[at].ip == ip ? &s->sites[at] : NULL;
	if (s->nsites == s->cap_sites) {
		int cap = s->cap_sites ? 2 * s->cap_sites : 64;
		void *v = realloc(s->sites, (size_t)cap * sizeof(*s->sites));

		if (!v)
			return NULL;
		s->sites = v;
		s->cap_sites = cap;
	}
	if (!index_put(&s->site_index, key, s->nsites))
		return NULL;
	s->sites[s->nsites] = (struct site){ .ip = ip, .cand = cand };
	return &s->sites[s->nsites++];
}

/* The chain a hit continues: for a new arming, the value read then
 * (approximate: the first write may have come before the read); else the
 * chain of its earlier writes (exact while they arrive in time order).  A
 * record of an older arming read late gets a chain of its own, unknown. */
static struct value_chain *chain_for(struct candidate *c,
				     const struct hwbp_sampler_hit *h,
				     struct value_chain *scratch)
{
	const struct hwbp_sample *m = h->sample;

	if (m->seq < c->seq) {
		*scratch = (struct value_chain){ .quality = VQ_NONE };
		return scratch;
	}
	if (c->seq != m->seq) {
		c->seq = m->seq;
		c->burst = 0;
		memcpy(c->chain.bytes, &m->value, sizeof(c->chain.bytes));
		c->chain.quality = m->value_known ? VQ_APPROX : VQ_NONE;
	} else if (h->record->time_ns < c->last_ns) {
		c->chain.quality = VQ_APPROX;
	}
	c->last_ns = h->record->time_ns;
	return &c->chain;
}

/* Count a write: silent, changed, or unsure. */
static void count_write(struct silent *s, struct site *site, enum vchange ch)
{
	s->writes++;
	if (site)
		site->writes++;
	if (ch == VC_UNKNOWN) {
		s->unsure++;
		if (site)
			site->unsure++;
	} else if (ch == VC_SAME) {
		s->silent++;
		if (site)
			site->silent++;
	}
}

/* The candidate a sample is: its cookie (offered by us), else (a PMU
 * sample) the one at its address, added at the first sample there; -1
 * when no more can be kept. */
static int candidate_at(struct silent *s, const struct hwbp_sample *m)
{
	intptr_t i = (intptr_t)m->cookie - 1;
	int at;

	if (i >= 0 && i < s->ncands)
		return (int)i;
	at = index_get(&s->cand_index, m->addr);
	if (at >= 0)
		return at;
	if (!add_candidate(s, "", m->addr, m->len) ||
	    !index_put(&s->cand_index, m->addr, s->ncands - 1))
		return -1;
	return s->ncands - 1;
}

/* Whether the write changed the value, as far as it is known exactly:
 * both values, or the instruction alone (add $1, bts with its CF). */
static enum vchange judged(const struct hit_values *hv)
{
	if (hv->old_q == VQ_EXACT && hv->new_q == VQ_EXACT)
		return hv->old_value == hv->new_value ? VC_SAME : VC_CHANGED;
	return hv->change;
}

/* Ring delivery: runs in the thread calling hwbp_sampler_poll. */
static int on_hit(const struct hwbp_sampler_hit *h, void *cookie)
{
	struct silent *s = cookie;
	const struct hwbp_record *r = h->record;
	const struct hwbp_sample *m = h->sample;
	int ci = candidate_at(s, m);
	struct candidate *c;
	struct value_chain scratch, *chain;
	struct hit_values hv;
	struct access acc;
	struct site *site;
	struct code_source cs = { .read = code_bytes,
				  .function_start = code_function,
				  .ctx = s->syms };

	if (ci < 0) {
		s->dropped++; /* no room for another candidate */
		return HWBP_SAMPLER_RELEASE;
	}
	c = &s->cands[ci];
	values_decode(s->values, &cs, r->ip, &acc);
	/* A stray the library could not decode (the target has exited, its
	 * code is read from the ELF file here): the store went elsewhere. */
	if (acc.decoded && acc.mem_known &&
	    !hwbp_range_overlaps(acc.mem_addr, acc.mem_size ? acc.mem_size : 1,
				 c->addr, c->len)) {
		s->strays++;
		return HWBP_SAMPLER_RELEASE;
	}
	chain = chain_for(c, h, &scratch);
	values_apply(s->values, &cs, r->ip,
		     r->regs_mask == SAMPLED_REGS_MASK ? r->regs : NULL,
		     c->addr, c->len, chain, target_read, &s->target, &hv);
	site = site_of(s, acc.decoded ? acc.insn_addr : r->ip, ci);
	count_write(s, site, judged(&hv));
	if (chain == &scratch)
		return HWBP_SAMPLER_RELEASE; /* an older arming's: ignored */
	return ++c->burst >= BURST ? HWBP_SAMPLER_RELEASE : HWBP_SAMPLER_KEEP;
}

/* ---- the run ---- */

static uint64_t next_random(struct silent *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

/* Random candidates, as many as there are registers: free ones fill at
 * once, armed ones are replaced by the sampler's reservoir. */
static void offer_some(struct silent *s, int n)
{
	for (int i = 0; i < n && s->ncands; i++) {
		int k = (int)(next_random(s) % (uint64_t)s->ncands);
		struct hwbp_sample m = {
			.addr = s->cands[k].addr, .len = s->cands[k].len,
			.access = HWBP_WRITE, .cookie = (void *)(intptr_t)(k + 1),
		};

		hwbp_sampler_offer(s->sampler, &m);
	}
}

static int start_sampler(struct silent *s)
{
	HWBP_OPTS(hwbp_opts, bo, .scope = HWBP_SCOPE_PROCESS,
		  .pid = s->target.pid, .delivery = HWBP_DELIVER_RING,
		  .regs_mask = SAMPLED_REGS_MASK, .wakeup_events = 1,
		  /* the registers by a BPF program at the trap, where
		   * allowed (as hwbp watch: libhwbp bpf.c) */
		  .bpf_samples = true);
	HWBP_OPTS(hwbp_sampler_opts, so, .bp_opts = &bo, .on_hit = on_hit,
		  .cookie = s, .seed = s->cfg->seed ? s->cfg->seed : 1,
		  .source = s->cfg->pmu ? HWBP_SOURCE_PMU_STORES
					: HWBP_SOURCE_CALLER,
		  .access = HWBP_WRITE);

	if (hwbp_sampler_create(&s->sampler, &so)) {
		snprintf(s->msg, sizeof(s->msg), "cannot start the sampler: %s%s",
			 hwbp_last_error(), s->cfg->pmu ? " (without --pmu, "
			 "hwbp silent samples the program's variables)" : "");
		return EXIT_RUNTIME;
	}
	return 0;
}

/* Records the rings dropped (or that no sample claimed) break the value
 * chains (an old value would be one a dropped write replaced): start
 * them again. */
static void forget_after_loss(struct silent *s)
{
	HWBP_OPTS(hwbp_sampler_stats, st);

	if (hwbp_sampler_get_stats(s->sampler, &st) ||
	    (st.lost == s->lost && st.unmatched == s->unmatched))
		return;
	s->lost = st.lost;
	s->unmatched = st.unmatched;
	for (int i = 0; i < s->ncands; i++)
		s->cands[i].chain.quality = VQ_APPROX;
}

static void loop(struct silent *s, int sfd)
{
	const struct silent_cfg *c = s->cfg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	uint64_t window_ns = (uint64_t)c->window_ms * 1000000ull;
	uint64_t last_release = now_ns();
	HWBP_OPTS(hwbp_sampler_stats, st);

	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	epoll_ctl(ep, EPOLL_CTL_ADD, hwbp_sampler_fd(s->sampler), &ev);
	hwbp_sampler_get_stats(s->sampler, &st);
	while (!s->stop) {
		struct epoll_event got[4];
		struct signalfd_siginfo si;
		int ms = c->period_us >= 1000 ? (int)(c->period_us / 1000) : 1;

		epoll_wait(ep, got, 4, ms);
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			if (si.ssi_signo != SIGCHLD) {
				s->stop = true;
				if (s->target.launched && !s->target.exited)
					kill(s->target.pid, SIGTERM);
			}
		if (target_poll_exit(&s->target, false))
			s->stop = true;
		hwbp_sampler_consume(s->sampler);
		forget_after_loss(s);
		if (!c->pmu)
			offer_some(s, (int)st.registers);
		if (now_ns() - last_release >= window_ns) {
			hwbp_sampler_release_all(s->sampler);
			last_release = now_ns();
		}
	}
	hwbp_sampler_release_all(s->sampler);
	hwbp_sampler_consume(s->sampler);
	close(ep);
}

static int by_silent(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->silent != y->silent)
		return x->silent < y->silent ? 1 : -1;
	return x->writes < y->writes ? 1 : x->writes > y->writes ? -1 : 0;
}

static double fraction(uint64_t silent, uint64_t writes, uint64_t unsure)
{
	return writes > unsure ? (double)silent / (double)(writes - unsure) : 0;
}

static void report_site(struct silent *s, const struct site *t)
{
	const struct candidate *c = &s->cands[t->cand];
	struct code_loc where;
	FILE *f = s->cfg->out;
	char at[PATH_MAX + 64];

	syms_describe(s->syms, t->ip, &where);
	if (s->cfg->json) {
		fprintf(f, "{\"type\":\"site\",\"ip\":\"0x%llx\",\"function\":",
			(unsigned long long)t->ip);
		out_json_string(f, where.function);
		fprintf(f, ",\"offset\":%llu,\"file\":",
			(unsigned long long)where.offset);
		out_json_string(f, where.file);
		fprintf(f, ",\"line\":%d,\"module\":", where.line);
		out_json_string(f, where.module);
		if (code_loc_in_file(&where) && where.has_base)
			fprintf(f, ",\"module_offset\":\"0x%llx\"",
				(unsigned long long)(t->ip - where.module_base));
		fprintf(f, ",\"variable\":");
		out_json_string(f, c->name);
		fprintf(f, ",\"addr\":\"0x%llx\",\"writes\":%llu,\"silent\":%llu,"
			"\"unsure\":%llu,\"fraction\":%.4f}\n",
			(unsigned long long)c->addr,
			(unsigned long long)t->writes,
			(unsigned long long)t->silent,
			(unsigned long long)t->unsure,
			fraction(t->silent, t->writes, t->unsure));
		return;
	}
	fprintf(f, "%9llu/%-9llu %6.1f%%  ", (unsigned long long)t->silent,
		(unsigned long long)(t->writes - t->unsure),
		100 * fraction(t->silent, t->writes, t->unsure));
	if (where.function[0]) {
		fprintf(f, "%s+0x%llx", where.function,
			(unsigned long long)where.offset);
	} else {
		out_unnamed_code(at, sizeof(at), &where, t->ip);
		fputs(at, f);
	}
	if (where.file[0])
		fprintf(f, " (%s:%d)", where.file, where.line);
	fprintf(f, "  %s", c->name[0] ? c->name : "?");
	if (t->unsure)
		fprintf(f, "  [%llu unsure]", (unsigned long long)t->unsure);
	fputc('\n', f);
}

static void report(struct silent *s)
{
	HWBP_OPTS(hwbp_sampler_stats, st);
	FILE *f = s->cfg->out;
	double secs = (double)(now_ns() - s->start_ns) / 1e9;

	hwbp_sampler_get_stats(s->sampler, &st);
	if (s->nsites)
		qsort(s->sites, (size_t)s->nsites, sizeof(*s->sites), by_silent);
	if (!s->cfg->json)
		fprintf(f, "%-19s %7s  %s\n", "silent/writes", "silent",
			"code location  variable");
	for (int i = 0; i < s->nsites && i < s->cfg->top; i++)
		report_site(s, &s->sites[i]);
	if (s->cfg->json) {
		fprintf(f, "{\"type\":\"summary\",\"writes\":%llu,\"silent\":%llu,"
			"\"unsure\":%llu,\"fraction\":%.4f,\"sites\":%d,"
			"\"candidates\":%d,\"offered\":%llu,\"armed\":%llu,"
			"\"strays\":%llu,\"lost\":%llu,\"lost_uncounted\":%llu,"
			"\"dropped\":%llu,\"seconds\":%.3f}\n",
			(unsigned long long)s->writes,
			(unsigned long long)s->silent,
			(unsigned long long)s->unsure,
			fraction(s->silent, s->writes, s->unsure), s->nsites,
			s->ncands, (unsigned long long)st.offered,
			(unsigned long long)st.armed,
			(unsigned long long)(st.strays + s->strays),
			(unsigned long long)st.lost,
			(unsigned long long)s->uncounted,
			(unsigned long long)s->dropped, secs);
		return;
	}
	fprintf(stderr, "hwbp silent: %llu writes sampled at %d code locations "
		"in %.3f s: %llu silent (%.1f%% of %llu exact), %llu unsure; "
		"%d candidates, %llu offered, %llu armed, lost %llu\n",
		(unsigned long long)s->writes, s->nsites, secs,
		(unsigned long long)s->silent,
		100 * fraction(s->silent, s->writes, s->unsure),
		(unsigned long long)(s->writes - s->unsure),
		(unsigned long long)s->unsure, s->ncands,
		(unsigned long long)st.offered, (unsigned long long)st.armed,
		(unsigned long long)st.lost);
	if (s->uncounted)
		fprintf(stderr, "hwbp silent: %llu sampled writes the kernel did "
			"not count (SIGTRAPs with no cause: the host lost their "
			"debug status) are not in the fractions\n",
			(unsigned long long)s->uncounted);
	if (s->dropped)
		fprintf(stderr, "hwbp silent: %llu hits not counted: their "
			"addresses came after the %d candidates kept\n",
			(unsigned long long)s->dropped, MAX_CANDIDATES);
}

/* A hit the kernel did not count (target.c's guard dropped its SIGTRAP). */
static void on_uncaused(void *ctx, const struct uncaused_trap *trap)
{
	struct silent *s = ctx;

	(void)trap;
	s->uncounted++;
}

static int start(struct silent *s)
{
	const struct silent_cfg *c = s->cfg;
	int err = c->cmd ? target_launch(c->cmd, false, &s->target, s->msg,
					 sizeof(s->msg))
			 : target_attach(c->pid, &s->target, s->msg,
					 sizeof(s->msg));

	if (err)
		return err;
	target_on_uncaused(&s->target, on_uncaused, s);
	if ((err = syms_open(&s->syms, s->target.pid, false))) {
		snprintf(s->msg, sizeof(s->msg), "cannot read symbols: %s",
			 strerror(-err));
		return EXIT_RUNTIME;
	}
	s->values = values_new();
	if (!s->values)
		return EXIT_RUNTIME;
	if ((err = collect_candidates(s)))
		return err;
	return start_sampler(s);
}

int silent_run(const struct silent_cfg *c)
{
	struct silent s = { .cfg = c, .rng = c->seed ? c->seed : 88172645463325252ull };
	sigset_t old;
	int sfd = block_stop_signals(&old), rc = start(&s);

	if (rc) {
		fprintf(stderr, "hwbp: %s\n", s.msg);
		if (s.target.launched && !s.target.exited) {
			kill(s.target.pid, SIGKILL);
			waitpid(s.target.pid, NULL, 0);
		}
	} else {
		warn_if_no_traps();
		s.start_ns = now_ns();
		if (s.target.launched)
			target_resume(&s.target);
		loop(&s, sfd);
		report(&s);
		if (s.target.launched)
			target_poll_exit(&s.target, true);
		rc = target_exit_code(&s.target);
	}
	hwbp_sampler_close(s.sampler);
	values_free(s.values);
	syms_close(s.syms);
	free(s.cands);
	free(s.sites);
	index_free(&s.site_index);
	index_free(&s.cand_index);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
