/* SPDX-License-Identifier: MIT */
/*
 * members.c - a whole object's members, for the hits that touch them: a
 * struct, class, union or array watched whole (a LOCATION without :LEN)
 * gets a table of its leaf members and elements (offset, size, name,
 * type), built once by the control thread from DWARF (syms_member_at)
 * before the location is armed, and read, immutable and without locks,
 * by the processor: a byte's member is one array index away.  Accesses
 * that span members are named where an aligned 2-, 4- or 8-byte store
 * names something narrower than the object (a union's `word.i`, a nested
 * struct copied at once).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "watch.h"

/* Aligned windows named: 2, 4 and 8 bytes (one store). */
#define NWIN 3

struct members {
	uint32_t len;         /* the location's bytes */
	struct member *m;     /* leaves, in offset order */
	int n;
	uint16_t *at;         /* per byte: its leaf */
	struct member *wm;    /* windows that name more than one leaf */
	int nwm;
	int32_t *win[NWIN];   /* per aligned window: wm index, -1: none */
	struct vtype *types;  /* distinct types (enums owned) */
	int ntypes;
	char **names;         /* every name (owned) */
	int nnames;
};

static int type_index(struct members *t, struct vtype *vt)
{
	struct vtype *grown;

	for (int i = 0; i < t->ntypes; i++)
		if (t->types[i].kind == vt->kind &&
		    t->types[i].size == vt->size &&
		    !strcmp(t->types[i].name, vt->name)) {
			free(vt->enums);
			return i;
		}
	grown = realloc(t->types, (size_t)(t->ntypes + 1) * sizeof(*grown));
	if (!grown) {
		free(vt->enums);
		return -ENOMEM;
	}
	t->types = grown;
	t->types[t->ntypes] = *vt;
	return t->ntypes++;
}

static const char *keep_name(struct members *t, const char *name)
{
	char **grown = realloc(t->names, (size_t)(t->nnames + 1) *
				       sizeof(*grown));
	char *copy = grown ? strdup(name) : NULL;

	if (grown)
		t->names = grown;
	if (!copy)
		return NULL;
	t->names[t->nnames++] = copy;
	return copy;
}

/* A member into list (*v, *n): 0 or -ENOMEM (vt's enums are taken). */
static int add_member(struct members *t, struct member **v, int *n,
		      uint32_t off, uint32_t len, const char *name,
		      struct vtype *vt)
{
	struct member *grown = realloc(*v, (size_t)(*n + 1) * sizeof(*grown));
	int type = type_index(t, vt);
	const char *kept = keep_name(t, name);

	if (grown)
		*v = grown;
	if (!grown || type < 0 || !kept)
		return -ENOMEM;
	(*v)[*n] = (struct member){ .off = off, .len = len, .name = kept,
				    .type = (uint16_t)type,
				    .typed = vt->kind != V_HEX };
	(*n)++;
	return 0;
}

/* "name+12": bytes no member names (padding, bit-fields); the part
 * before the '+' names their container.  The location's own name may
 * hold no '+' (a whole object is named without +OFFSET). */
static const char *residue(const char *name)
{
	return strrchr(name, '+');
}

static bool same_container(const char *a, const char *b)
{
	size_t la = (size_t)(residue(a) - a);

	return residue(b) && (size_t)(residue(b) - b) == la &&
	       !strncmp(a, b, la);
}

/* The leaves from byte 0 to the end: each member's size from its type,
 * bytes no member names gathered into runs. */
static int build_leaves(struct syms *s, const struct location *loc,
			uint64_t base, struct members *t)
{
	char name[256], next[256];
	struct vtype vt, skip;

	for (uint32_t off = 0; off < t->len;) {
		uint32_t len = 1;

		if (syms_member_at(s, loc, base + off, 1, name, sizeof(name),
				   &vt))
			return -ENOENT;
		if (residue(name)) { /* a run of unnamed bytes */
			while (off + len < t->len &&
			       !syms_member_at(s, loc, base + off + len, 1,
					       next, sizeof(next), &skip)) {
				free(skip.enums);
				if (!same_container(name, next))
					break;
				len++;
			}
			free(vt.enums);
			memset(&vt, 0, sizeof(vt));
			vt.size = len;
		} else if (vt.size > 1) {
			len = vt.size < t->len - off ? vt.size : t->len - off;
		}
		for (uint32_t b = off; b < off + len; b++)
			t->at[b] = (uint16_t)t->n;
		if (add_member(t, &t->m, &t->n, off, len, name, &vt))
			return -ENOMEM;
		off += len;
	}
	return 0;
}

