/* SPDX-License-Identifier: MIT */
/*
 * fuzz_location.c - libFuzzer target for the command's LOCATION parser and
 * resolver (tools/symbols.c, tools/dwtype.c): any text is parsed
 * (parse_spec), and one input in 16 is also resolved against this very
 * program's symbols and DWARF (members, elements, pointers followed in
 * its own memory, offsets, lengths, lib.so:, file.c:: and func:: scopes,
 * static locals, suggestions for unknown names; ~30 ms each); either
 * gives a location or a message, never a crash.  A resolved location is
 * then named at each of its bytes (syms_member_at), and C++ names are
 * demangled and cut (demangle.c).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole file, for its static parse_spec (the fast path). */
#include "../tools/symbols.c"

/* DWARF for the resolver to walk: a struct with an array of structs,
 * pointers to follow (one NULL), a union, a static local, a 2-D array. */
struct fz_inner { int hard, soft; char tag[3]; };
struct fz_cfg { long limit; struct fz_inner limits[4]; double ratio; };
struct fz_node { int v; struct fz_node *next; union { int i; char c[4]; } u; };
struct fz_cfg fz_cfg;
int fz_table[8];
int fz_grid[3][5];
const char *fz_names[2];
struct fz_node fz_n2, fz_n1 = { 1, &fz_n2, { 0 } }, *fz_head = &fz_n1;
static int fz_file_static;

static int *fz_counter(void)
{
	static int calls;

	calls++;
	return &calls;
}

static struct syms *syms;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_cfg.limit = fz_table[0] = fz_grid[1][2] = 1; /* keep them */
	fz_names[0] = "x";
	fz_file_static = *fz_counter();
	return syms_open(&syms, getpid(), false);
}

/* Every byte of a resolved location named after it: "cfg.limit" for
 * cfg, "(*p).v" for *p. */
static void name_each_byte(const struct location *loc)
{
	char name[256];
	size_t stem = strcspn(loc->name, "+");
	struct vtype vt;

	for (uint32_t off = 0; off < loc->len && off < 64; off++)
		if (syms_member_at(syms, loc, loc->addr + off, 1, name,
				   sizeof(name), &vt) == 0) {
			if (strncmp(name + (name[0] == '(' && loc->name[0] ==
					    '*'), loc->name, stem))
				abort();
			free(vt.enums);
		}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *text = malloc(size + 1), msg[512], out[256];
	static const enum hwbp_access access[] = { HWBP_WRITE, HWBP_RW,
						   HWBP_EXEC };
	struct location loc;
	int err;

	if (!text || !size)
		goto out;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	memset(&loc, 0, sizeof(loc));
	msg[0] = '\0';
	{
		struct spec sp;

		memset(&sp, 0, sizeof(sp));
		if (parse_spec(text, &sp, msg, sizeof(msg)) && !msg[0])
			abort(); /* a refusal always says why */
	}
	demangle(text, out, sizeof(out));
	cut_name(out, out + 128, 128);
	if (data[0] & 0x3c)
		goto out; /* parse only */
	msg[0] = '\0';
	err = syms_resolve(syms, text, access[data[0] % 3], &loc, msg,
			   sizeof(msg));
	if (err && !msg[0])
		abort(); /* a refusal always says why */
	if (!err && loc.len == 0 && access[data[0] % 3] != HWBP_EXEC)
		abort(); /* a resolved data location has a length */
	if (!err && (loc.len > 4096 || loc.nderefs > LOC_MAX_DEREFS))
		abort();
	if (!err)
		name_each_byte(&loc);
	free(loc.type.enums);
out:
	free(text);
	return 0;
}
