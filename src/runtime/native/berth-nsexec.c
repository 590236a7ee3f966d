/*
 * berth-nsexec: runs one process inside a running container the way `runc exec` does, without
 * runc (whose start-up, seccomp compile and double fork cost ~30 ms per exec).
 *
 *   berth-nsexec exec key=value...        enter the container and run a process (see usage below)
 *   berth-nsexec serve SOCKET             the same per request read on stdin, forked from one
 *                                         long-lived process (see run_serve); what berthd uses
 *   berth-nsexec seccomp-compile < lines  compile a seccomp profile (berth's line format) to BPF on stdout
 *
 * exec: the daemon passes the container's init pid and start time (runc's state.json). The helper
 * first re-executes itself from a sealed memfd (CVE-2019-5736: the child is visible in the
 * container's pid namespace before execve, so /proc/PID/exe must never lead to a host file), makes
 * itself non-dumpable, opens a pidfd on the init, checks its start time, joins its pid namespace
 * for children and forks. The child enters the container's cgroups and namespaces, sets up the
 * process in runc's order (keyring, no_new_privs, seccomp, bounding set, user, caps, cwd) and
 * execs. The parent stays in the host namespaces and reports on fd 3, one JSON line:
 *   {"pid":N}                          the process runs (N: its pid on the host)
 *   {"code":126|127,"message":"..."}   it could not be started (runc's wording)
 * then waits for the child and exits with its status (128+signal when killed).
 *
 * exec keys (repeatable ones marked *): pid, start, ns (CLONE_* bits for setns from the child),
 * pidns (1: join the pid namespace), cgroup* (a host cgroup directory), keyring (session keyring
 * name), uid, gid, groups (comma list), umask (octal), rlimit* (res:soft:hard), oom,
 * capb/cape/capp/capi/capa (hex masks), nnp (0|1), seccomp (BPF file), seccompflags, cwd,
 * env*, arg*.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <seccomp.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#define CGROUP2_MAGIC 0x63677270

/* clone3's arguments (linux/sched.h, spelled out: that header clashes with glibc's). */
struct clone3_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

#define REPORT_FD 3
#define MAX_LIST 4096

struct config {
  pid_t pid;
  unsigned long long start;
  int nsflags;
  int pidns;
  char *cgroups[64]; int ncgroups;
  char *keyring;
  uid_t uid; gid_t gid;
  gid_t groups[256]; int ngroups;
  mode_t umask;
  struct { int res; struct rlimit lim; } rlimits[32]; int nrlimits;
  char *oom;
  uint64_t capb, cape, capp, capi, capa;
  int nnp;
  char *seccomp; unsigned int seccompflags;
  char *cwd;
  char *env[MAX_LIST]; int nenv;
  char *args[MAX_LIST]; int nargs;
};

/* ---- errors: the child writes "code message" on a CLOEXEC pipe; the parent turns it into JSON ---- */

static int errpipe = -1;

static void json_report(int fd, int code, const char *msg) {
  char out[8192]; size_t n = 0;
  n += snprintf(out, sizeof out, "{\"code\":%d,\"message\":\"", code);
  for (const char *p = msg; *p && n < sizeof out - 16; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') { out[n++] = '\\'; out[n++] = c; }
    else if (c < 0x20) n += snprintf(out + n, sizeof out - n, "\\u%04x", c);
    else out[n++] = c;
  }
  n += snprintf(out + n, sizeof out - n, "\"}\n");
  if (write(fd, out, n) < 0) { /* nobody listens: the exit code still says it */ }
}

/* Fails the exec: in the child through the error pipe, in the parent straight on the report fd. */
static void __attribute__((noreturn, format(printf, 2, 3))) fail(int code, const char *fmt, ...) {
  char msg[4096];
  va_list ap; va_start(ap, fmt); vsnprintf(msg, sizeof msg, fmt, ap); va_end(ap);
  if (errpipe >= 0) {
    char buf[4200];
    int n = snprintf(buf, sizeof buf, "%d %s", code, msg);
    if (write(errpipe, buf, n) < 0) { /* parent gone */ }
  } else json_report(REPORT_FD, code, msg);
  _exit(code);
}

/* Go's error strings are lowercase: match runc's wording. */
static const char *errstr(int e) {
  static char buf[256];
  snprintf(buf, sizeof buf, "%s", strerror(e));
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] += 'a' - 'A';
  return buf;
}

#define SYSFAIL(what, ...) fail(126, "unable to start container process: " what ": %s", ##__VA_ARGS__, errstr(errno))

/* ---- self-protection ---- */

/* Whether /proc/self/exe is already a fully sealed memfd (then it cannot be written through). */
static int running_sealed(void) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int seals = fcntl(fd, F_GET_SEALS);
  close(fd);
  int want = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  return seals >= 0 && (seals & want) == want;
}

