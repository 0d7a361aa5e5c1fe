// SPDX-License-Identifier: GPL-2.0-only
/*
 * `meminfo`: the guest's memory accounting, for the no-leaks checks (kho-luo-7.3.md §1.6):
 *
 *   meminfo {dropCaches?}  /proc/meminfo's MemTotal, MemFree, MemAvailable, Shmem and (with THP)
 *                          ShmemHugePages, in bytes.
 *                          dropCaches: sync and write 3 to /proc/sys/vm/drop_caches first, so the
 *                          page cache the SSH sessions and the agent's own runs leave is not noise.
 *                          bootFdt: the pages the kernel keeps reserved for the FDT it booted with
 *                          (/sys/firmware/fdt's size, rounded up to pages), in bytes; absent without
 *                          one (x86_64). On arm64 it differs between boots: QEMU's virt DTB is 1 MiB
 *                          unpacked, the one kexec_file_load builds is packed (a few KiB), so a
 *                          kexec'd kernel's MemTotal is ~1 MiB higher for that alone.
 *                          preloadedDir: a directory of handover's own files (the cold boot's
 *                          preloaded kexec images, in tmpfs): `preloaded` is what its regular files
 *                          occupy (st_blocks), in bytes; 0 when it is absent (every boot after the
 *                          cold one). Those pages are Shmem and not MemFree on the cold boot only.
 *                          pcpFree: the free pages the per-CPU lists hold (/proc/zoneinfo's pageset
 *                          `count:`s), in bytes. MemFree leaves them out, and their auto-tuned `high`
 *                          lets them keep tens of MiB after a bulk free (45 MiB after no-leaks closes
 *                          its memfds): the next allocations take those first, MemFree unchanged.
 *
 * Why MemTotal: on a KHO boot every preserved page is memblock-reserved (kho_populate →
 * memblock_reserve, kexec_handover.c:628) and only counted again when restored
 * (adjust_managed_page_count, :541). So MemTotal below a cold boot's is memory KHO still holds
 * for someone: what FINISH, a dropped session or the next kexec must give back. Shmem is the
 * memfds' pages in the running kernel; MemFree is what neither of them explains.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static int drop_caches(struct fail *f)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return agent_sysfail(f, "open(/proc/sys/vm/drop_caches)", "dropping caches");
	if (write(fd, "3\n", 2) != 2) {
		int e = errno;

		close(fd);
		errno = e;
		return agent_sysfail(f, "write(/proc/sys/vm/drop_caches)", "dropping caches");
	}
	close(fd);
	return 0;
}

/* Pages on the per-CPU free lists: every pageset's `count:` in /proc/zoneinfo. */
static int pcp_pages(uint64_t *pages, struct fail *f)
{
	unsigned long long n;
	char line[256];
	FILE *zi;

	*pages = 0;
	zi = fopen("/proc/zoneinfo", "re");
	if (!zi)
		return agent_sysfail(f, "open(/proc/zoneinfo)", "reading the per-CPU free lists");
	while (fgets(line, sizeof(line), zi))
		if (sscanf(line, " count: %llu", &n) == 1)
			*pages += n;
	fclose(zi);
	return 0;
}

/* Bytes the regular files directly in dir occupy; 0 when dir does not exist. */
static int dir_usage(const char *dir, uint64_t *bytes, struct fail *f)
{
	struct dirent *e;
	struct stat st;
	DIR *d;

	*bytes = 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : agent_sysfail(f, "opendir(preloadedDir)", "measuring the preloaded files");
	while ((e = readdir(d)))
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			*bytes += (uint64_t)st.st_blocks * 512;
	closedir(d);
	return 0;
}

int op_meminfo(const struct jval *req, struct jw *body, struct fail *f)
{
	static const struct {
		const char *field, *key;
		int optional;
	} want[] = {
		{ "MemTotal:", "memTotal", 0 }, { "MemFree:", "memFree", 0 }, { "MemAvailable:", "memAvailable", 0 }, { "Shmem:", "shmem", 0 },
		/* Only with CONFIG_TRANSPARENT_HUGEPAGE: absent means the kernel has no shmem THP at all. */
		{ "ShmemHugePages:", "shmemHuge", 1 },
	};
	unsigned long long kib[sizeof(want) / sizeof(want[0])];
	int seen[sizeof(want) / sizeof(want[0])] = { 0 };
	const struct jval *drop = json_get(req, "dropCaches");
	char line[256];
	const char *preloaded_dir;
	uint64_t preloaded = 0, pcp;
	struct stat fdt;
	int bad;
	FILE *mi;

	if (drop && drop->type != J_BOOL)
		return agent_failf(f, EINVAL, "request", "field \"dropCaches\" must be a boolean");
	preloaded_dir = agent_field_str(req, "preloadedDir", 0, f, &bad);
	if (bad)
		return -1;
	if (drop && drop->b && drop_caches(f))
		return -1;
	if (preloaded_dir && dir_usage(preloaded_dir, &preloaded, f))
		return -1;
	if (pcp_pages(&pcp, f))
		return -1;
	mi = fopen("/proc/meminfo", "re");
	if (!mi)
		return agent_sysfail(f, "open(/proc/meminfo)", "reading the memory accounting");
	while (fgets(line, sizeof(line), mi))
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			if (!strncmp(line, want[i].field, strlen(want[i].field)) &&
			    sscanf(line + strlen(want[i].field), "%llu", &kib[i]) == 1)
				seen[i] = 1;
	fclose(mi);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!seen[i] && want[i].optional)
			continue;
		if (!seen[i])
			return agent_failf(f, ENODATA, "read(/proc/meminfo)", "/proc/meminfo has no %s line", want[i].field);
		jw_u64(body, want[i].key, (uint64_t)kib[i] * 1024);
	}
	if (stat("/sys/firmware/fdt", &fdt) == 0) {
		uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

		jw_u64(body, "bootFdt", ((uint64_t)fdt.st_size + page - 1) / page * page);
	}
	if (preloaded_dir)
		jw_u64(body, "preloaded", preloaded);
	jw_u64(body, "pcpFree", pcp * (uint64_t)sysconf(_SC_PAGESIZE));
	return 0;
}
