/* SPDX-License-Identifier: MIT */
/*
 * strpool.c - interned strings: names repeat (a function, a file, a
 * module, for every hit), so each is kept once and compared by pointer;
 * they live as long as their pool.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

struct strpool {
	char **slot;
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool pool_grow(struct strpool *p)
{
	size_t cap = p->cap ? p->cap * 2 : 1024;
	char **slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return false;
	for (size_t i = 0; i < p->cap; i++) {
		size_t k;

		if (!p->slot[i])
			continue;
		for (k = hash_str(p->slot[i]) & (cap - 1); slot[k];
		     k = (k + 1) & (cap - 1))
			;
		slot[k] = p->slot[i];
	}
	free(p->slot);
	p->slot = slot;
	p->cap = cap;
	return true;
}

const char *strpool_get(struct strpool *p, const char *s)
{
	size_t k;

	if (!s || !*s)
		return "";
	if (2 * (p->n + 1) > p->cap && !pool_grow(p))
		return "";
	for (k = hash_str(s) & (p->cap - 1); p->slot[k];
	     k = (k + 1) & (p->cap - 1))
		if (!strcmp(p->slot[k], s))
			return p->slot[k];
	p->slot[k] = strdup(s);
	if (!p->slot[k])
		return "";
	p->n++;
	return p->slot[k];
}

struct strpool *strpool_new(void)
{
	return calloc(1, sizeof(struct strpool));
}

void strpool_free(struct strpool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->cap; i++)
		free(p->slot[i]);
	free(p->slot);
	free(p);
}