static void reexec_sealed(char **argv, char **envp) {
  int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (src < 0) SYSFAIL("open /proc/self/exe");
  int mfd = memfd_create("berth-nsexec", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (mfd < 0 && errno == EINVAL) mfd = memfd_create("berth-nsexec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) SYSFAIL("memfd_create");
  struct stat st;
  if (fstat(src, &st) < 0) SYSFAIL("stat /proc/self/exe");
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, src, &off, st.st_size - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) SYSFAIL("copy /proc/self/exe");
  }
  close(src);
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) SYSFAIL("seal memfd");
  syscall(SYS_execveat, mfd, "", argv, envp, AT_EMPTY_PATH);
  SYSFAIL("execveat memfd");
}

/* ---- arguments ---- */

static unsigned long long num(const char *key, const char *v, int base) {
  char *end; errno = 0;
  unsigned long long x = strtoull(v, &end, base);
  if (errno || end == v || *end) fail(126, "berth-nsexec: bad value for %s: %s", key, v);
  return x;
}

static void parse(struct config *c, int argc, char **argv) {
  memset(c, 0, sizeof *c);
  c->umask = 022;
  for (int i = 2; i < argc; i++) {
    char *kv = argv[i], *eq = strchr(kv, '=');
    if (!eq) fail(126, "berth-nsexec: bad argument %s", kv);
    *eq = 0; const char *k = kv; char *v = eq + 1;
    if (!strcmp(k, "pid")) c->pid = (pid_t)num(k, v, 10);
    else if (!strcmp(k, "start")) c->start = num(k, v, 10);
    else if (!strcmp(k, "ns")) c->nsflags = (int)num(k, v, 10);
    else if (!strcmp(k, "pidns")) c->pidns = (int)num(k, v, 10);
    else if (!strcmp(k, "cgroup")) { if (c->ncgroups == 64) fail(126, "berth-nsexec: too many cgroups"); c->cgroups[c->ncgroups++] = v; }
    else if (!strcmp(k, "keyring")) c->keyring = v;
    else if (!strcmp(k, "uid")) c->uid = (uid_t)num(k, v, 10);
    else if (!strcmp(k, "gid")) c->gid = (gid_t)num(k, v, 10);
    else if (!strcmp(k, "groups")) {
      for (char *s = strtok(v, ","); s; s = strtok(NULL, ",")) {
        if (c->ngroups == 256) fail(126, "berth-nsexec: too many groups");
        c->groups[c->ngroups++] = (gid_t)num(k, s, 10);
      }
    }
    else if (!strcmp(k, "umask")) c->umask = (mode_t)num(k, v, 8);
    else if (!strcmp(k, "rlimit")) {
      if (c->nrlimits == 32) fail(126, "berth-nsexec: too many rlimits");
      char *a = strtok(v, ":"), *b = strtok(NULL, ":"), *d = strtok(NULL, ":");
      if (!a || !b || !d) fail(126, "berth-nsexec: bad rlimit");
      c->rlimits[c->nrlimits].res = (int)num(k, a, 10);
      c->rlimits[c->nrlimits].lim.rlim_cur = num(k, b, 10);
      c->rlimits[c->nrlimits].lim.rlim_max = num(k, d, 10);
      c->nrlimits++;
    }
    else if (!strcmp(k, "oom")) c->oom = v;
    else if (!strcmp(k, "capb")) c->capb = num(k, v, 16);
    else if (!strcmp(k, "cape")) c->cape = num(k, v, 16);
    else if (!strcmp(k, "capp")) c->capp = num(k, v, 16);
    else if (!strcmp(k, "capi")) c->capi = num(k, v, 16);
    else if (!strcmp(k, "capa")) c->capa = num(k, v, 16);
    else if (!strcmp(k, "nnp")) c->nnp = (int)num(k, v, 10);
    else if (!strcmp(k, "seccomp")) c->seccomp = v;
    else if (!strcmp(k, "seccompflags")) c->seccompflags = (unsigned int)num(k, v, 10);
    else if (!strcmp(k, "cwd")) c->cwd = v;
    else if (!strcmp(k, "env")) { if (c->nenv == MAX_LIST - 1) fail(126, "berth-nsexec: too many env"); c->env[c->nenv++] = v; }
    else if (!strcmp(k, "arg")) { if (c->nargs == MAX_LIST - 1) fail(126, "berth-nsexec: too many args"); c->args[c->nargs++] = v; }
    else fail(126, "berth-nsexec: unknown key %s", k);
  }
  if (c->pid <= 0 || !c->start) fail(126, "berth-nsexec: pid and start are required");
  if (!c->nargs) fail(126, "berth-nsexec: no command");
  if (!c->cwd || c->cwd[0] != '/') fail(126, "Cwd must be an absolute path");   /* runc exec's words */
}

/* ---- the target ---- */

