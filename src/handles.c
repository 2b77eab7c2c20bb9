/* SPDX-License-Identifier: MIT */
/*
 * handles.c - the open and recently closed handles of one kind (schedulers,
 * samplers).  A close of a pointer that is not open is -EBADF, not a double
 * free; a closed handle stays allocated, marked closed, until `depth` more
 * are closed (64 breakpoints, 16 schedulers or samplers), so a call on a
 * handle just closed is -EBADF, not a use-after-free.  Pointers are compared, never dereferenced here.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

int hwbp_handles_add(struct hwbp_handles *h, void *p)
{
	int err = 0;

	pthread_mutex_lock(&h->lock);
	if (h->n == h->cap) {
		int cap = h->cap ? 2 * h->cap : 8;
		void **v = realloc(h->open, (size_t)cap * sizeof(*v));

		if (v) {
			h->open = v;
			h->cap = cap;
		} else {
			err = hwbp_fail(ENOMEM, "out of memory for a handle");
		}
	}
	if (!err)
		h->open[h->n++] = p;
	pthread_mutex_unlock(&h->lock);
	return err;
}

bool hwbp_handles_unlink(struct hwbp_handles *h, void *p,
			 _Atomic bool *closed)
{
	bool found = false;

	pthread_mutex_lock(&h->lock);
	for (int i = 0; i < h->n && !found; i++)
		if (h->open[i] == p) {
			h->open[i] = h->open[--h->n];
			atomic_store(closed, true);
			found = true;
		}
	pthread_mutex_unlock(&h->lock);
	return found;
}

void hwbp_handles_retire(struct hwbp_handles *h, void *p)
{
	void *old;

	pthread_mutex_lock(&h->lock);
	old = h->quarantine[h->q_next];
	h->quarantine[h->q_next] = p;
	h->q_next = (h->q_next + 1) % h->depth;
	pthread_mutex_unlock(&h->lock);
	if (old)
		h->free_fn(old);
}

int hwbp_handles_sum(struct hwbp_handles *h, int (*fn)(void *p, void *ctx),
		     void *ctx)
{
	int n = 0;

	pthread_mutex_lock(&h->lock);
	for (int i = 0; i < h->n; i++)
		n += fn(h->open[i], ctx);
	pthread_mutex_unlock(&h->lock);
	return n;
}

void hwbp_handles_drain(struct hwbp_handles *h)
{
	for (int i = 0; i < h->depth; i++) {
		if (h->quarantine[i])
			h->free_fn(h->quarantine[i]);
		h->quarantine[i] = NULL;
	}
	free(h->open);
	h->open = NULL;
	h->n = h->cap = 0;
}
