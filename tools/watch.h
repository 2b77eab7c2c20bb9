/* SPDX-License-Identifier: MIT */
/*
 * watch.h - what `hwbp watch`'s two halves share: watch.c, the control
 * thread (target, arming, signals, the end), and hits.c, the processor
 * (every record in time order: address spaces, values, names, output).
 * Between them, stream.c's readers move the records out of the rings.
 *
 * Who touches what: the control thread owns target, syms, the handles and
 * the locations' arming; the processor owns everything under "the
 * processor's" once it runs, until the control thread joins it.
 */
#ifndef HWBP_WATCH_H
#define HWBP_WATCH_H

#include <pthread.h>
#include <stdatomic.h>

#include "tool.h"

struct watch;
struct loc_ctx { /* the cookie of a location's watch */
	struct watch *w;
	int idx;
};

struct thread_name {
	pid_t tid;
	char name[32];
};

/* The bytes a process's writes leave at each location, and how well each
 * is known (enum vquality); a fork starts with a copy of its parent's. */
struct proc_values {
	pid_t pid;
	uint8_t **bytes;             /* per location, len bytes (or NULL) */
	uint8_t **q;
};

struct watch {
	const struct watch_cfg *cfg;
	struct location *locs;
	/* Each location's bytes when it was armed, and how well known (the
	 * control thread's before arming; the processor's after). */
	uint8_t **armed_bytes;
	enum vquality *armed_q;
	/* Each location's members (NULL: not a whole object), built before
	 * it is armed, immutable after. */
	struct members **members;

	/* ---- the control thread's ---- */
	struct target target;
	struct syms *syms;
	struct hwbp **bps;            /* --count / --cpu: a breakpoint per */
	int *bp_loc;                  /* register: of this location */
	int nbps;
	struct hwbp *ring_bp;         /* --cpu: the handle owning the rings */
	struct hwbp_sched *sched;     /* otherwise: the scheduler ... */
	struct hwbp_watch **watches;  /* ... and a watch per location */
	struct loc_ctx *ctx;
	struct loc_ctx task_ctx;      /* the scheduler's task records */
	struct hwbp_sched_stats before; /* counted before the last read */
	uint64_t lost;                /* records the kernel counted, not read */
	uint64_t *counts;             /* --count: per location */
	struct coverage *cov;         /* locations armed part of the time */
	int ncov;
	uint32_t ring_pages;          /* each CPU's ring */
	int ring_cpus[1024];          /* the rings' CPUs (the readers') */
	int nrings;
	/* --no-lost: the readers ask (pause_fd), the control thread holds the
	 * program until every ring is nearly empty again */
	int pause_fd;
	bool paused, pause_failed;
	uint64_t paused_at, pauses, paused_ns;
	int ring_smaller;             /* times it was halved (mlock limit) */
	struct stream *stream;
	pthread_t processor;
	bool processing;
	int stop_fd;                  /* eventfd: the processor asks to stop */
	uint64_t start_ns;
	char msg[1024];

	/* ---- shared ---- */
	bool shared;                  /* locations take turns on registers */
	_Atomic bool final;           /* readers are done: process all, end */

	/* ---- the processor's ---- */
	struct codemap *map;
	struct values *values;
	struct proc_values *pv;
	int npv;
	struct summary sum;
	struct loc_count *last_row;   /* of sum.by_loc, hit last */
	struct thread_name *names;
	int nnames;
	struct switch_hist *switches; /* --switches */
	struct unwinder *unwinder;    /* --bt */
	uint64_t bt_short;            /* backtraces that stopped early */
	struct out out;
	uint64_t losses;              /* REC_LOSS windows seen */
	uint64_t unsure_until;        /* a loss window: writes before this
				       * time leave the chains unsure */
	bool max_reached;
};

/* members.c: a whole object's members (the control thread builds each
 * table before the location is armed; the processor reads it, no lock) */
struct member {
	uint32_t off, len;     /* in the location */
	const char *name;      /* "cfg.limit", "arr[3]", "obj.x" (stable) */
	uint16_t type;         /* members_type */
	bool typed;            /* a scalar type: values typed, else bytes */
};
struct members;
/* The table of loc if it is a whole object (typed, no :LEN, more than one
 * member), else *out = NULL; 0 or -ENOMEM. */
int members_build(struct syms *s, const struct location *loc,
		  struct members **out);
void members_free(struct members *t);
const struct member *members_at(const struct members *t, uint32_t off,
				uint32_t len);
const struct vtype *members_type(const struct members *t,
				 const struct member *m);
int members_count(const struct members *t);

/* hits.c */
int hits_init(struct watch *w);
void hits_free(struct watch *w);
/* The processor thread: records in time order until w->final and none
 * is left. */
void *hits_main(void *arg);
/* The names and values of a process we start watching (control thread,
 * before the processor runs). */
void hits_prime(struct watch *w, pid_t pid);
const char *hits_thread_name(struct watch *w, pid_t pid, pid_t tid);

#endif