/* Field 22 of /proc/PID/stat: the process start time in clock ticks since boot. */
static unsigned long long start_time(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');   /* the command name may hold spaces and parentheses */
  if (!p) return 0;
  p++;
  for (int field = 3; field < 22; field++) { p = strchr(p + 1, ' '); if (!p) return 0; }
  return strtoull(p + 1, NULL, 10);
}

static unsigned char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (1 << 20)) { close(fd); errno = EINVAL; return NULL; }
  unsigned char *b = malloc(st.st_size);
  size_t got = 0;
  while (b && got < (size_t)st.st_size) {
    ssize_t n = read(fd, b + got, st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { free(b); b = NULL; break; }
    got += n;
  }
  close(fd);
  *len = got;
  return b;
}

/* ---- the child's set-up, in runc's order ---- */

static int last_cap(void) {
  char buf[16] = {0};
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return CAP_LAST_CAP;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? atoi(buf) : CAP_LAST_CAP;
}

static void load_seccomp(const struct sock_fprog *prog, unsigned int flags) {
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog) < 0) SYSFAIL("init seccomp");
}

/* Go's exec.LookPath as runc runs it: PATH from the process environment, mode bits only. */
static const char *look_path(const struct config *c, char *out, size_t outlen) {
  const char *file = c->args[0];
  struct stat st;
  if (strchr(file, '/')) {
    if (stat(file, &st) < 0) fail(errno == ENOENT ? 127 : 126, "unable to start container process: exec: \"%s\": stat %s: %s", file, file, errstr(errno));
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) fail(126, "unable to start container process: exec: \"%s\": permission denied", file);
    return file;
  }
  const char *path = NULL;
  for (int i = 0; i < c->nenv; i++) if (!strncmp(c->env[i], "PATH=", 5)) path = c->env[i] + 5;   /* the last one wins */
  if (path && *path) {
    const char *p = path;
    for (;;) {
      const char *end = strchr(p, ':');
      size_t dl = end ? (size_t)(end - p) : strlen(p);
      if (dl == 0) snprintf(out, outlen, "./%s", file);
      else snprintf(out, outlen, "%.*s/%s", (int)dl, p, file);
      if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111)) {
        if (out[0] != '/') fail(126, "unable to start container process: exec: \"%s\": cannot run executable found relative to current directory", file);
        return out;
      }
      if (!end) break;
      p = end + 1;
    }
  }
  fail(127, "unable to start container process: exec: \"%s\": executable file not found in $PATH", file);
}

