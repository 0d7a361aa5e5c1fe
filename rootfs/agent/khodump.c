// SPDX-License-Identifier: GPL-2.0-only
/*
 * `kho-dump ROOT`: the KHO debugfs tree under ROOT/kho in one process, for the host's
 * parseKhoDump (orchestrator/kho/debugfs.ts). It replaces a shell script whose find, sort, stat
 * and base64 were a process each (~0.3 s a dump under TCG); its output is the same:
 *
 *   @@debugfs mounted | @@debugfs absent     ROOT is (is not) a debugfs mount in /proc/mounts
 *   @@nokho                                  only when ROOT/kho does not exist (then exit 0)
 *   @@kho
 *   @@dir <path>                             every directory below kho/, sorted
 *   @@file <stat size> <path>                every regular file, sorted, then its bytes in
 *   <base64 lines>                           base64, 76 columns, read to EOF, then
 *   @@end | @@error <status> <message>       whether the read ended cleanly
 *
 * A kho/ that cannot be entered or listed fails (exit 1, the reason on stderr): it never reads
 * as an empty tree. Paths come from the kernel (sub-node names); they hold no newlines.
 * `kho-caps ROOT` (below) is the capability probe, also one process.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"

struct paths {
	char **v;
	size_t n, cap;
};

static int push(struct paths *p, const char *s)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		char **v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -1;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n] = strdup(s);
	return p->v[p->n++] ? 0 : -1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks dir (relative to the kho/ directory, "" for itself) without following symlinks. */
static int walk(const char *rel, struct paths *dirs, struct paths *files)
{
	DIR *d = opendir(*rel ? rel : ".");
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "kho-dump: opendir(%s): %s\n", *rel ? rel : "kho", strerror(errno));
		return -1;
	}
	errno = 0;
	while ((e = readdir(d))) {
		char path[4096];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= sizeof(path)) {
			fprintf(stderr, "kho-dump: path too long below %s\n", rel);
			closedir(d);
			return -1;
		}
		if (lstat(path, &st) < 0) {
			fprintf(stderr, "kho-dump: lstat(%s): %s\n", path, strerror(errno));
			closedir(d);
			return -1;
		}
		if (S_ISDIR(st.st_mode)) {
			if (push(dirs, path) < 0 || walk(path, dirs, files) < 0) {
				closedir(d);
				return -1;
			}
		} else if (S_ISREG(st.st_mode) && push(files, path) < 0) {
			closedir(d);
			return -1;
		}
		errno = 0;
	}
	if (errno) {
		fprintf(stderr, "kho-dump: readdir(%s): %s\n", *rel ? rel : "kho", strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Base64 of the whole file, in lines of 76 columns (wrap) or as one run without newlines; what
 * was read before a failed read is still written. 0, or the errno of the open or read that failed.
 */
static int dump_file(const char *path, int wrap)
{
	unsigned char in[57 * 64];
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno;
	for (;;) {
		ssize_t r = read(fd, in + have, sizeof(in) - have);
		size_t i;

		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			close(fd);
			return e;
		}
		have += (size_t)r;
		/* Whole 57-byte lines while reading; the rest, padded, at EOF. */
		for (i = 0; i + 57 <= have || (r == 0 && i < have); i += 57) {
			size_t n = have - i < 57 ? have - i : 57;
			char line[77];
			size_t o = 0;

			for (size_t j = 0; j < n; j += 3) {
				unsigned v = (unsigned)in[i + j] << 16;

				if (j + 1 < n)
					v |= (unsigned)in[i + j + 1] << 8;
				if (j + 2 < n)
					v |= in[i + j + 2];
				line[o++] = B64[(v >> 18) & 63];
				line[o++] = B64[(v >> 12) & 63];
				line[o++] = j + 1 < n ? B64[(v >> 6) & 63] : '=';
				line[o++] = j + 2 < n ? B64[v & 63] : '=';
			}
			line[o] = 0;
			fputs(line, stdout);
			if (wrap)
				putchar('\n');
		}
		memmove(in, in + i, have - (i < have ? i : have));
		have = i < have ? have - i : 0;
		if (r == 0)
			break;
	}
	close(fd);
	return 0;
}

/* ROOT/kho/<rel> passes stat's test: 'd' directory, 'f' regular file, 'e' exists (symlinks followed). */
static int has(const char *root, const char *rel, char test)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/kho%s%s", root, *rel ? "/" : "", rel);
	if (stat(path, &st) < 0)
		return 0;
	return test == 'd' ? S_ISDIR(st.st_mode) : test == 'f' ? S_ISREG(st.st_mode) : 1;
}

