// SPDX-License-Identifier: GPL-2.0-only
/*
 * handover-agent: the guest side of handover's Live Update checks.
 *
 * Built statically against the uapi headers exported by the kernel under test, so the ioctl
 * numbers it uses are the ones that kernel defines. Every subcommand prints exactly one JSON
 * object on one line to stdout (the host parses it) and exits 0 on success; on failure it still
 * prints one JSON line, {"ok":false,"error":...}, and exits non-zero.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#define AGENT_VERSION "0.1.0"
#define LIVEUPDATE_DEV "/dev/liveupdate"

/* ---- one-line JSON output ------------------------------------------------------------------ */

static int json_first = 1;

static void json_sep(void)
{
	if (!json_first)
		putchar(',');
	json_first = 0;
}

static void json_str_value(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void json_key(const char *key)
{
	json_sep();
	json_str_value(key);
	putchar(':');
}

static void json_open(const char *key)
{
	if (key)
		json_key(key);
	else
		json_sep();
	putchar('{');
	json_first = 1;
}

static void json_close(void)
{
	putchar('}');
	json_first = 0;
}

static void json_string(const char *key, const char *value)
{
	json_key(key);
	json_str_value(value);
}

static void json_bool(const char *key, int value)
{
	json_key(key);
	fputs(value ? "true" : "false", stdout);
}

static void json_uint(const char *key, unsigned long long value)
{
	json_key(key);
	printf("%llu", value);
}

static void json_end_line(void)
{
	putchar('\n');
	fflush(stdout);
}

static int fail(const char *cmd, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_first = 1;
	json_open(NULL);
	json_bool("ok", 0);
	json_string("command", cmd);
	json_string("error", msg);
	if (err)
		json_string("errno", strerrorname_np(err) ? strerrorname_np(err) : "unknown");
	json_close();
	json_end_line();
	return 1;
}

/* ---- subcommands --------------------------------------------------------------------------- */

/* What this agent was built with and what the running kernel offers; no side effects. */
static int cmd_probe(int argc, char **argv)
{
	struct utsname u;
	struct stat st;
	int have_dev;

	(void)argv;
	if (argc != 0)
		return fail("probe", 0, "probe takes no arguments");
	if (uname(&u) != 0)
		return fail("probe", errno, "uname failed");
	have_dev = stat(LIVEUPDATE_DEV, &st) == 0 && S_ISCHR(st.st_mode);

	json_open(NULL);
	json_bool("ok", 1);
	json_string("command", "probe");
	json_string("agent", "handover-agent");
	json_string("version", AGENT_VERSION);
	json_string("release", u.release);
	json_string("machine", u.machine);
	json_bool("liveupdate_dev", have_dev);
	if (have_dev) {
		json_uint("liveupdate_dev_mode", st.st_mode & 07777);
		json_uint("liveupdate_dev_major", major(st.st_rdev));
		json_uint("liveupdate_dev_minor", minor(st.st_rdev));
	}
	json_open("ioctls");
	json_uint("type", LIVEUPDATE_IOCTL_TYPE);
	json_uint("create_session", LIVEUPDATE_IOCTL_CREATE_SESSION);
	json_uint("retrieve_session", LIVEUPDATE_IOCTL_RETRIEVE_SESSION);
	json_uint("session_preserve_fd", LIVEUPDATE_SESSION_PRESERVE_FD);
	json_uint("session_retrieve_fd", LIVEUPDATE_SESSION_RETRIEVE_FD);
	json_uint("session_finish", LIVEUPDATE_SESSION_FINISH);
	json_uint("session_get_name", LIVEUPDATE_SESSION_GET_NAME);
	json_close();
	json_uint("session_name_length", LIVEUPDATE_SESSION_NAME_LENGTH);
	json_close();
	json_end_line();
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	json_open(NULL);
	json_bool("ok", 1);
	json_string("command", "version");
	json_string("version", AGENT_VERSION);
	json_close();
	json_end_line();
	return 0;
}

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct subcommand subcommands[] = {
	{ "probe", cmd_probe, "report agent version, /dev/liveupdate presence, ioctl numbers, release" },
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