static void child(const struct config *c, int pidfd, const int *cgfds, const struct sock_fprog *prog) {
  /* Never dumpable while visible in the container (execve resets it for the process proper). */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Signals as a fresh process has them. */
  sigset_t all; sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);

  /* Cgroups first (their files are host paths, opened by the parent), then the namespaces in one
   * atomic call. Each fd is a cgroup v1 `tasks` file or, when clone3 could not place us in it, a
   * cgroup v2 `cgroup.procs`; "0" is this (single-threaded) process. */
  for (int i = 0; i < c->ncgroups; i++) {
    if (cgfds[i] < 0) continue;
    if (write(cgfds[i], "0", 1) < 0) SYSFAIL("join cgroup %s", c->cgroups[i]);
    close(cgfds[i]);
  }
  if (c->oom) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, c->oom, strlen(c->oom)) < 0) SYSFAIL("set oom_score_adj");
    close(fd);
  }
  int lc = last_cap();

  /* No host file stays open inside: above stdio only the error pipe (close-on-exec) and the pidfd. */
  if (dup3(errpipe, REPORT_FD, O_CLOEXEC) < 0) SYSFAIL("dup");
  errpipe = REPORT_FD;
  if (pidfd != REPORT_FD + 1 && dup3(pidfd, REPORT_FD + 1, O_CLOEXEC) < 0) SYSFAIL("dup");
  pidfd = REPORT_FD + 1;
  syscall(SYS_close_range, REPORT_FD + 2, ~0U, 0);
  if (c->nsflags && setns(pidfd, c->nsflags) < 0) SYSFAIL("setns into the container");
  close(pidfd);

  umask(c->umask);
  for (int i = 0; i < c->nrlimits; i++)
    if (setrlimit(c->rlimits[i].res, &c->rlimits[i].lim) < 0) SYSFAIL("error setting rlimit type %d", c->rlimits[i].res);

  /* runc: do not inherit the daemon's session keyring. */
  if (c->keyring && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c->keyring) < 0 && errno != ENOSYS) SYSFAIL("join session keyring");
  if (c->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) SYSFAIL("set no_new_privs");
  /* Without no_new_privs loading a filter needs CAP_SYS_ADMIN: before the capabilities go. */
  if (prog && !c->nnp) load_seccomp(prog, c->seccompflags);

  /* First try cwd as root (a directory only root may enter); again as the user after EPERM/EACCES. */
  int chdir_later = 0;
  if (chdir(c->cwd) < 0) {
    if (errno == EPERM || errno == EACCES) chdir_later = 1;
    else fail(errno == ENOENT ? 127 : 126, "unable to start container process: chdir to cwd (\"%s\") set in config.json failed: %s", c->cwd, errstr(errno));
  }

  for (int cap = 0; cap <= lc; cap++)
    if (!(c->capb >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) SYSFAIL("drop bounding capability %d", cap);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) SYSFAIL("set keep caps");

  /* runc hands stdio to the user unless it is /dev/null (so /proc/self/fd/N can be reopened). */
  if (c->uid != 0 || c->gid != 0) {
    for (int fd = 0; fd <= 2; fd++) {
      struct stat st;
      if (fstat(fd, &st) == 0 && !(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))) {
        if (fchown(fd, c->uid, c->gid) < 0) { /* as runc: EINVAL/EPERM are fine */ }
      }
    }
  }
  if (setgroups(c->ngroups, c->groups) < 0) SYSFAIL("setgroups");
  if (setresgid(c->gid, c->gid, c->gid) < 0) SYSFAIL("setgid");
  if (setresuid(c->uid, c->uid, c->uid) < 0) SYSFAIL("setuid");
  if (chdir_later && chdir(c->cwd) < 0)
    fail(errno == ENOENT ? 127 : 126, "unable to start container process: chdir to cwd (\"%s\") set in config.json failed: %s", c->cwd, errstr(errno));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) SYSFAIL("clear keep caps");

  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2] = {
    { (uint32_t)c->cape, (uint32_t)c->capp, (uint32_t)c->capi },
    { (uint32_t)(c->cape >> 32), (uint32_t)(c->capp >> 32), (uint32_t)(c->capi >> 32) },
  };
  if (syscall(SYS_capset, &hdr, data) < 0) SYSFAIL("apply caps");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) SYSFAIL("clear ambient caps");
  for (int cap = 0; cap <= lc; cap++)
    if ((c->capa >> cap & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) SYSFAIL("raise ambient capability %d", cap);

  char found[PATH_MAX];
  const char *bin = look_path(c, found, sizeof found);
  /* With no_new_privs the filter goes on last, so as few syscalls as possible run under it. */
  if (prog && c->nnp) load_seccomp(prog, c->seccompflags);
  char *args[MAX_LIST], *env[MAX_LIST];
  memcpy(args, c->args, c->nargs * sizeof(char *)); args[c->nargs] = NULL;
  memcpy(env, c->env, c->nenv * sizeof(char *)); env[c->nenv] = NULL;
  execve(bin, args, env);
  /* As runc: the process counts as started; the failure is its stderr and exit status 1. */
  char msg[PATH_MAX + 128];
  int n = snprintf(msg, sizeof msg, "exec %s: %s\n", bin, errstr(errno));
  if (write(2, msg, n) < 0) { /* nowhere to say it */ }
  _exit(1);
}

/* Set in serve mode: the exit status also goes on the report fd (the daemon is not our parent). */
static int report_exit = 0;

