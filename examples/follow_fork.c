/* SPDX-License-Identifier: MIT */
/*
 * follow_fork.c - a process-wide watchpoint that follows a forked child:
 * every write to `shared_state`, by this process's threads or by the
 * children it forks afterwards, arrives in a ring buffer as a record with
 * pid, tid, instruction pointer and time.  With task_events the ring also
 * says when the child was forked and when it exited.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hwbp.h>

static volatile long shared_state;

struct tally {
	pid_t parent, child;
	int parent_writes, child_writes, forks, exits;
};

/* Runs in the thread calling hwbp_ring_poll/consume: any code is fine. */
static void on_record(const struct hwbp_record *rec, void *cookie)
{
	struct tally *t = cookie;

	switch (rec->kind) {
	case HWBP_REC_HIT:
		printf("  write by pid %u tid %u at ip 0x%llx\n", rec->pid,
		       rec->tid, (unsigned long long)rec->ip);
		t->parent_writes += (pid_t)rec->pid == t->parent;
		t->child_writes += (pid_t)rec->pid == t->child;
		break;
	case HWBP_REC_FORK:
		t->forks += (pid_t)rec->pid == t->child;
		break;
	case HWBP_REC_EXIT:
		t->exits += (pid_t)rec->pid == t->child && rec->pid == rec->tid;
		break;
	default:
		break;
	}
}

int main(void)
{
	struct tally t = { .parent = getpid() };
	HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING, .on_record = on_record,
		  .cookie = &t, .task_events = true);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *bp;
	int err = hwbp_create(&bp, (uintptr_t)&shared_state,
			      sizeof(shared_state), HWBP_WRITE, &opts);

	if (err) {
		fprintf(stderr, "hwbp_create: %s: %s\n", strerror(-err),
			hwbp_last_error());
		return 1;
	}
	for (int i = 0; i < 3; i++)
		shared_state = i;
	fflush(stdout);
	t.child = fork();
	if (t.child == 0) {
		for (int i = 0; i < 5; i++)
			shared_state = 100 + i;
		_exit(0);
	}
	waitpid(t.child, NULL, 0);
	hwbp_ring_consume(bp);
	hwbp_get_stats(bp, &st);
	hwbp_close(bp);
	printf("parent %d: %d writes seen of 3; child %d: %d of 5 "
	       "(fork seen %d, exit seen %d, lost %llu)\n", t.parent,
	       t.parent_writes, t.child, t.child_writes, t.forks, t.exits,
	       (unsigned long long)st.lost);
	return t.parent_writes == 3 && t.child_writes == 5 ? 0 : 1;
}
