/* SPDX-License-Identifier: MIT */
/*
 * switches.c - `hwbp watch --switches`: the watched tasks' SWITCH records
 * kept per CPU in time order, so a hit can list the runs that ended on its
 * CPU just before it (who interleaved with the thread that hit).  Records
 * come from several rings out of order across CPUs; per CPU they are kept
 * sorted.  The history is pruned behind the hits already printed.
 */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define KEEP_BEHIND 64 /* entries kept before the oldest unprinted hit */

struct sw_entry {
	uint64_t time_ns;
	pid_t pid, tid;
	bool out, preempted;
};

struct cpu_hist {
	struct sw_entry *v;
	size_t n, cap;
};

struct switch_hist {
	struct cpu_hist *cpus;
	uint32_t ncpus;
};

struct switch_hist *swh_new(void)
{
	return calloc(1, sizeof(struct switch_hist));
}

void swh_free(struct switch_hist *h)
{
	for (uint32_t i = 0; h && i < h->ncpus; i++)
		free(h->cpus[i].v);
	if (h)
		free(h->cpus);
	free(h);
}

static struct cpu_hist *cpu_of(struct switch_hist *h, uint32_t cpu)
{
	if (cpu >= 4096)
		return NULL;
	if (cpu >= h->ncpus) {
		struct cpu_hist *c = realloc(h->cpus, (cpu + 1) * sizeof(*c));

		if (!c)
			return NULL;
		memset(c + h->ncpus, 0, (cpu + 1 - h->ncpus) * sizeof(*c));
		h->cpus = c;
		h->ncpus = cpu + 1;
	}
	return &h->cpus[cpu];
}

/* A HWBP_REC_SWITCH record into its CPU's history, in time order. */
void swh_add(struct switch_hist *h, const struct hwbp_record *r)
{
	struct cpu_hist *c = cpu_of(h, r->cpu);
	size_t at;

	if (!c || r->kind != HWBP_REC_SWITCH)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		struct sw_entry *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return;
		c->v = v;
		c->cap = cap;
	}
	for (at = c->n; at > 0 && c->v[at - 1].time_ns > r->time_ns; at--)
		;
	memmove(&c->v[at + 1], &c->v[at], (c->n - at) * sizeof(*c->v));
	c->v[at] = (struct sw_entry){ r->time_ns, (pid_t)r->pid, (pid_t)r->tid,
				      r->switch_out, r->preempted };
	c->n++;
}

/*
 * The runs that ended on `cpu` before time t, latest first: each
 * switch-out of a task (not the idle task, tid 0) is the end of a run.
 * Thread names are left to the caller.
 */
int swh_before(const struct switch_hist *h, uint32_t cpu, uint64_t t,
	       struct ran_before *out, int max)
{
	const struct cpu_hist *c = cpu < h->ncpus ? &h->cpus[cpu] : NULL;
	size_t i = c ? c->n : 0;
	int n = 0;

	while (i > 0 && c->v[i - 1].time_ns >= t)
		i--;
	for (; i > 0 && n < max; i--) {
		const struct sw_entry *e = &c->v[i - 1];

		if (!e->out || !e->tid)
			continue;
		out[n++] = (struct ran_before){ .pid = e->pid, .tid = e->tid,
						.before_ns = t - e->time_ns,
						.preempted = e->preempted };
	}
	return n;
}

/* Hits before cutoff are printed: keep KEEP_BEHIND entries before it. */
void swh_prune(struct switch_hist *h, uint64_t cutoff)
{
	for (uint32_t k = 0; k < h->ncpus; k++) {
		struct cpu_hist *c = &h->cpus[k];
		size_t first = 0, drop;

		while (first < c->n && c->v[first].time_ns < cutoff)
			first++;
		drop = first > KEEP_BEHIND ? first - KEEP_BEHIND : 0;
		if (!drop)
			continue;
		memmove(c->v, c->v + drop, (c->n - drop) * sizeof(*c->v));
		c->n -= drop;
	}
}