static int run_exec(int argc, char **argv) {
  struct config c;
  syscall(SYS_close_range, REPORT_FD + 1, ~0U, 0);   /* whatever the caller leaked to us */
  parse(&c, argc, argv);
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) SYSFAIL("set non-dumpable");
  if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) fail(126, "berth-nsexec: fd 3 (the report pipe) is not open");

  int pidfd = (int)syscall(SYS_pidfd_open, c.pid, 0);
  if (pidfd < 0) SYSFAIL("open container init %d", c.pid);
  /* The pidfd pins the process: a matching start time now means it is the container's init. */
  if (start_time(c.pid) != c.start) fail(126, "unable to start container process: container init %d has exited", c.pid);

  /* Joining cgroups: cgroup v1 through `tasks` (moving only the current thread skips the kernel's
   * global threadgroup lock, whose first writer waits a whole RCU grace period — often 5-20 ms);
   * the cgroup v2 one by creating the child in it (clone3 CLONE_INTO_CGROUP, same reason). */
  int cgfds[64], cg2dir = -1, cg2index = -1;
  for (int i = 0; i < c.ncgroups; i++) {
    char p[PATH_MAX];
    struct statfs sfs;
    cgfds[i] = -1;
    if (statfs(c.cgroups[i], &sfs) < 0) { if (errno == ENOENT) continue; SYSFAIL("statfs %s", c.cgroups[i]); }
    int v2 = sfs.f_type == CGROUP2_MAGIC;
    if (v2) {
      if (cg2index >= 0) fail(126, "berth-nsexec: more than one cgroup v2 path");
      cg2index = i;
      cg2dir = open(c.cgroups[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (cg2dir < 0) SYSFAIL("open %s", c.cgroups[i]);
    }
    snprintf(p, sizeof p, "%s/%s", c.cgroups[i], v2 ? "cgroup.procs" : "tasks");
    cgfds[i] = open(p, O_WRONLY | O_CLOEXEC);
    if (cgfds[i] < 0 && errno != ENOENT) SYSFAIL("open %s", p);
  }
  struct sock_fprog prog, *progp = NULL;
  if (c.seccomp) {
    size_t len;
    unsigned char *bpf = read_file(c.seccomp, &len);
    if (!bpf || len % sizeof(struct sock_filter)) SYSFAIL("read seccomp filter %s", c.seccomp);
    prog.len = (unsigned short)(len / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)bpf;
    progp = &prog;
  }

  if (c.pidns && setns(pidfd, CLONE_NEWPID) < 0) SYSFAIL("join the container's pid namespace");
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) SYSFAIL("pipe");
  pid_t pid = -1;
  if (cg2dir >= 0) {
    struct clone3_args ca = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cg2dir };
    pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    if (pid >= 0 && cgfds[cg2index] >= 0) {   /* placed by the kernel: nothing to write */
      if (pid == 0) cgfds[cg2index] = -1;
    } else if (pid < 0 && errno != ENOSYS && errno != EINVAL && errno != E2BIG) SYSFAIL("clone3 into cgroup %s", c.cgroups[cg2index]);
  }
  if (pid < 0) pid = fork();   /* no clone3 into a cgroup here: the child writes cgroup.procs */
  if (pid < 0) SYSFAIL("fork");
  if (pid == 0) {
    close(ep[0]);
    errpipe = ep[1];
    child(&c, pidfd, cgfds, progp);
  }
  close(ep[1]);
  close(pidfd);
  signal(SIGPIPE, SIG_IGN);   /* a daemon that stopped reading must not cost us the exit status */
  for (int i = 0; i < c.ncgroups; i++) if (cgfds[i] >= 0) close(cgfds[i]);
  if (cg2dir >= 0) close(cg2dir);
  /* The child's stdio must be the only holder of the client's pipes. */
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); dup2(devnull, 2); close(devnull); }

  char buf[4200]; size_t got = 0;
  for (;;) {
    ssize_t n = read(ep[0], buf + got, sizeof buf - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += n;
    if (got == sizeof buf - 1) break;
  }
  close(ep[0]);
  int status;
  if (got) {
    buf[got] = 0;
    char *sp = strchr(buf, ' ');
    int code = atoi(buf);
    json_report(REPORT_FD, code == 127 ? 127 : 126, sp ? sp + 1 : buf);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return code == 127 ? 127 : 126;
  }
  char line[64];
  int n = snprintf(line, sizeof line, "{\"pid\":%d}\n", pid);
  if (write(REPORT_FD, line, n) < 0) { /* the daemon went away; the process runs on */ }
  if (!report_exit) close(REPORT_FD);
  int code = 255;
  while (waitpid(pid, &status, 0) < 0) if (errno != EINTR) goto done;
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) code = 128 + WTERMSIG(status);
done:
  if (report_exit) {
    n = snprintf(line, sizeof line, "{\"exit\":%d}\n", code);
    if (write(REPORT_FD, line, n) < 0) { /* the daemon went away */ }
  }
  return code;
}

/* ---- serve: one long-lived helper per daemon ----
 * Forking a process as large as the daemon costs it milliseconds per exec (page tables), with
 * its event loop blocked meanwhile; this small process forks instead. It reads requests on
 * stdin, each "<length>\n" then the exec keys, NUL-terminated, plus
 *   token=<hex>   names the request in the connections back
 *   stdio=<abc>   which of stdin, stdout, stderr are wanted ("1" or "0" each)
 * and forks one exec parent per request. That parent connects to the daemon's socket once per
 * stream, each connection starting with "<token> <report|stdin|stdout|stderr>\n": the report
 * connection is its fd 3 (pid, then {"exit":N}), the others the process's stdio. It runs from
 * the same sealed memfd as the server, so no exec of the helper happens per request. */

static int connect_stream(const char *path, const char *token, const char *kind) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof a.sun_path) return -1;
  memcpy(a.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  char hdr[160];
  int n = snprintf(hdr, sizeof hdr, "%s %s\n", token, kind);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 || write(fd, hdr, n) != n) { close(fd); return -1; }
  return fd;
}

/* Moves an fd out of the way of 0-3 (close-on-exec until dup2 puts it in place). */
static int high_fd(int fd) {
  if (fd < 0) return fd;
  int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  return h;
}

