// SPDX-License-Identifier: GPL-2.0-only
/*
 * handover-agent: the guest side of handover's Live Update checks.
 *
 * Built statically against the uapi headers exported by the kernel under test, so the ioctl
 * numbers it uses are the ones that kernel defines. One-shot subcommands (probe, caps, version)
 * print exactly one JSON object on one line and exit 0, or print {"ok":false,...} and exit
 * non-zero. `serve` starts the daemon that holds /dev/liveupdate, the sessions and the memfds
 * (daemon.c); `ctl` sends it requests (ctl.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#include "agent.h"

static void emit(struct jw *w)
{
	jw_raw(w, "\n", 1);
	fputs(w->buf, stdout);
	fflush(stdout);
	jw_free(w);
}

static int fail(const char *cmd, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	struct jw w;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jw_init(&w);
	jw_obj(&w, NULL);
	jw_bool(&w, "ok", 0);
	jw_str(&w, "command", cmd);
	jw_str(&w, "error", msg);
	if (err)
		jw_str(&w, "errno", errno_name(err));
	jw_end_obj(&w);
	emit(&w);
	return 1;
}

/* ---- subcommands --------------------------------------------------------------------------- */

/* What this agent was built with and what the running kernel offers; no side effects. */
static int cmd_probe(int argc, char **argv)
{
	struct utsname u;
	struct stat st;
	struct jw w;
	int have_dev;

	(void)argv;
	if (argc != 0)
		return fail("probe", 0, "probe takes no arguments");
	if (uname(&u) != 0)
		return fail("probe", errno, "uname failed");
	have_dev = stat(LIVEUPDATE_DEV, &st) == 0 && S_ISCHR(st.st_mode);

	jw_init(&w);
	jw_obj(&w, NULL);
	jw_bool(&w, "ok", 1);
	jw_str(&w, "command", "probe");
	jw_str(&w, "agent", "handover-agent");
	jw_str(&w, "version", AGENT_VERSION);
	jw_str(&w, "release", u.release);
	jw_str(&w, "machine", u.machine);
	jw_bool(&w, "liveupdate_dev", have_dev);
	if (have_dev) {
		jw_u64(&w, "liveupdate_dev_mode", st.st_mode & 07777);
		jw_u64(&w, "liveupdate_dev_major", major(st.st_rdev));
		jw_u64(&w, "liveupdate_dev_minor", minor(st.st_rdev));
	}
	jw_obj(&w, "ioctls");
	jw_u64(&w, "type", LIVEUPDATE_IOCTL_TYPE);
	jw_u64(&w, "create_session", LIVEUPDATE_IOCTL_CREATE_SESSION);
	jw_u64(&w, "retrieve_session", LIVEUPDATE_IOCTL_RETRIEVE_SESSION);
	jw_u64(&w, "session_preserve_fd", LIVEUPDATE_SESSION_PRESERVE_FD);
	jw_u64(&w, "session_retrieve_fd", LIVEUPDATE_SESSION_RETRIEVE_FD);
	jw_u64(&w, "session_finish", LIVEUPDATE_SESSION_FINISH);
#ifdef LIVEUPDATE_SESSION_GET_NAME
	jw_u64(&w, "session_get_name", LIVEUPDATE_SESSION_GET_NAME);
#endif
	jw_end_obj(&w);
	jw_u64(&w, "session_name_length", LIVEUPDATE_SESSION_NAME_LENGTH);
	jw_end_obj(&w);
	emit(&w);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	struct jw w;

	(void)argc;
	(void)argv;
	jw_init(&w);
	jw_obj(&w, NULL);
	jw_bool(&w, "ok", 1);
	jw_str(&w, "command", "version");
	jw_str(&w, "version", AGENT_VERSION);
	jw_end_obj(&w);
	emit(&w);
	return 0;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void names_in(struct jw *w, const char *key, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		jw_null(w, key);
		return;
	}
	jw_arr(w, key);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			jw_str(w, NULL, e->d_name);
	jw_end_arr(w);
	closedir(d);
}

/* The value of `param=` on the kernel command line (the last one wins), or null. */
static void cmdline_param(struct jw *w, const char *cmdline, const char *param)
{
	size_t pl = strlen(param);
	const char *found = NULL, *p = cmdline;
	size_t flen = 0;

	while (*p) {
		size_t n;

		while (*p == ' ' || *p == '\n')
			p++;
		n = strcspn(p, " \n");
		if (n > pl && !strncmp(p, param, pl) && p[pl] == '=') {
			found = p + pl + 1;
			flen = n - pl - 1;
		}
		p += n;
	}
	if (found)
		jw_strn(w, param, found, flen);
	else
		jw_null(w, param);
}

/*
 * Which parts of KHO/LUO this kernel and this agent's headers have, read without changing
 * anything (except one open/close of /dev/liveupdate, skipped with --no-open; note the first open
 * after a kexec is the one that deserializes the incoming sessions).
 */