/* The names in ROOT/kho/<rel>, sorted, each followed by a space (ls | tr '\n' ' '). */
static void names(const char *root, const char *rel)
{
	char path[4096];
	struct paths p = { 0 };
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/kho/%s", root, rel);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && push(&p, e->d_name) < 0)
			break;
	closedir(d);
	qsort(p.v, p.n, sizeof(*p.v), by_name);
	for (size_t i = 0; i < p.n; i++)
		printf("%s ", p.v[i]);
}

/* A regular file's bytes in base64 on one line, or nothing. */
static void blob(const char *root, const char *rel)
{
	char path[4096];

	if (!has(root, rel, 'f'))
		return;
	snprintf(path, sizeof(path), "%s/kho/%s", root, rel);
	dump_file(path, 0);
}

/* The first line of a text file, without its newline. */
static void first_line(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "re");

	if (f && fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = 0;
		fputs(buf, stdout);
	}
	if (f)
		fclose(f);
}

static int debugfs_mounted(const char *root)
{
	FILE *m = fopen("/proc/mounts", "re");
	char dev[256], dir[4096], type[64];
	int found = 0;

	if (!m)
		return 0;
	while (!found && fscanf(m, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		found = !strcmp(dir, root) && !strcmp(type, "debugfs");
	fclose(m);
	return found;
}

int cmd_kho_dump(int argc, char **argv)
{
	const char *root = argc >= 1 ? argv[0] : "/sys/kernel/debug";
	struct paths dirs = { 0 }, files = { 0 };
	char kho[4096];
	struct stat st;

	printf("@@debugfs %s\n", debugfs_mounted(root) ? "mounted" : "absent");
	snprintf(kho, sizeof(kho), "%s/kho", root);
	if (lstat(kho, &st) < 0 && errno == ENOENT) {
		puts("@@nokho");
		return 0;
	}
	if (chdir(kho) < 0) {
		fprintf(stderr, "kho-dump: cd %s: %s\n", kho, strerror(errno));
		return 1;
	}
	puts("@@kho");
	if (walk("", &dirs, &files) < 0)
		return 1;
	qsort(dirs.v, dirs.n, sizeof(*dirs.v), by_name);
	qsort(files.v, files.n, sizeof(*files.v), by_name);
	for (size_t i = 0; i < dirs.n; i++)
		printf("@@dir %s\n", dirs.v[i]);
	for (size_t i = 0; i < files.n; i++) {
		int e;

		printf("@@file %lld %s\n", lstat(files.v[i], &st) == 0 ? (long long)st.st_size : -1LL, files.v[i]);
		e = dump_file(files.v[i], 1);
		if (e)
			printf("@@error 1 kho-dump: %s: %s\n", files.v[i], strerror(e));
		else
			puts("@@end");
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * `kho-caps ROOT`: what the running kernel offers of KHO and LUO, for parseCapabilityProbe
 * (orchestrator/kho/caps.ts), as key=value lines; the blobs are small (a root FDT of a page at
 * most, LUO's 32 bytes), so they come whole in base64. One process instead of a script of ~20.
 */
int cmd_kho_caps(int argc, char **argv)
{
	const char *root = argc >= 1 ? argv[0] : "/sys/kernel/debug";
	struct utsname u;
	struct stat st;
	FILE *fs;
	char line[256];

	printf("release=%s\n", uname(&u) == 0 ? u.release : "");
	fputs("cmdline=", stdout);
	first_line("/proc/cmdline");
	printf("\ndebugfs=%d\n", debugfs_mounted(root));
	printf("kho_dir=%d\n", has(root, "", 'd'));
	printf("out_fdt=%d\n", has(root, "out/fdt", 'f'));
	printf("in_fdt=%d\n", has(root, "in/fdt", 'f'));
	printf("finalize=%d\n", has(root, "out/finalize", 'e'));
	printf("liveupdate_dev=%d\n", stat("/dev/liveupdate", &st) == 0 && S_ISCHR(st.st_mode));
	fputs("out_subtrees=", stdout);
	names(root, "out/sub_fdts");
	fputs("\nin_subtrees=", stdout);
	names(root, "in/sub_fdts");
	fputs("\nout_luo=", stdout);
	blob(root, "out/sub_fdts/LUO");
	fputs("\nin_luo=", stdout);
	blob(root, "in/sub_fdts/LUO");
	fputs("\nout_fdt_b64=", stdout);
	blob(root, "out/fdt");
	fputs("\nin_fdt_b64=", stdout);
	blob(root, "in/fdt");
	fputs("\nfilesystems=", stdout);
	fs = fopen("/proc/filesystems", "re");
	while (fs && fgets(line, sizeof(line), fs)) {
		char *last = strrchr(line, '\t');

		line[strcspn(line, "\n")] = 0;
		printf("%s ", last ? last + 1 : line);
	}
	if (fs)
		fclose(fs);
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : 1;
}
