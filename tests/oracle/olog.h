/* SPDX-License-Identifier: MIT */
/*
 * olog.h - the oracle programs' own record of their writes (tests/oracle/).
 * Each thread logs every write it makes to a watched location into a buffer
 * allocated before its writes start (no I/O, no allocation between writes);
 * each process appends its lines to the file named by HWBP_ORACLE_LOG once
 * its writes are done (one write(2) with O_APPEND: forked children and an
 * exec'd image add theirs to the same file).
 *
 * A line (oracle-check reads it):
 *   KIND PID TID SEQ COMM FUNC LOC ADDR SIZE OLD NEW
 * KIND  W  a write to the watched location: hwbp must report it, with its
 *          new value exact (a mov from a register or an immediate, a
 *          cmpxchg: man hwbp, VALUES);
 *       w  the same where hwbp cannot know the new value for sure (xchg,
 *          xadd or add of a register: the register holds the old value or
 *          the old value is unknown; a range over several registers);
 *       s  a stray: a write beside the location in the same aligned 8 bytes,
 *          which may share its debug register (never reported, at most
 *          counted in the summary's strays);
 *       x  a write hwbp must not report (not armed there: after an exec,
 *          outside the registers)
 * SEQ   the thread's own count of its logged writes, from 0
 * COMM  the thread's name when it wrote; FUNC the function that stored
 * LOC   the LOCATION as hwbp is given it (without :LEN)
 * ADDR  the store's address (hex), SIZE its width in bytes
 * OLD, NEW  the location's bytes before and after the store, in address
 *       order, as hex pairs ("-": the program could not know them)
 */
#ifndef HWBP_OLOG_H
#define HWBP_OLOG_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OLOG_VMAX 64    /* the longest location logged (arr whole) */
#define OLOG_THREADS 64 /* logging threads per process */

struct olog_entry {
	char kind;
	uint32_t seq;
	pid_t pid, tid;
	char comm[16];
	const char *func, *loc; /* static strings */
	uintptr_t addr;
	uint32_t size, vlen;    /* vlen 0: values unknown */
	bool old_known;
	uint8_t old[OLOG_VMAX], new[OLOG_VMAX];
};

/* One thread's log: allocated for `cap` entries before it writes. */
struct olog {
	struct olog_entry *e;
	int n, cap;
	uint32_t seq;
	pid_t pid, tid;
	char comm[16];
};

static struct olog *olog_all[OLOG_THREADS];
static int olog_nall;
static pthread_mutex_t olog_lock = PTHREAD_MUTEX_INITIALIZER;

static void olog_die(const char *what)
{
	fprintf(stderr, "oracle: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The thread's name and ids, read again after a rename or a fork. */
static void olog_identify(struct olog *l)
{
	l->pid = getpid();
	l->tid = (pid_t)syscall(SYS_gettid);
	memset(l->comm, 0, sizeof(l->comm));
	prctl(PR_GET_NAME, l->comm);
}

/* A log for the calling thread, registered for olog_flush. */
static struct olog *olog_new(int cap)
{
	struct olog *l = calloc(1, sizeof(*l));

	if (!l || !(l->e = calloc((size_t)cap, sizeof(*l->e))))
		olog_die("out of memory for the log");
	l->cap = cap;
	olog_identify(l);
	pthread_mutex_lock(&olog_lock);
	if (olog_nall == OLOG_THREADS) {
		errno = E2BIG;
		olog_die("too many logging threads");
	}
	olog_all[olog_nall++] = l;
	pthread_mutex_unlock(&olog_lock);
	return l;
}

static void olog_rename(struct olog *l, const char *name)
{
	prctl(PR_SET_NAME, name);
	olog_identify(l);
}

/* In a forked child: the logs it inherited are its parent's (the parent
 * writes them); the caller's log starts afresh as a new thread's. */
static void olog_forked(struct olog *l)
{
	olog_nall = 0;
	olog_all[olog_nall++] = l;
	l->n = 0;
	l->seq = 0;
	olog_identify(l);
}

/* Record one store of `size` bytes at `addr`; the location [loc_addr,
 * loc_addr + vlen) held `old` before (NULL: unknown) and `new` after. */
static void olog_add(struct olog *l, char kind, const char *func,
		     const char *loc, const volatile void *addr, uint32_t size,
		     uint32_t vlen, const void *old, const void *new)
{
	struct olog_entry *e;

	if (l->n == l->cap) {
		errno = ENOSPC;
		olog_die("log full");
	}
	e = &l->e[l->n++];
	e->kind = kind;
	e->seq = l->seq++;
	e->pid = l->pid;
	e->tid = l->tid;
	memcpy(e->comm, l->comm, sizeof(e->comm));
	e->func = func;
	e->loc = loc;
	e->addr = (uintptr_t)addr;
	e->size = size;
	e->vlen = vlen > OLOG_VMAX ? OLOG_VMAX : vlen;
	e->old_known = old != NULL;
	if (old)
		memcpy(e->old, old, e->vlen);
	memcpy(e->new, new, e->vlen);
}

/* A long location written whole by a mov: its value before and after. */
static void olog_long(struct olog *l, const char *func, const char *loc,
		      const volatile long *addr, const long *old, long new)
{
	olog_add(l, 'W', func, loc, addr, sizeof(long), sizeof(long), old,
		 &new);
}

/* The same by an instruction whose new value hwbp cannot know for sure. */
static void olog_rmw(struct olog *l, const char *func, const char *loc,
		     const volatile long *addr, const long *old, long new)
{
	olog_add(l, 'w', func, loc, addr, sizeof(long), sizeof(long), old,
		 &new);
}

static char *olog_hex(char *p, const uint8_t *b, uint32_t n, bool known)
{
	if (!known || !n) {
		*p++ = '-';
		return p;
	}
	for (uint32_t i = 0; i < n; i++)
		p += sprintf(p, "%02x", b[i]);
	return p;
}

static size_t olog_format(const struct olog_entry *e, char *p)
{
	char *s = p;

	p += sprintf(p, "%c %d %d %u %s %s %s 0x%llx %u ", e->kind,
		     (int)e->pid, (int)e->tid, e->seq, e->comm, e->func,
		     e->loc, (unsigned long long)e->addr, e->size);
	p = olog_hex(p, e->old, e->vlen, e->old_known);
	*p++ = ' ';
	p = olog_hex(p, e->new, e->vlen, true);
	*p++ = '\n';
	return (size_t)(p - s);
}

/* Append this process's lines to $HWBP_ORACLE_LOG, in one write. */
static void olog_flush(void)
{
	const char *path = getenv("HWBP_ORACLE_LOG");
	size_t len = 0, total = 0;
	char *text, *p;
	int fd;

	if (!path || !*path) {
		errno = EINVAL;
		olog_die("HWBP_ORACLE_LOG (the log file) is not set");
	}
	for (int t = 0; t < olog_nall; t++)
		total += (size_t)olog_all[t]->n * (64 + 4 * OLOG_VMAX + 160);
	p = text = malloc(total + 1);
	if (!text)
		olog_die("out of memory for the log text");
	for (int t = 0; t < olog_nall; t++)
		for (int i = 0; i < olog_all[t]->n; i++)
			len += olog_format(&olog_all[t]->e[i], text + len);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		olog_die(path);
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			olog_die(path);
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	free(text);
	for (int t = 0; t < olog_nall; t++)
		olog_all[t]->n = 0;
}

#endif
