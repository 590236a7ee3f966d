/*
 * berth-hostops: a small long-lived root process that berthd asks for the host operations of a
 * container's start and exit (mount, umount, named network namespaces) so that none of them costs
 * a process: spawning mount(8) or ip(8) from the daemon costs 3-5 ms each, the syscall itself
 * well under one. It serves one request at a time on stdin and never leaves the host's namespaces
 * for longer than a request.
 *
 * Request: NUL-terminated fields, each written with a leading ':' (so none is empty), the last
 * one followed by one more NUL:
 *   ID OP ARGS... \0
 *   mount    SOURCE TARGET FSTYPE FLAGS DATA CWD   (FLAGS decimal; empty FSTYPE/DATA/CWD mean none)
 *   umount   TARGET FLAGS
 *   netns-add PATH      a new network namespace kept at PATH (as `ip netns add`)
 *   netns-del PATH      (as `ip netns del`)
 *   run      INPUT ARGV...   runs a tool (ip, runc, ...) with INPUT on its stdin; answered when it exits
 *   mkfifo   PATH
 *   spawn    CWD STDERR FD3 ENV ARGV...   starts a long-lived program (conmon) in its own session, not
 *            waited for: stdin/stdout /dev/null, stderr to the file STDERR, fd 3 the FIFO FD3 (whose
 *            reader must be open), ENV newline-separated NAME=VALUE added to the environment
 * Reply, one line: "ID 0\n" or "ID ERRNO message\n"; for run "ID =STATUS OUTLEN ERRLEN\n" and then
 * OUTLEN bytes of its stdout and ERRLEN of its stderr (STATUS 128+N when killed by signal N).
 * Tools run side by side: the helper forks them (a few hundred KB to copy, not the daemon's
 * hundred MB, whose fork blocks its event loop for milliseconds) and answers each as it exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FIELDS 72
#define MAX_INPUT 60000   /* fits a pipe's buffer: written at once, never blocks the helper */
#define MAX_TOOLS 256
#define MAX_REQUEST (64 * 1024)

static char buf[MAX_REQUEST];
static size_t have;

/* The directory of named namespaces is a shared mount point, as iproute2 makes it, so the names
 * propagate to mount namespaces made later. */
static int ensure_netns_dir(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash || (size_t)(slash - path) >= sizeof dir) { errno = EINVAL; return -1; }
  memcpy(dir, path, slash - path);
  dir[slash - path] = 0;
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) return -1;
  if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0) return 0;
  if (errno != EINVAL) return -1;
  if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0) return -1;
  return mount("", dir, "none", MS_SHARED | MS_REC, NULL);
}

static int netns_add(const char *path) {
  if (ensure_netns_dir(path) < 0) return -1;
  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  close(fd);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) { int e = errno; unlink(path); errno = e; return -1; }
  int rc = -1, e = 0;
  if (unshare(CLONE_NEWNET) == 0) {
    rc = mount("/proc/self/ns/net", path, "none", MS_BIND, NULL);
    e = errno;
    if (setns(home, CLONE_NEWNET) < 0) {
      /* Serving from the wrong namespace would be worse than not serving. */
      fprintf(stderr, "berth-hostops: cannot return to the host network namespace: %s\n", strerror(errno));
      exit(1);
    }
  } else e = errno;
  close(home);
  if (rc < 0) { unlink(path); errno = e; }
  return rc;
}

static int netns_del(const char *path) {
  if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) return -1;
  if (unlink(path) < 0 && errno != ENOENT) return -1;
  return 0;
}

/* Starts a program that outlives the request (conmon double-forks; its first process is reaped by reap()). */
static int spawn_detached(const char *cwd, const char *errpath, const char *fifo, char *env, char **argv) {
  int w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);   /* ENXIO when no reader is there */
  if (w < 0) return -1;
  if (fcntl(w, F_SETFL, 0) < 0) { int e = errno; close(w); errno = e; return -1; }
  int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (err < 0) { int e = errno; close(w); errno = e; return -1; }
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) { int e = errno; close(w); close(err); errno = e; return -1; }
  pid_t pid = fork();
  if (pid < 0) { int e = errno; close(w); close(err); close(null); errno = e; return -1; }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err, 2) < 0 || dup2(w, 3) < 0) _exit(127);
    if (cwd[0] && chdir(cwd) < 0) { dprintf(2, "chdir %s: %s\n", cwd, strerror(errno)); _exit(127); }
    for (char *line = strtok(env, "\n"); line; line = strtok(NULL, "\n")) putenv(line);
    execv(argv[0], argv);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(w);
  close(err);
  close(null);
  return 0;
}

