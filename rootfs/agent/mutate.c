// SPDX-License-Identifier: GPL-2.0-only
/*
 * `mutate-memfd`: one change to a memfd by its fd number (create-memfd and retrieve-fd give it),
 * for the frozen-mapping checks and for deterministic holes:
 *   {"op":"mutate-memfd","fd":N,"action":A,"offset":O,"length":L,"data":"..."}
 * A is ftruncate (to offset), write-past-eof (pwrite at i_size), fallocate (grow to offset+length),
 * punch-hole (FALLOC_FL_PUNCH_HOLE over [offset, offset+length)), write (pwrite data at offset,
 * within the size), mmap-write (data through a MAP_SHARED mapping at offset).
 * The reply gives the file's size, allocated bytes and SHA-256 after the change, so the host can
 * record what a legal write made the memfd (the tamper op write-memfd deliberately does not).
 * A failure names the syscall that gave the errno (ftruncate, pwrite, fallocate, mmap).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static int hash_whole(int fd, uint64_t size, char out[65])
{
	static uint8_t buf[1u << 16];
	struct sha256 h;

	sha256_init(&h);
	for (uint64_t off = 0; off < size;) {
		ssize_t n = pread(fd, buf, size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf), (off_t)off);

		if (n <= 0)
			return -1;
		sha256_update(&h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	sha256_hex(&h, out);
	return 0;
}

int op_mutate_memfd(const struct jval *req, struct jw *body, struct fail *f)
{
	const struct jval *action = json_get(req, "action"), *data = json_get(req, "data");
	uint64_t fdv = (uint64_t)-1, offset = 0, length = 0;
	const char *a;
	struct stat sb;
	char sha[65];
	int fd;

	if (agent_field_u64(req, "fd", 0, &fdv, f) || agent_field_u64(req, "offset", 0, &offset, f) || agent_field_u64(req, "length", 0, &length, f))
		return -1;
	if (fdv > INT32_MAX)
		return agent_failf(f, EINVAL, "request", "missing integer field \"fd\"");
	if (!action || action->type != J_STR)
		return agent_failf(f, EINVAL, "request", "missing string field \"action\"");
	if (data && data->type != J_STR)
		return agent_failf(f, EINVAL, "request", "field \"data\" must be a string");
	fd = (int)fdv;
	a = action->s;
	jw_i64(body, "fd", fd);
	jw_str(body, "action", a);
	if (fstat(fd, &sb) < 0)
		return agent_sysfail(f, "fstat", "reading the size");
	if (!strcmp(a, "ftruncate")) {
		if (ftruncate(fd, (off_t)offset) < 0)
			return agent_sysfail(f, "ftruncate", "resizing the memfd");
	} else if (!strcmp(a, "write-past-eof")) {
		static const char byte = 'X';

		if (pwrite(fd, &byte, 1, sb.st_size) < 0)
			return agent_sysfail(f, "pwrite", "writing one byte at i_size");
	} else if (!strcmp(a, "fallocate")) {
		if (fallocate(fd, 0, (off_t)offset, (off_t)(length ? length : PATTERN_PAGE)) < 0)
			return agent_sysfail(f, "fallocate", "allocating (mode 0)");
	} else if (!strcmp(a, "punch-hole")) {
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) < 0)
			return agent_sysfail(f, "fallocate", "punching a hole");
	} else if (!strcmp(a, "write") || !strcmp(a, "mmap-write")) {
		if (!data || data->len == 0)
			return agent_failf(f, EINVAL, "request", "%s needs \"data\"", a);
		if (offset + data->len > (uint64_t)sb.st_size)
			return agent_failf(f, EINVAL, "request", "%s is within the size: %llu + %zu > %lld", a,
				     (unsigned long long)offset, data->len, (long long)sb.st_size);
		if (a[0] == 'w') {
			ssize_t n = pwrite(fd, data->s, data->len, (off_t)offset);

			if (n < 0)
				return agent_sysfail(f, "pwrite", "writing within the size");
			if ((size_t)n != data->len)
				return agent_failf(f, EIO, "pwrite", "short write: %zd of %zu bytes", n, data->len);
		} else {
			uint64_t base = offset & ~(uint64_t)(PATTERN_PAGE - 1);
			size_t span = (size_t)(offset - base) + data->len;
			uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);

			if (p == MAP_FAILED)
				return agent_sysfail(f, "mmap", "mapping MAP_SHARED");
			memcpy(p + (offset - base), data->s, data->len);
			if (msync(p, span, MS_SYNC) < 0) {
				agent_sysfail(f, "msync", "syncing the mapping");
				munmap(p, span);
				return -1;
			}
			munmap(p, span);
		}
		jw_u64(body, "written", data->len);
	} else {
		return agent_failf(f, EINVAL, "request",
			     "unknown action (ftruncate, write-past-eof, fallocate, punch-hole, write, mmap-write)");
	}
	if (fstat(fd, &sb) < 0)
		return agent_sysfail(f, "fstat", "reading the size");
	if (hash_whole(fd, (uint64_t)sb.st_size, sha) < 0)
		return agent_sysfail(f, "pread", "reading the contents");
	jw_u64(body, "size", (uint64_t)sb.st_size);
	jw_u64(body, "allocated", (uint64_t)sb.st_blocks * 512);
	jw_str(body, "sha256", sha);
	return 0;
}
