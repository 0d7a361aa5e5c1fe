// SPDX-License-Identifier: GPL-2.0-only
/*
 * PID 1 of the handover guest (/init is a symlink to handover-agent). Mounts the API filesystems,
 * brings up the network, starts dropbear, and then only reaps orphans and restarts what died: PID 1
 * must never exit (the kernel would panic).
 *
 * In C rather than a busybox script because under TCG every fork+exec of busybox costs ~15-20 ms:
 * the script's ~20 processes took 0.40 s from `Run /init` to "sshd up" on every boot, cold and
 * kexec'd; these syscalls take a few milliseconds.
 *
 * The host watches the console for lines starting with "handover: " (orchestrator/rootfs/
 * milestones.ts), each "handover: <event> key=value ... uptime=<s>", one write per line:
 *   say("init start ...")  say("net up ...")  say("sshd up ...")  say("warning ...")  fatal("...")
 * Kernel parameters read here (defaults suit QEMU user networking):
 *   handover.ip=10.0.2.15/24  handover.gw=10.0.2.2  handover.sshport=22
 *   handover.console=shell    a root shell on the serial console (for `handover console` only: its
 *                             prompt would otherwise sit in front of kernel lines the host parses)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define HOST_KEY "/etc/dropbear/dropbear_ed25519_host_key"

static int console_fd = -1;

static void uptime(char *out, size_t len)
{
	char buf[64] = "";
	int fd = open("/proc/uptime", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, " \n")] = '\0';
	snprintf(out, len, "%s", buf);
}

/* One write per line, so kernel messages do not split it. */
static void say(const char *fmt, ...)
{
	char msg[768], line[900], up[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uptime(up, sizeof(up));
	n = snprintf(line, sizeof(line), "handover: %s uptime=%s\n", msg, up);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (console_fd >= 0 && write(console_fd, line, (size_t)n) < 0)
		return;
}

/* Stay alive for post-mortem over the console; exiting would panic the kernel. */
static void __attribute__((noreturn)) fatal(const char *what)
{
	say("error %s", what);
	for (;;) {
		pause();
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -1;
	while ((size_t)got < len - 1 && (n = read(fd, buf + got, len - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return 0;
}

static void mount_or_die(const char *src, const char *target, const char *type, unsigned long flags,
			 const char *data, const char *what)
{
	if (mount(src, target, type, flags, data) != 0)
		fatal(what);
}

static void mount_api_filesystems(void)
{
	mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "what=mount-proc");
	mount_or_die("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "what=mount-sys");
	mount_or_die("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", "what=mount-dev");
	mkdir("/dev/pts", 0755);
	mkdir("/dev/shm", 0755);
	mount_or_die("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666",
		     "what=mount-devpts");
	/* Not fatal: only the debugfs steps need it, and they fail on their own ("debugfs is not
	 * mounted"), quoting this line. Loud, with the reason, since those steps are the KHO evidence. */
	if (mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL) != 0)
		say("warning what=mount-debugfs path=/sys/kernel/debug -- debugfs is NOT mounted, every KHO debugfs "
		    "check will fail -- mount: %s",
		    strerror(errno));
	mount_or_die("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", "what=mount-tmp");
	mount_or_die("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", "what=mount-run");
	if (symlink("/proc/self/fd", "/dev/fd") != 0 && errno != EEXIST)
		fatal("what=dev-fd");
	sethostname("handover", strlen("handover"));
}

struct params {
	char ip[64];
	char gw[64];
	char port[16];
	int shell;
};

static void read_params(struct params *p)
{
	char cmdline[4096], *save = NULL, *arg;

	snprintf(p->ip, sizeof(p->ip), "10.0.2.15/24");
	snprintf(p->gw, sizeof(p->gw), "10.0.2.2");
	snprintf(p->port, sizeof(p->port), "22");
	p->shell = 0;
	if (read_text("/proc/cmdline", cmdline, sizeof(cmdline)) != 0)
		return;
	for (arg = strtok_r(cmdline, " \t\n", &save); arg; arg = strtok_r(NULL, " \t\n", &save)) {
		if (!strncmp(arg, "handover.ip=", 12))
			snprintf(p->ip, sizeof(p->ip), "%s", arg + 12);
		else if (!strncmp(arg, "handover.gw=", 12))
			snprintf(p->gw, sizeof(p->gw), "%s", arg + 12);
		else if (!strncmp(arg, "handover.sshport=", 17))
			snprintf(p->port, sizeof(p->port), "%s", arg + 17);
		else if (!strcmp(arg, "handover.console=shell"))
			p->shell = 1;
	}
}

static int set_up(int sock, const char *ifname)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(sock, SIOCSIFFLAGS, &ifr);
}

static void set_inet(struct sockaddr *sa, in_addr_t addr)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = addr;
	memcpy(sa, &sin, sizeof(sin));
}

/* lo up, then eth0 with the address and the default route: what `ip` did, by ioctl. */
static void bring_up_network(const struct params *p)
{
	char addr[64], what[160], *slash;
	struct in_addr ip, gw;
	struct ifreq ifr;
	struct rtentry rt;
	struct stat st;
	long prefix = 24;
	int sock, n;

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || set_up(sock, "lo") != 0)
		fatal("what=lo");
	/* virtio-net normally probes before init runs; allow a late probe anyway. */
	for (n = 0; stat("/sys/class/net/eth0", &st) != 0; n++) {
		if (n > 500)
			fatal("what=no-eth0");
		sleep_ms(10);
	}
	snprintf(addr, sizeof(addr), "%s", p->ip);
	slash = strchr(addr, '/');
	if (slash) {
		*slash = '\0';
		prefix = strtol(slash + 1, NULL, 10);
	}
	snprintf(what, sizeof(what), "what=eth0-addr ip=%s", p->ip);
	if (inet_pton(AF_INET, addr, &ip) != 1 || prefix < 0 || prefix > 32)
		fatal(what);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
	set_inet(&ifr.ifr_addr, ip.s_addr);
	if (ioctl(sock, SIOCSIFADDR, &ifr) != 0)
		fatal(what);
	set_inet(&ifr.ifr_netmask, prefix == 0 ? 0 : htonl(~0u << (32 - prefix)));
	if (ioctl(sock, SIOCSIFNETMASK, &ifr) != 0)
		fatal(what);
	if (set_up(sock, "eth0") != 0)
		fatal("what=eth0-up");
	snprintf(what, sizeof(what), "what=default-route gw=%s", p->gw);
	memset(&rt, 0, sizeof(rt));
	set_inet(&rt.rt_dst, INADDR_ANY);
	set_inet(&rt.rt_genmask, INADDR_ANY);
	if (inet_pton(AF_INET, p->gw, &gw) != 1)
		fatal(what);
	set_inet(&rt.rt_gateway, gw.s_addr);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	if (ioctl(sock, SIOCADDRT, &rt) != 0)
		fatal(what);
	close(sock);
}

static pid_t spawn(char *const argv[], const char *stdio_path, int append_stderr_to_log, int new_session)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (new_session)
		setsid();
	int in = open(stdio_path, O_RDWR);
	if (in >= 0) {
		dup2(in, 0);
		dup2(in, 1);
		dup2(in, 2);
		if (in > 2)
			close(in);
	}
	if (append_stderr_to_log) {
		int log = open("/run/dropbear.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (log >= 0) {
			dup2(log, 2);
			close(log);
		}
	}
	execvp(argv[0], argv);
	_exit(127);
}

