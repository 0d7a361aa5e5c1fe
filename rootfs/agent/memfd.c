// SPDX-License-Identifier: GPL-2.0-only
/*
 * The deterministic contents of a test memfd, and seal names.
 *
 * Word w (8 bytes, little-endian) at byte offset 8*w is splitmix64's (w+1)-th output from state
 * `seed`: stateless, so any page can be generated alone (sparse files, partial writes) and the
 * host can re-derive the same bytes (orchestrator/guest/agent-protocol.ts). A sparse file writes
 * only the pages for which pattern_page_written() is true; the others stay holes (zeros).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>

#include "agent.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

#define GOLDEN 0x9e3779b97f4a7c15ULL
#define SPARSE_SALT 0x5350415253450000ULL /* "SPARSE\0\0" */

static inline uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t pattern_word(uint64_t seed, uint64_t word)
{
	return mix(seed + (word + 1) * GOLDEN);
}

/* About one page in four. */
int pattern_page_written(uint64_t seed, uint64_t page)
{
	return (mix((seed ^ SPARSE_SALT) + (page + 1) * GOLDEN) & 3) == 0;
}

void pattern_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t w = off / 8, z = seed + (w + 1) * GOLDEN;
	size_t i = 0;

	for (; i + 8 <= len; i += 8, z += GOLDEN) {
		uint64_t v = mix(z);

		memcpy(buf + i, &v, 8); /* x86_64: little-endian, as the host expects */
	}
	if (i < len) {
		uint64_t v = mix(z);

		memcpy(buf + i, &v, len - i);
	}
}

static const struct {
	const char *name;
	unsigned int bit;
} seals[] = {
	{ "seal", F_SEAL_SEAL },   { "shrink", F_SEAL_SHRINK },		  { "grow", F_SEAL_GROW },
	{ "write", F_SEAL_WRITE }, { "future-write", F_SEAL_FUTURE_WRITE }, { "exec", F_SEAL_EXEC },
};

int seal_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++)
		if (!strcmp(name, seals[i].name))
			return (int)seals[i].bit;
	return -1;
}

/* Known seals by name, in bit order; unknown bits as "0x..". */
void jw_seals(struct jw *w, const char *key, unsigned int value)
{
	jw_arr(w, key);
	for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++)
		if (value & seals[i].bit) {
			jw_str(w, NULL, seals[i].name);
			value &= ~seals[i].bit;
		}
	for (unsigned int bit = 1; bit; bit <<= 1)
		if (value & bit) {
			char hex[16];
			static const char digits[] = "0123456789abcdef";
			int n = 0;

			hex[n++] = '0';
			hex[n++] = 'x';
			for (int shift = 28; shift >= 0; shift -= 4)
				if ((bit >> shift) || shift == 0)
					hex[n++] = digits[(bit >> shift) & 15];
			hex[n] = 0;
			jw_str(w, NULL, hex);
		}
	jw_end_arr(w);
}