/* Aligned windows over more than one leaf, where DWARF names them more
 * narrowly than the whole object. */
static int build_windows(struct syms *s, const struct location *loc,
			 uint64_t base, struct members *t)
{
	char name[256];
	struct vtype vt;

	for (int k = 0; k < NWIN; k++) {
		uint32_t size = 2u << k, nw = t->len / size;

		t->win[k] = malloc((nw ? nw : 1) * sizeof(*t->win[k]));
		if (!t->win[k])
			return -ENOMEM;
		for (uint32_t i = 0; i < nw; i++) {
			uint32_t off = i * size;

			t->win[k][i] = -1;
			if (t->at[off] == t->at[off + size - 1] ||
			    syms_member_at(s, loc, base + off, size, name,
					   sizeof(name), &vt))
				continue;
			if (!strcmp(name, loc->name) || residue(name)) {
				free(vt.enums);
				continue;
			}
			if (vt.size != size)
				vt.kind = V_HEX; /* an aggregate: its bytes */
			t->win[k][i] = t->nwm;
			if (add_member(t, &t->wm, &t->nwm, off, size, name, &vt))
				return -ENOMEM;
		}
	}
	return 0;
}

/* "name:LEN" (not "lib.so:name", not "a::b"). */
static bool has_len(const char *spec)
{
	const char *colon = strrchr(spec, ':');

	return colon && colon > spec && colon[-1] != ':' && colon[1] &&
	       strspn(colon + 1, "0123456789abcdefABCDEFxX") ==
	       strlen(colon + 1);
}

/* Whole objects only: typed (DWARF), named without :LEN or +OFFSET, and
 * more than one member (a scalar is its own value). */
static bool whole_object(const struct location *loc)
{
	return loc->type_die && !has_len(loc->spec) &&
	       !strchr(loc->spec, '+') && loc->len > 1 &&
	       loc->access != HWBP_EXEC;
}

int members_build(struct syms *s, const struct location *loc,
		  struct members **out)
{
	struct members *t;
	uint64_t base = loc->tls ? 0 : loc->addr;
	int err;

	*out = NULL;
	if (!whole_object(loc))
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->len = loc->len;
	t->at = calloc(loc->len, sizeof(*t->at));
	err = t->at ? build_leaves(s, loc, base, t) : -ENOMEM;
	if (!err && t->n == 1 && t->m[0].len == t->len &&
	    !strcmp(t->m[0].name, loc->name))
		err = -ENOENT; /* a scalar */
	if (!err)
		err = build_windows(s, loc, base, t);
	if (err) {
		members_free(t);
		return err == -ENOENT ? 0 : err;
	}
	*out = t;
	return 0;
}

void members_free(struct members *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->ntypes; i++)
		free(t->types[i].enums);
	for (int i = 0; i < t->nnames; i++)
		free(t->names[i]);
	for (int k = 0; k < NWIN; k++)
		free(t->win[k]);
	free(t->names);
	free(t->types);
	free(t->m);
	free(t->wm);
	free(t->at);
	free(t);
}

/* The processor's look-up: the member holding [off, off+len) of the
 * location (clipped to it), or the window naming it; NULL if none. */
const struct member *members_at(const struct members *t, uint32_t off,
				uint32_t len)
{
	uint32_t end;
	int k;

	if (!t || off >= t->len || !len)
		return NULL;
	end = off + len < t->len ? off + len : t->len;
	if (t->at[off] == t->at[end - 1])
		return &t->m[t->at[off]];
	len = end - off;
	k = len == 2 ? 0 : len == 4 ? 1 : len == 8 ? 2 : -1;
	if (k < 0 || off % len || off / len >= t->len / len ||
	    t->win[k][off / len] < 0)
		return NULL;
	return &t->wm[t->win[k][off / len]];
}

const struct vtype *members_type(const struct members *t,
				 const struct member *m)
{
	return &t->types[m->type];
}

int members_count(const struct members *t)
{
	return t ? t->n : 0;
}