static int cmd_caps(int argc, char **argv)
{
	static const char *const kho_entries[] = {
		"out/fdt", "out/finalize", "out/abort", "out/scratch_phys", "out/scratch_len", "out/sub_fdts",
		"in/fdt", "in/sub_fdts",
	};
	int do_open = 1;
	struct utsname u;
	struct stat st;
	struct jw w;
	char cmdline[4096] = "";
	char path[128];
	FILE *f;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--no-open"))
			do_open = 0;
		else
			return fail("caps", 0, "usage: handover-agent caps [--no-open]");
	}
	if (uname(&u) != 0)
		return fail("caps", errno, "uname failed");
	f = fopen("/proc/cmdline", "r");
	if (f) {
		size_t n = fread(cmdline, 1, sizeof(cmdline) - 1, f);

		cmdline[n] = 0;
		fclose(f);
	}

	jw_init(&w);
	jw_obj(&w, NULL);
	jw_bool(&w, "ok", 1);
	jw_str(&w, "op", "caps");
	jw_str(&w, "version", AGENT_VERSION);
	jw_str(&w, "release", u.release);
	jw_str(&w, "machine", u.machine);

	jw_obj(&w, "device");
	jw_str(&w, "path", LIVEUPDATE_DEV);
	if (stat(LIVEUPDATE_DEV, &st) == 0) {
		jw_bool(&w, "present", 1);
		jw_u64(&w, "mode", st.st_mode & 07777);
		jw_bool(&w, "chardev", S_ISCHR(st.st_mode));
	} else {
		jw_bool(&w, "present", 0);
	}
	if (do_open) {
		int fd = open(LIVEUPDATE_DEV, O_RDWR | O_CLOEXEC);

		jw_bool(&w, "openable", fd >= 0);
		if (fd >= 0) {
			jw_null(&w, "errno");
			close(fd);
		} else {
			jw_str(&w, "errno", errno_name(errno));
		}
	} else {
		jw_null(&w, "openable");
		jw_null(&w, "errno");
	}
	jw_end_obj(&w);

	/* Which ioctls the headers this agent was built against define (GET_NAME is 7.2+). */
	jw_obj(&w, "uapi");
	jw_bool(&w, "createSession", 1);
	jw_bool(&w, "retrieveSession", 1);
	jw_bool(&w, "preserveFd", 1);
	jw_bool(&w, "retrieveFd", 1);
	jw_bool(&w, "finish", 1);
#ifdef LIVEUPDATE_SESSION_GET_NAME
	jw_bool(&w, "getName", 1);
#else
	jw_bool(&w, "getName", 0);
#endif
	jw_u64(&w, "sessionNameLength", LIVEUPDATE_SESSION_NAME_LENGTH);
	jw_end_obj(&w);

	jw_obj(&w, "debugfs");
	jw_bool(&w, "mounted", exists("/sys/kernel/debug/kho") || exists("/sys/kernel/debug/sched") ||
				     exists("/sys/kernel/debug/tracing") || exists("/sys/kernel/debug/bdi"));
	jw_bool(&w, "kho", exists("/sys/kernel/debug/kho"));
	jw_obj(&w, "entries");
	for (size_t i = 0; i < sizeof(kho_entries) / sizeof(kho_entries[0]); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/kho/%s", kho_entries[i]);
		jw_bool(&w, kho_entries[i], exists(path));
	}
	jw_end_obj(&w);
	names_in(&w, "outSubFdts", "/sys/kernel/debug/kho/out/sub_fdts");
	names_in(&w, "inSubFdts", "/sys/kernel/debug/kho/in/sub_fdts");
	jw_end_obj(&w);

	jw_obj(&w, "cmdline");
	cmdline_param(&w, cmdline, "kho");
	cmdline_param(&w, cmdline, "liveupdate");
	cmdline_param(&w, cmdline, "kho_scratch");
	cmdline_param(&w, cmdline, "kho_bootmem");
	cmdline[strcspn(cmdline, "\n")] = 0;
	jw_str(&w, "raw", cmdline);
	jw_end_obj(&w);
	jw_end_obj(&w);
	emit(&w);
	return 0;
}

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct subcommand subcommands[] = {
	{ "probe", cmd_probe, "report agent version, /dev/liveupdate presence, ioctl numbers, release" },
	{ "caps", cmd_caps, "KHO/LUO capabilities: device, uapi ioctls, debugfs, cmdline [--no-open]" },
	{ "serve", cmd_serve, "start the daemon holding /dev/liveupdate and its sessions" },
	{ "ctl", cmd_ctl, "send JSON requests (arguments, or lines on stdin) to the daemon" },
	{ "kho-caps", cmd_kho_caps, "what the kernel offers of KHO/LUO, key=value, blobs in base64 [ROOT]" },
	{ "kho-dump", cmd_kho_dump, "the KHO debugfs tree, every file in base64 [ROOT, default /sys/kernel/debug]" },
	{ "version", cmd_version, "print the agent version" },
};

#define N_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: handover-agent <command> [args]\n");
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
}

int main(int argc, char **argv)
{
	/* The kernel runs it as /init (a symlink): PID 1 of the guest (init.c). */
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (!strcmp(self, "init"))
		return init_main();
	if (argc < 2) {
		usage(stderr);
		return fail("", 0, "no command given");
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 2, argv + 2);
	usage(stderr);
	return fail(argv[1], 0, "unknown command");
}
