/* SPDX-License-Identifier: MIT */
/*
 * fuzz_location.c - libFuzzer target for the command's LOCATION parser and
 * resolver (tools/symbols.c): any text is parsed (parse_spec), and one
 * input in 16 is also resolved against this very program's symbols and
 * DWARF (members, elements, offsets, lengths, lib.so: prefixes; ~30 ms
 * each); either gives a location or a message, never a crash.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole file, for its static parse_spec (the fast path). */
#include "../tools/symbols.c"

/* DWARF for the resolver to walk: a struct with an array of structs. */
struct fz_inner { int hard, soft; char tag[3]; };
struct fz_cfg { long limit; struct fz_inner limits[4]; double ratio; };
struct fz_cfg fz_cfg;
int fz_table[8];
const char *fz_names[2];

static struct syms *syms;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_cfg.limit = fz_table[0] = 1; /* keep them */
	fz_names[0] = "x";
	return syms_open(&syms, getpid(), false);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *text = malloc(size + 1), msg[512];
	static const enum hwbp_access access[] = { HWBP_WRITE, HWBP_RW,
						   HWBP_EXEC };
	struct location loc;

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
	if (data[0] & 0x3c)
		goto out; /* parse only */
	msg[0] = '\0';
	if (syms_resolve(syms, text, access[data[0] % 3], &loc, msg,
			 sizeof(msg)) == 0 && loc.len == 0 &&
	    access[data[0] % 3] != HWBP_EXEC)
		abort(); /* a resolved data location has a length */
out:
	free(text);
	return 0;
}