static void __attribute__((noreturn)) serve_one(char *req, size_t len, const char *path) {
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  static char *args[2 * MAX_LIST + 16];
  int n = 0;
  const char *token = NULL, *stdio = "000";
  args[n++] = "berth-nsexec"; args[n++] = "exec";
  for (size_t i = 0; i < len && n < (int)(sizeof args / sizeof args[0]) - 1; ) {
    char *a = req + i;
    size_t l = strnlen(a, len - i);
    if (i + l == len) break;   /* not NUL-terminated: drop */
    if (!strncmp(a, "token=", 6)) token = a + 6;
    else if (!strncmp(a, "stdio=", 6)) stdio = a + 6;
    else args[n++] = a;
    i += l + 1;
  }
  args[n] = NULL;
  if (!token || strlen(stdio) != 3) _exit(2);
  int report = high_fd(connect_stream(path, token, "report"));
  if (report < 0 || dup2(report, REPORT_FD) < 0) _exit(2);
  close(report);
  static const char *kinds[3] = { "stdin", "stdout", "stderr" };
  int fds[3];
  for (int fd = 0; fd < 3; fd++) {
    /* A stream not wanted is /dev/null, read-only for stdin, write-only for output. */
    fds[fd] = high_fd(stdio[fd] == '1' ? connect_stream(path, token, kinds[fd]) : open("/dev/null", (fd ? O_WRONLY : O_RDONLY) | O_CLOEXEC));
    if (fds[fd] < 0) fail(126, "berth-nsexec: cannot connect %s to the daemon: %s", kinds[fd], errstr(errno));
  }
  /* Only now over 0-2 (the request pipe and the server's own stdio go). */
  for (int fd = 0; fd < 3; fd++) if (dup2(fds[fd], fd) < 0) fail(126, "berth-nsexec: dup2: %s", errstr(errno));
  for (int fd = 0; fd < 3; fd++) close(fds[fd]);
  report_exit = 1;
  _exit(run_exec(n, args));
}

static int run_serve(const char *path) {
  syscall(SYS_close_range, 3, ~0U, 0);   /* whatever the daemon leaked to us */
  signal(SIGCHLD, SIG_IGN);   /* exec parents are reaped by the kernel */
  signal(SIGPIPE, SIG_IGN);
  size_t size = 4 << 20, have = 0;
  char *buf = malloc(size);
  if (!buf) return 2;
  for (;;) {
    ssize_t r = read(0, buf + have, size - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;   /* the daemon went away: running execs go on by themselves */
    have += (size_t)r;
    for (;;) {
      char *nl = memchr(buf, '\n', have);
      if (!nl) break;
      size_t hl = (size_t)(nl - buf) + 1, len = strtoul(buf, NULL, 10);
      if (len > size - hl) { fprintf(stderr, "berth-nsexec: request too large\n"); return 2; }
      if (have < hl + len) break;
      pid_t pid = fork();
      if (pid == 0) serve_one(buf + hl, len, path);
      if (pid < 0) fprintf(stderr, "berth-nsexec: fork: %s\n", strerror(errno));   /* the daemon times the request out */
      memmove(buf, buf + hl + len, have - hl - len);
      have -= hl + len;
    }
    if (have == size) { fprintf(stderr, "berth-nsexec: request too large\n"); return 2; }
  }
}



/* ---- seccomp-compile: berth's line format → BPF ----
 *   default <action> <ret>
 *   arch <libseccomp arch name>
 *   rule <action> <ret> <syscall> <ncond> [<index> <op> <a> <b>]...
 * actions: allow errno kill_thread kill_process trap trace log; ops: ne lt le eq ge gt masked_eq.
 * Unknown syscalls are skipped (runc does the same); rules equal to the default are skipped. */

static uint32_t action(const char *name, const char *ret) {
  unsigned long long r = strtoull(ret, NULL, 10);
  if (!strcmp(name, "allow")) return SCMP_ACT_ALLOW;
  if (!strcmp(name, "errno")) return SCMP_ACT_ERRNO((uint32_t)r);
  if (!strcmp(name, "kill_thread")) return SCMP_ACT_KILL_THREAD;
  if (!strcmp(name, "kill_process")) return SCMP_ACT_KILL_PROCESS;
  if (!strcmp(name, "trap")) return SCMP_ACT_TRAP;
  if (!strcmp(name, "trace")) return SCMP_ACT_TRACE((uint32_t)r);
  if (!strcmp(name, "log")) return SCMP_ACT_LOG;
  fprintf(stderr, "berth-nsexec: unknown seccomp action %s\n", name);
  exit(2);
}

static int cmp_op(const char *op) {
  static const struct { const char *n; int op; } ops[] = {
    { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT }, { "le", SCMP_CMP_LE }, { "eq", SCMP_CMP_EQ },
    { "ge", SCMP_CMP_GE }, { "gt", SCMP_CMP_GT }, { "masked_eq", SCMP_CMP_MASKED_EQ },
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) if (!strcmp(op, ops[i].n)) return ops[i].op;
  fprintf(stderr, "berth-nsexec: unknown seccomp operator %s\n", op);
  exit(2);
}

/* runc's -ENOSYS stub, prepended to libseccomp's program: on each architecture of the profile,
 * a syscall numbered above every syscall the profile names is one this profile predates, so it
 * gets ENOSYS (programs then fall back to older calls) instead of the default errno. Not added
 * when the default action allows (allow, log, trace) or already is errno ENOSYS. */

#define MAX_STUB 64
struct stub { struct sock_filter insn[MAX_STUB]; int target_t[MAX_STUB], target_f[MAX_STUB]; int n; };
enum { T_NEXT = -1, T_ENOSYS = -2, T_FILTER = -3 };

static int emit(struct stub *st, uint16_t code, uint32_t k, int jt, int jf) {
  if (st->n == MAX_STUB) { fprintf(stderr, "berth-nsexec: ENOSYS stub too long\n"); exit(2); }
  st->insn[st->n] = (struct sock_filter){ code, 0, 0, k };
  st->target_t[st->n] = jt; st->target_f[st->n] = jf;
  return st->n++;
}

/* Jumps are kept as absolute targets (or T_*) until the stub's length is known. */
static void resolve(struct stub *st) {
  int enosys = st->n, filter = st->n + 1;
  emit(st, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA), T_NEXT, T_NEXT);
  for (int i = 0; i < st->n; i++) {
    int t[2] = { st->target_t[i], st->target_f[i] };
    for (int j = 0; j < 2; j++) {
      int to = t[j] == T_NEXT ? i + 1 : t[j] == T_ENOSYS ? enosys : t[j] == T_FILTER ? filter : t[j];
      int rel = to - (i + 1);
      if (rel < 0 || rel > 255) { fprintf(stderr, "berth-nsexec: bad stub jump\n"); exit(2); }
      if (BPF_CLASS(st->insn[i].code) == BPF_JMP && BPF_OP(st->insn[i].code) == BPF_JA) { if (j == 0) st->insn[i].k = (uint32_t)rel; }
      else if (BPF_CLASS(st->insn[i].code) == BPF_JMP) { if (j == 0) st->insn[i].jt = (uint8_t)rel; else st->insn[i].jf = (uint8_t)rel; }
    }
  }
}

