/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cond.c - libFuzzer target for `--if EXPR` (tools/cond.c): any text
 * parses or gives a message; a parsed condition evaluates any value at
 * any length, signed or not, without undefined behaviour.
 */
#include <stdlib.h>
#include <string.h>

#include "../tools/tool.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *text, msg[256];
	struct cond c;
	uint64_t v = 0;

	if (size < 9)
		return 0;
	memcpy(&v, data, 8);
	text = malloc(size - 8);
	if (!text)
		return 0;
	memcpy(text, data + 9, size - 9);
	text[size - 9] = '\0';
	msg[0] = '\0';
	if (cond_parse(text, &c, msg, sizeof(msg)) == 0) {
		for (uint32_t len = 1; len <= 8; len <<= 1) {
			(void)cond_eval(&c, v, len, data[8] & 1);
		}
	} else if (!msg[0]) {
		abort(); /* a refusal always says why */
	}
	free(text);
	return 0;
}