static int serve(char **f, int n) {
  const char *op = f[1];
  errno = 0;
  if (!strcmp(op, "mount") && n == 8) {
    int rc;
    if (f[7][0] && chdir(f[7]) < 0) return -1;
    rc = mount(f[2][0] ? f[2] : NULL, f[3], f[4][0] ? f[4] : NULL, strtoul(f[5], NULL, 10), f[6][0] ? f[6] : NULL);
    int e = errno;
    if (f[7][0] && chdir("/") < 0) { /* stays wherever it is: nothing relies on the cwd */ }
    errno = e;
    return rc;
  }
  if (!strcmp(op, "umount") && n == 4) return umount2(f[2], (int)strtol(f[3], NULL, 10));
  if (!strcmp(op, "netns-add") && n == 3) return netns_add(f[2]);
  if (!strcmp(op, "netns-del") && n == 3) return netns_del(f[2]);
  if (!strcmp(op, "mkfifo") && n == 3) return mkfifo(f[2], 0600);
  if (!strcmp(op, "spawn") && n >= 7) { f[n] = NULL; return spawn_detached(f[2], f[3], f[4], f[5], f + 6); }
  errno = EINVAL;
  return -1;
}

/* Tools still running: answered when they exit. */
static struct tool { pid_t pid; int out, err; char id[32]; } tools[MAX_TOOLS];
static int ntools;

/* Starts a tool; returns 0 when started (answered later by reap) or -1 with errno. */
static int run_tool(const char *id, const char *input, char **argv) {
  size_t ilen = strlen(input);
  if (ntools == MAX_TOOLS || strlen(id) >= sizeof tools[0].id) { errno = EAGAIN; return -1; }
  if (ilen > MAX_INPUT) { errno = E2BIG; return -1; }
  int out = memfd_create("berth-hostops-out", MFD_CLOEXEC);
  int err = memfd_create("berth-hostops-err", MFD_CLOEXEC);
  int in[2];
  if (out < 0 || err < 0 || pipe2(in, O_CLOEXEC) < 0) { int e = errno; if (out >= 0) close(out); if (err >= 0) close(err); errno = e; return -1; }
  pid_t pid = fork();
  if (pid < 0) { int e = errno; close(out); close(err); close(in[0]); close(in[1]); errno = e; return -1; }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in[0], 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
    execvp(argv[0], argv);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(in[0]);
  if (ilen && write(in[1], input, ilen) < 0) { /* the tool exited already: its status says why */ }
  close(in[1]);
  struct tool *t = &tools[ntools++];
  t->pid = pid; t->out = out; t->err = err;
  strcpy(t->id, id);
  return 0;
}

static void send_fd_contents(int fd, off_t len) {
  char chunk[65536];
  for (off_t at = 0; at < len;) {
    ssize_t r = pread(fd, chunk, sizeof chunk, at);
    if (r <= 0) break;
    fwrite(chunk, 1, r, stdout);
    at += r;
  }
}

/* Answers every tool that has exited. */
static void reap(void) {
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0) return;
    for (int i = 0; i < ntools; i++) {
      if (tools[i].pid != pid) continue;
      struct tool t = tools[i];
      tools[i] = tools[--ntools];
      int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      off_t olen = lseek(t.out, 0, SEEK_END), elen = lseek(t.err, 0, SEEK_END);
      if (olen < 0) olen = 0;
      if (elen < 0) elen = 0;
      printf("%s =%d %lld %lld\n", t.id, code, (long long)olen, (long long)elen);
      send_fd_contents(t.out, olen);
      send_fd_contents(t.err, elen);
      fflush(stdout);
      close(t.out);
      close(t.err);
      break;
    }
  }
}

/* Takes one complete request off the buffer: fields up to the empty one. Returns its field count, 0 when incomplete. */
static int next_request(char **f, size_t *used) {
  int n = 0;
  size_t pos = 0;
  while (pos < have) {
    char *start = buf + pos;
    char *nul = memchr(start, 0, have - pos);
    if (!nul) return 0;
    if (nul == start) { *used = pos + 1; return n ? n : -1; }
    if (n < MAX_FIELDS) f[n] = start + 1;   /* past the ':' */
    n++;
    pos = nul - buf + 1;
  }
  return 0;
}

int main(void) {
  if (chdir("/") < 0) return 1;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 1;
  for (;;) {
    char *f[MAX_FIELDS + 1];   /* + the argv terminator of run */
    size_t used = 0;
    int n;
    while ((n = next_request(f, &used)) != 0) {
      const char *id = n > 0 ? f[0] : "?";
      int rc;
      errno = 0;
      if (n > MAX_FIELDS) { errno = E2BIG; rc = -1; }
      else if (n >= 4 && !strcmp(f[1], "run")) {
        f[n] = NULL;
        rc = run_tool(id, f[2], f + 3);
        if (rc == 0) { memmove(buf, buf + used, have - used); have -= used; continue; }
      } else rc = n >= 2 ? serve(f, n) : (errno = EINVAL, -1);
      if (rc == 0) printf("%s 0\n", id);
      else printf("%s %d %s\n", id, errno, strerror(errno));
      fflush(stdout);
      memmove(buf, buf + used, have - used);
      have -= used;
    }
    if (have == sizeof buf) { fprintf(stderr, "berth-hostops: request too long\n"); return 1; }
    struct pollfd p[2] = { { 0, POLLIN, 0 }, { sfd, POLLIN, 0 } };
    if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; return 1; }
    if (p[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) { /* drained: reap looks at every child */ }
      reap();
    }
    if (p[0].revents) {
      ssize_t r = read(0, buf + have, sizeof buf - have);
      if (r == 0) return 0;   /* the daemon closed its end */
      if (r < 0) { if (errno == EINTR) continue; return 1; }
      have += r;
    }
  }
}