#define X32_BIT 0x40000000U

static void enosys_stub(struct stub *st, const uint32_t *arches, int narch, char **names, int nnames) {
  /* The largest syscall the profile names, per architecture token. */
  uint32_t max[16] = {0};
  for (int a = 0; a < narch; a++)
    for (int i = 0; i < nnames; i++) {
      int nr = seccomp_syscall_resolve_name_arch(arches[a], names[i]);
      if (nr >= 0 && (uint32_t)nr > max[a]) max[a] = (uint32_t)nr;
    }
  /* Group by the kernel's AUDIT_ARCH (x32 shares x86_64's, telling its syscalls by bit 30). */
  uint32_t natives[16]; int nnat = 0;
  for (int a = 0; a < narch; a++) {
    uint32_t native = arches[a] == SCMP_ARCH_X32 ? SCMP_ARCH_X86_64 : arches[a];
    int seen = 0;
    for (int i = 0; i < nnat; i++) if (natives[i] == native) seen = 1;
    if (!seen && max[a]) natives[nnat++] = native;
  }
  uint32_t amd64 = 0, x32 = 0;
  for (int a = 0; a < narch; a++) {
    if (arches[a] == SCMP_ARCH_X86_64) amd64 = max[a];
    if (arches[a] == SCMP_ARCH_X32) x32 = max[a];
  }
  emit(st, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), T_NEXT, T_NEXT);
  int jumps[16];
  for (int i = 0; i < nnat; i++) jumps[i] = emit(st, BPF_JMP | BPF_JEQ | BPF_K, natives[i], 0, T_NEXT);
  emit(st, BPF_JMP | BPF_JA, 0, T_FILTER, T_FILTER);   /* an architecture not in the profile */
  for (int i = 0; i < nnat; i++) {
    st->target_t[jumps[i]] = st->n;
    emit(st, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), T_NEXT, T_NEXT);
    if (natives[i] == SCMP_ARCH_X86_64) {
      int test = emit(st, BPF_JMP | BPF_JSET | BPF_K, X32_BIT, 0, 0);
      /* x86_64 syscalls (bit 30 clear) */
      st->target_f[test] = st->n;
      if (amd64) emit(st, BPF_JMP | BPF_JGT | BPF_K, amd64, T_ENOSYS, T_FILTER);
      else emit(st, BPF_JMP | BPF_JA, 0, T_FILTER, T_FILTER);
      /* x32 syscalls */
      st->target_t[test] = st->n;
      if (x32) emit(st, BPF_JMP | BPF_JGT | BPF_K, x32, T_ENOSYS, T_FILTER);
      else emit(st, BPF_JMP | BPF_JA, 0, T_FILTER, T_FILTER);
    } else {
      uint32_t m = 0;
      for (int a = 0; a < narch; a++) if (arches[a] == natives[i]) m = max[a];
      emit(st, BPF_JMP | BPF_JGT | BPF_K, m, T_ENOSYS, T_FILTER);
    }
  }
  resolve(st);
}