static pid_t start_dropbear(const char *port)
{
	/* -F foreground, -E log to stderr (kept in /run), -s no password logins, -j -k no forwarding. */
	char *argv[] = { "dropbear", "-F", "-E", "-s", "-j", "-k", "-r", HOST_KEY, "-p", (char *)port, NULL };

	return spawn(argv, "/dev/null", 1, 0);
}

static pid_t start_console_shell(void)
{
	char *argv[] = { "setsid", "cttyhack", "sh", "-l", NULL };

	return spawn(argv, "/dev/console", 0, 0);
}

/* "sshd up" only once the socket listens, so the host can trust it. */
static int listening(unsigned port)
{
	static const char *tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char buf[16384];

	for (size_t t = 0; t < 2; t++) {
		if (read_text(tables[t], buf, sizeof(buf)) != 0)
			continue;
		/* "  N: LOCALHEX:PORT REMOTEHEX:PORT ST ...", state 0A is LISTEN. */
		for (char *line = strchr(buf, '\n'); line; line = strchr(line + 1, '\n')) {
			unsigned local_port, state;
			if (sscanf(line + 1, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &local_port, &state) == 2 &&
			    local_port == port && state == 0x0A)
				return 1;
		}
	}
	return 0;
}

static void on_sigchld(int sig)
{
	(void)sig;
}

int init_main(void)
{
	char boot_id[64] = "", what[96];
	struct params p;
	struct utsname u;
	pid_t sshd, shell = -1;
	int n;

	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("HOME", "/root", 1);
	umask(022);
	/* The kernel opened /dev/console (from the initramfs) as fds 0-2. */
	console_fd = open("/dev/console", O_WRONLY | O_CLOEXEC);
	if (console_fd < 0)
		console_fd = 1;
	mount_api_filesystems();
	/* devtmpfs now covers /dev: reopen the console from it. */
	int fd = open("/dev/console", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (console_fd > 2)
			close(console_fd);
		console_fd = fd;
	}

	read_text("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
	boot_id[strcspn(boot_id, "\n")] = '\0';
	uname(&u);
	say("init start boot_id=%s release=%s", boot_id, u.release);

	read_params(&p);
	bring_up_network(&p);
	say("net up boot_id=%s ip=%s gw=%s", boot_id, p.ip, p.gw);

	if (access(HOST_KEY, R_OK) != 0) {
		snprintf(what, sizeof(what), "what=no-host-key path=%s", HOST_KEY);
		fatal(what);
	}
	if (access("/root/.ssh/authorized_keys", R_OK) != 0)
		fatal("what=no-authorized-keys");

	/* Children's exits arrive as SIGCHLD; block it so the reaping loop below sees each one. */
	sigset_t chld;
	signal(SIGCHLD, on_sigchld);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);

	sshd = start_dropbear(p.port);
	unsigned port = (unsigned)strtoul(p.port, NULL, 10);
	for (n = 0; !listening(port); n++) {
		if (n > 2000) {
			snprintf(what, sizeof(what), "what=sshd-not-listening port=%s", p.port);
			fatal(what);
		}
		sleep_ms(5);
	}
	say("sshd up boot_id=%s port=%s", boot_id, p.port);

	/* The console shell starts after "sshd up", so the host's milestone lines are never
	 * interleaved with its prompt. */
	if (p.shell)
		shell = start_console_shell();

	/* Reap orphans (PID 1's job) forever; a dropbear crash shows on the console and it comes back. */
	for (;;) {
		struct timespec tick = { 5, 0 };
		int status;
		pid_t pid;

		/* A timeout too, so an exit whose signal was merged with another is still reaped. */
		sigtimedwait(&chld, NULL, &tick);
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == sshd) {
				say("error what=sshd-exited status=%d",
				    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
				sleep_ms(1000);
				sshd = start_dropbear(p.port);
			} else if (pid == shell) {
				sleep_ms(1000);
				shell = start_console_shell();
			}
		}
	}
}