static int run_compile(void) {
  scmp_filter_ctx ctx = NULL;
  uint32_t def = 0;
  int stub_wanted = 0;
  uint32_t arches[16]; int narch = 0;
  char **names = NULL; int nnames = 0, cap = 0;
  char line[8192];
  while (fgets(line, sizeof line, stdin)) {
    char *tok[5 + 4 * 6 + 1]; int nt = 0;
    for (char *s = strtok(line, " \n"); s && nt < (int)(sizeof tok / sizeof tok[0]); s = strtok(NULL, " \n")) tok[nt++] = s;
    if (!nt) continue;
    if (!strcmp(tok[0], "default") && nt == 3) {
      def = action(tok[1], tok[2]);
      stub_wanted = def != SCMP_ACT_ALLOW && def != SCMP_ACT_LOG && (def & SECCOMP_RET_ACTION_FULL) != SCMP_ACT_TRACE(0)
        && def != SCMP_ACT_ERRNO(ENOSYS);
      ctx = seccomp_init(def);
      if (!ctx) { fprintf(stderr, "berth-nsexec: seccomp_init failed\n"); return 2; }
      /* berth loads the filter itself, setting no_new_privs only when the spec asks. */
      seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    } else if (ctx && !strcmp(tok[0], "arch") && nt == 2) {
      uint32_t a = seccomp_arch_resolve_name(tok[1]);
      if (!a) { fprintf(stderr, "berth-nsexec: unknown architecture %s\n", tok[1]); return 2; }
      int rc = seccomp_arch_add(ctx, a);
      if (rc < 0 && rc != -EEXIST) { fprintf(stderr, "berth-nsexec: seccomp_arch_add %s: %s\n", tok[1], strerror(-rc)); return 2; }
      if (narch < 16) arches[narch++] = a;
    } else if (ctx && !strcmp(tok[0], "rule") && nt >= 5) {
      uint32_t act = action(tok[1], tok[2]);
      int nr = seccomp_syscall_resolve_name(tok[3]);
      int ncond = atoi(tok[4]);
      if (ncond < 0 || ncond > 6 || nt != 5 + 4 * ncond) { fprintf(stderr, "berth-nsexec: bad rule for %s\n", tok[3]); return 2; }
      if (nnames == cap) { cap = cap ? cap * 2 : 256; names = realloc(names, cap * sizeof *names); if (!names) return 2; }
      names[nnames++] = strdup(tok[3]);
      if (nr == __NR_SCMP_ERROR || act == def) continue;   /* as runc: unknown here, or the default anyway */
      struct scmp_arg_cmp conds[6];
      for (int i = 0; i < ncond; i++) {
        conds[i].arg = (unsigned int)atoi(tok[5 + 4 * i]);
        conds[i].op = cmp_op(tok[6 + 4 * i]);
        conds[i].datum_a = strtoull(tok[7 + 4 * i], NULL, 10);
        conds[i].datum_b = strtoull(tok[8 + 4 * i], NULL, 10);
      }
      int rc = seccomp_rule_add_array(ctx, act, nr, ncond, conds);
      if (rc < 0) { fprintf(stderr, "berth-nsexec: seccomp rule for %s: %s\n", tok[3], strerror(-rc)); return 2; }
    } else {
      fprintf(stderr, "berth-nsexec: bad seccomp line: %s\n", tok[0]);
      return 2;
    }
  }
  if (!ctx) { fprintf(stderr, "berth-nsexec: no default action\n"); return 2; }
  struct stub st = { .n = 0 };
  if (stub_wanted && narch) enosys_stub(&st, arches, narch, names, nnames);
  if (st.n && write(1, st.insn, st.n * sizeof st.insn[0]) < 0) { perror("berth-nsexec: write"); return 2; }
  int rc = seccomp_export_bpf(ctx, 1);
  if (rc < 0) { fprintf(stderr, "berth-nsexec: seccomp_export_bpf: %s\n", strerror(-rc)); return 2; }
  seccomp_release(ctx);
  return 0;
}

int main(int argc, char **argv, char **envp) {
  if (argc >= 2 && !strcmp(argv[1], "exec")) {
    if (!running_sealed()) reexec_sealed(argv, envp);
    return run_exec(argc, argv);
  }
  if (argc == 3 && !strcmp(argv[1], "serve")) {
    if (!running_sealed()) reexec_sealed(argv, envp);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) { perror("berth-nsexec: prctl"); return 2; }
    return run_serve(argv[2]);
  }
  if (argc == 2 && !strcmp(argv[1], "seccomp-compile")) return run_compile();
  fprintf(stderr, "usage: berth-nsexec exec key=value... | berth-nsexec serve SOCKET | berth-nsexec seccomp-compile < profile\n");
  return 2;
}
