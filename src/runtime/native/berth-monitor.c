/*
 * berth-monitor: holds one container for its whole life, as conmon does, so that the container is
 * never a child of berthd and outlives a daemon crash. It takes the part of conmon's command line
 * berthd uses for a container's init process (not exec sessions: those keep conmon) and keeps the
 * same files and sockets, so the daemon drives either:
 *
 *   --api-version 1 -c ID -u SHORT -n NAME -r RUNTIME -b BUNDLE -p PIDFILE -P MONITOR_PIDFILE
 *   -l k8s-file:LOG --exit-dir DIR --socket-dir-path DIR --persist-dir DIR [--runtime-arg ARG]...
 *   [--log-level L] [--log-size-max BYTES] [-t] [-i] [--leave-stdin-open] [--start-gate FIFO]
 *   environment _OCI_SYNCPIPE=FD
 *
 * With --start-gate (berth's own, not conmon's) it sets itself up, then waits on FIFO for one byte
 * before it runs the runtime: 'g' goes on; end-of-file (the daemon closed its end: the start was
 * abandoned, or the daemon died) makes it undo its set-up and exit 0 without running anything.
 * The daemon launches it beside its own preparation and says go once config.json is written.
 *
 * What it does, in order: writes its pid to MONITOR_PIDFILE; becomes the subreaper of what it
 * starts; opens the attach socket (SOCK_SEQPACKET, BUNDLE/attach, reached as SOCKET_DIR/SHORT/attach)
 * and the control FIFO BUNDLE/ctl; runs `RUNTIME ARGS create --bundle BUNDLE --pid-file PIDFILE
 * [--console-socket S] ID`; writes {"data": PID} (or {"data": -1, "message": "..."}) on the sync
 * pipe; then, until the container's process exits, writes its output to LOG in the k8s-file format
 * (`<RFC3339Nano> <stdout|stderr> <F|P> <text>`), copies it to attach clients (each packet starts
 * with 2 = stdout or 3 = stderr) and their input to the container's stdin, resizes the pty
 * ("1 ROWS COLS" on ctl), reopens the log ("2 0 0"), and notes an OOM kill (a file `oom` in the
 * persist directory). At the exit it writes the exit code (128+N for signal N) to EXIT_DIR/ID.
 *
 * Why not conmon: beside a bare `runc create`, conmon adds ~8 ms here (dynamic linking, glib, its
 * set-up), this single small C process ~4.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNTIME_ARGS 32
#define MAX_CLIENTS 64
#define CHUNK 8192

static const char *opt_id, *opt_short, *opt_runtime, *opt_bundle, *opt_pidfile, *opt_monitor_pidfile;
static const char *opt_log, *opt_exit_dir, *opt_socket_dir, *opt_persist_dir, *opt_start_gate;
static const char *runtime_args[MAX_RUNTIME_ARGS];
static int n_runtime_args, opt_tty, opt_stdin, opt_leave_stdin_open;
static long long opt_log_size_max;

static int log_fd = -1;
static long long log_bytes;
static int stdin_fd = -1;               /* our end of the container's stdin (pipe write end or pty master) */
static int out_fd = -1, err_fd = -1;    /* container output: pipes, or the pty master as out_fd */
static int clients[MAX_CLIENTS], client_rdclosed[MAX_CLIENTS], n_clients;
static char stdin_pending[256 * 1024];   /* the largest packet a client may send (the daemon sends 8 KiB) */
static size_t stdin_pending_len;
static int stdin_close_when_written;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("berth-monitor: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE(name) (v ? (i++, v) : (die("%s needs a value", name), NULL))
    if (!strcmp(a, "-t") || !strcmp(a, "--terminal")) opt_tty = 1;
    else if (!strcmp(a, "-i") || !strcmp(a, "--stdin")) opt_stdin = 1;
    else if (!strcmp(a, "--leave-stdin-open")) opt_leave_stdin_open = 1;
    else if (!strcmp(a, "--api-version") || !strcmp(a, "--log-level") || !strcmp(a, "-n") || !strcmp(a, "--name")) VALUE(a);
    else if (!strcmp(a, "-c") || !strcmp(a, "--cid")) opt_id = VALUE(a);
    else if (!strcmp(a, "-u") || !strcmp(a, "--cuuid")) opt_short = VALUE(a);
    else if (!strcmp(a, "-r") || !strcmp(a, "--runtime")) opt_runtime = VALUE(a);
    else if (!strcmp(a, "-b") || !strcmp(a, "--bundle")) opt_bundle = VALUE(a);
    else if (!strcmp(a, "-p") || !strcmp(a, "--container-pidfile")) opt_pidfile = VALUE(a);
    else if (!strcmp(a, "-P") || !strcmp(a, "--conmon-pidfile")) opt_monitor_pidfile = VALUE(a);
    else if (!strcmp(a, "-l") || !strcmp(a, "--log-path")) {
      const char *l = VALUE(a);
      if (strncmp(l, "k8s-file:", 9)) die("only k8s-file logs are supported, not %s", l);
      opt_log = l + 9;
    } else if (!strcmp(a, "--exit-dir")) opt_exit_dir = VALUE(a);
    else if (!strcmp(a, "--socket-dir-path")) opt_socket_dir = VALUE(a);
    else if (!strcmp(a, "--persist-dir")) opt_persist_dir = VALUE(a);
    else if (!strcmp(a, "--log-size-max")) opt_log_size_max = atoll(VALUE(a));
    else if (!strcmp(a, "--start-gate")) opt_start_gate = VALUE(a);
    else if (!strcmp(a, "--runtime-arg")) {
      if (n_runtime_args == MAX_RUNTIME_ARGS) die("too many --runtime-arg");
      runtime_args[n_runtime_args++] = VALUE(a);
    } else die("unsupported option %s", a);
#undef VALUE
  }
  if (!opt_id || !opt_short || !opt_runtime || !opt_bundle || !opt_pidfile || !opt_log || !opt_exit_dir || !opt_socket_dir)
    die("missing one of -c -u -r -b -p -l --exit-dir --socket-dir-path");
  if (!opt_persist_dir) opt_persist_dir = opt_bundle;
}

/* Writes a small file through a temporary name and a rename, so a reader never sees it half-written. */
static int write_file_atomic(const char *path, const char *text) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, getpid()) >= (int)sizeof tmp) { errno = ENAMETOOLONG; return -1; }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) { int e = errno; close(fd); unlink(tmp); errno = e; return -1; }
  close(fd);
  if (rename(tmp, path) < 0) { int e = errno; unlink(tmp); errno = e; return -1; }
  return 0;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* ---- the log ---------------------------------------------------------------------------------- */

static void open_log(void) {
  if (log_fd >= 0) close(log_fd);
  log_fd = open(opt_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (log_fd < 0) { fprintf(stderr, "berth-monitor: opening %s: %s\n", opt_log, strerror(errno)); return; }
  struct stat st;
  log_bytes = fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

/* RFC 3339 with nanoseconds and the local offset, as conmon writes it. */
static int timestamp(char *out, size_t size) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  localtime_r(&ts.tv_sec, &tm);
  long off = tm.tm_gmtoff / 60;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  return snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ld%c%02ld:%02ld", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec, sign, off / 60, off % 60);
}

/* One chunk of output as log records: a record per line (F), the unfinished rest as a partial one (P). */
static void log_output(const char *stream, const char *data, size_t len) {
  static char rec[CHUNK * 2 + 64 * 1024];
  if (log_fd < 0 || len == 0) return;
  char ts[64];
  int tslen = timestamp(ts, sizeof ts);
  size_t at = 0, n = 0;
  while (at < len) {
    const char *nl = memchr(data + at, '\n', len - at);
    size_t linelen = nl ? (size_t)(nl - (data + at)) : len - at;
    size_t need = tslen + strlen(stream) + 4 + linelen + 1;
    if (n + need > sizeof rec) {   /* many short lines: write what is built so far */
      if (write(log_fd, rec, n) > 0) log_bytes += n;
      n = 0;
    }
    n += sprintf(rec + n, "%s %s %c ", ts, stream, nl ? 'F' : 'P');
    memcpy(rec + n, data + at, linelen);
    n += linelen;
    rec[n++] = '\n';
    at += linelen + (nl ? 1 : 0);
  }
  /* A safety cap (the daemon rotates well before it): past it the file starts again. */
  if (opt_log_size_max > 0 && log_bytes + (long long)n > opt_log_size_max) {
    if (ftruncate(log_fd, 0) == 0) log_bytes = 0;
  }
  if (write(log_fd, rec, n) > 0) log_bytes += n;
}

/* ---- attach clients --------------------------------------------------------------------------- */

static void drop_client(int i) {
  close(clients[i]);
  clients[i] = clients[n_clients - 1];
  client_rdclosed[i] = client_rdclosed[n_clients - 1];
  n_clients--;
}

static void send_to_clients(int kind, const char *data, size_t len) {
  char pkt[CHUNK + 1];
  pkt[0] = (char)kind;
  memcpy(pkt + 1, data, len);
  for (int i = 0; i < n_clients; i++) {
    /* Blocking with a timeout: a client that stops reading for seconds is dropped, not waited for. */
    if (send(clients[i], pkt, len + 1, MSG_NOSIGNAL) < 0) { drop_client(i); i--; }
  }
}

static void accept_clients(int listener) {
  for (;;) {
    int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) return;   /* EAGAIN: no more waiting (the listener is non-blocking) */
    if (n_clients == MAX_CLIENTS) { close(c); continue; }
    struct timeval tv = { 5, 0 };
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    clients[n_clients] = c;
    client_rdclosed[n_clients++] = 0;
  }
}

static void close_stdin(void) {
  if (stdin_fd >= 0 && !opt_tty) { close(stdin_fd); stdin_fd = -1; stdin_pending_len = 0; }
}

/* Input from an attach client, for the container's stdin: read only when the last input is written
 * (what the pipe does not take waits for POLLOUT), into a buffer that holds any packet whole. */
static void client_input(int i) {
  ssize_t r = recv(clients[i], stdin_pending, sizeof stdin_pending, MSG_DONTWAIT);
  if (r < 0) { if (errno != EAGAIN && errno != EINTR) drop_client(i); return; }
  if (r == 0) {
    /* The client's stdin ended: close the container's once written, unless it stays open for the next client. */
    client_rdclosed[i] = 1;
    if (!opt_leave_stdin_open) stdin_close_when_written = 1;
    return;
  }
  stdin_pending_len = stdin_fd >= 0 ? (size_t)r : 0;
}

static void flush_stdin(void) {
  while (stdin_fd >= 0 && stdin_pending_len) {
    ssize_t w = write(stdin_fd, stdin_pending, stdin_pending_len);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      close_stdin();   /* the container closed its stdin */
      return;
    }
    memmove(stdin_pending, stdin_pending + w, stdin_pending_len - w);
    stdin_pending_len -= w;
  }
  if (stdin_close_when_written && !stdin_pending_len) close_stdin();
}

/* ---- output ----------------------------------------------------------------------------------- */

/* Reads what is there, at most `rounds` buffers; returns 0 at the end of the stream (or when nothing more will come). */
static int pump(int fd, int kind, int rounds) {
  char buf[CHUNK];
  while (rounds-- > 0) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) return errno == EAGAIN || errno == EINTR ? 1 : 0;   /* EIO: the pty's last holder is gone */
    if (r == 0) return 0;
    log_output(kind == 2 ? "stdout" : "stderr", buf, r);
    send_to_clients(kind, buf, r);
  }
  return 1;
}

/* ---- control FIFO ----------------------------------------------------------------------------- */

static void control(int fd) {
  static char line[256];
  static size_t have;
  ssize_t r = read(fd, line + have, sizeof line - 1 - have);
  if (r <= 0) return;
  have += r;
  for (;;) {
    char *nl = memchr(line, '\n', have);
    if (!nl) { if (have == sizeof line - 1) have = 0; return; }
    *nl = 0;
    int type = 0, a = 0, b = 0;
    if (sscanf(line, "%d %d %d", &type, &a, &b) == 3) {
      if (type == 1 && opt_tty && out_fd >= 0) {
        struct winsize ws = { .ws_row = (unsigned short)a, .ws_col = (unsigned short)b };
        ioctl(out_fd, TIOCSWINSZ, &ws);
      } else if (type == 2) open_log();
    }
    size_t used = nl - line + 1;
    memmove(line, line + used, have - used);
    have -= used;
  }
}

/* ---- OOM -------------------------------------------------------------------------------------- */

/* An eventfd on the v1 memory cgroup's oom_control, or an inotify watch on v2's memory.events. */
static int oom_fd = -1, oom_v2;
static char oom_events_path[4096];

static void watch_oom(pid_t pid) {
  char path[64], line[4096];
  snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
  FILE *f = fopen(path, "re");
  if (!f) return;
  char v1[4096] = "", v2[4096] = "";
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = 0;
    const char *ctrls = c1 + 1, *cg = c2 + 1;
    if (!strcmp(ctrls, "")) snprintf(v2, sizeof v2, "%s", cg);
    else for (char *s = strtok((char *)ctrls, ","); s; s = strtok(NULL, ",")) if (!strcmp(s, "memory")) snprintf(v1, sizeof v1, "%s", cg);
  }
  fclose(f);
  if (v1[0]) {
    char dir[4096 + 64], p[8192];
    snprintf(dir, sizeof dir, "/sys/fs/cgroup/memory%s", v1);
    snprintf(p, sizeof p, "%s/memory.oom_control", dir);
    int oc = open(p, O_RDONLY | O_CLOEXEC);
    snprintf(p, sizeof p, "%s/cgroup.event_control", dir);
    int ec = open(p, O_WRONLY | O_CLOEXEC);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (oc >= 0 && ec >= 0 && efd >= 0 && dprintf(ec, "%d %d", efd, oc) > 0) oom_fd = efd;
    else if (efd >= 0) close(efd);
    if (oc >= 0) close(oc);
    if (ec >= 0) close(ec);
  } else if (v2[0]) {
    snprintf(oom_events_path, sizeof oom_events_path, "/sys/fs/cgroup%s/memory.events", v2);
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in >= 0 && inotify_add_watch(in, oom_events_path, IN_MODIFY) >= 0) { oom_fd = in; oom_v2 = 1; }
    else if (in >= 0) close(in);
  }
}

static void oom_event(void) {
  char buf[4096];
  while (read(oom_fd, buf, sizeof buf) > 0) { /* drained */ }
  if (oom_v2) {
    FILE *f = fopen(oom_events_path, "re");
    long long n = 0;
    int killed = 0;
    if (!f) return;
    while (fscanf(f, "%4095s %lld", buf, &n) == 2) if (!strcmp(buf, "oom_kill") && n > 0) killed = 1;
    fclose(f);
    if (!killed) return;
  }
  char p[4096];
  snprintf(p, sizeof p, "%s/oom", opt_persist_dir);
  int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
}

/* ---- start-up --------------------------------------------------------------------------------- */

static void send_sync(int sync_fd, long long data, const char *message) {
  if (sync_fd < 0) return;
  char out[8192];
  size_t n = snprintf(out, sizeof out, "{\"data\": %lld", data);
  if (message) {
    n += snprintf(out + n, sizeof out - n, ", \"message\": \"");
    for (const unsigned char *m = (const unsigned char *)message; *m && n < sizeof out - 16; m++) {
      /* Braces too are escaped: the daemon finds the object by them. */
      if (*m == '"' || *m == '\\') { out[n++] = '\\'; out[n++] = *m; }
      else if (*m < 0x20 || *m == '{' || *m == '}') n += snprintf(out + n, sizeof out - n, "\\u%04x", *m);
      else out[n++] = *m;
    }
    out[n++] = '"';
  }
  out[n++] = '}';
  out[n++] = '\n';
  if (write(sync_fd, out, n) < 0) { /* the daemon went away: the container runs on */ }
}

/* A unix socket bound in dir (opened O_PATH) through /proc/self/fd: no 108-byte path limit. */
static int listen_in(int dirfd, const char *name, int type) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dirfd, name);
  unlink(sa.sun_path);
  int s = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(sa.sun_path, 0700) < 0 || listen(s, 10) < 0)
    die("socket %s: %s", name, strerror(errno));
  return s;
}

/* The pty master runc sends over the console socket. */
static int receive_master(int listener) {
  int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  char data[4096];
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct iovec iov = { data, sizeof data };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  ssize_t r = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
  close(c);
  struct cmsghdr *cm = r > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (!cm || cm->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}

static int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

int main(int argc, char **argv) {
  parse_args(argc, argv);
  const char *sync_env = getenv("_OCI_SYNCPIPE");
  int sync_fd = sync_env ? atoi(sync_env) : -1;
  if (sync_fd >= 0) fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
  unsetenv("_OCI_SYNCPIPE");
  signal(SIGPIPE, SIG_IGN);
  if (setsid() < 0 && errno != EPERM) { /* already a session leader when started detached */ }
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  char pidtext[32];
  snprintf(pidtext, sizeof pidtext, "%d", getpid());
  if (opt_monitor_pidfile && write_file_atomic(opt_monitor_pidfile, pidtext) < 0) die("writing %s: %s", opt_monitor_pidfile, strerror(errno));

  sigset_t mask, old;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, &old);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd: %s", strerror(errno));

  open_log();

  /* SOCKET_DIR/SHORT is a link to the bundle, where the sockets live (conmon's layout). */
  char link[4096];
  mkdir(opt_socket_dir, 0700);
  snprintf(link, sizeof link, "%s/%s", opt_socket_dir, opt_short);
  unlink(link);
  if (symlink(opt_bundle, link) < 0) die("symlink %s: %s", link, strerror(errno));
  int bundle_fd = open(opt_bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (bundle_fd < 0) die("opening %s: %s", opt_bundle, strerror(errno));
  int attach_listener = listen_in(bundle_fd, "attach", SOCK_SEQPACKET);
  int console_listener = opt_tty ? listen_in(bundle_fd, "console.sock", SOCK_STREAM) : -1;

  char ctl_path[4096];
  snprintf(ctl_path, sizeof ctl_path, "%s/ctl", opt_bundle);
  unlink(ctl_path);
  if (mkfifo(ctl_path, 0660) < 0) die("mkfifo %s: %s", ctl_path, strerror(errno));
  int ctl_fd = open(ctl_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  int ctl_keep = open(ctl_path, O_WRONLY | O_CLOEXEC);   /* a writer of our own: no end-of-file between writers */
  (void)ctl_keep;

  /* The runtime's stdio: the container's pipes (its init inherits them); with a TTY only runc's own. */
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  int in_pipe[2] = { -1, -1 }, out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  if (opt_stdin && !opt_tty && pipe2(in_pipe, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));

  char console_path[128];
  snprintf(console_path, sizeof console_path, "/proc/%d/fd/%d/console.sock", getpid(), bundle_fd);
  const char *rargv[MAX_RUNTIME_ARGS + 12];
  int n = 0;
  rargv[n++] = opt_runtime;
  for (int i = 0; i < n_runtime_args; i++) rargv[n++] = runtime_args[i];
  rargv[n++] = "create"; rargv[n++] = "--bundle"; rargv[n++] = opt_bundle; rargv[n++] = "--pid-file"; rargv[n++] = opt_pidfile;
  if (opt_tty) { rargv[n++] = "--console-socket"; rargv[n++] = console_path; }
  rargv[n++] = opt_id;
  rargv[n] = NULL;

  if (opt_start_gate) {
    /* Opened without blocking, then read blocking: while the daemon holds its end (from before our
     * start) the read waits for its word; once it has let go, the read sees end-of-file. */
    int gate = open(opt_start_gate, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    char go = 0;
    ssize_t r = -1;
    if (gate >= 0 && fcntl(gate, F_SETFL, 0) == 0) { do r = read(gate, &go, 1); while (r < 0 && errno == EINTR); }
    if (gate >= 0) close(gate);
    if (r != 1 || go != 'g') {
      close(attach_listener);
      char attach_path[4096];
      snprintf(attach_path, sizeof attach_path, "%s/attach", opt_bundle);
      unlink(attach_path);
      if (opt_tty) { snprintf(attach_path, sizeof attach_path, "%s/console.sock", opt_bundle); unlink(attach_path); }
      unlink(link);
      unlink(ctl_path);
      if (opt_monitor_pidfile) unlink(opt_monitor_pidfile);
      return 0;
    }
  }

  unlink(opt_pidfile);
  pid_t runtime = fork();
  if (runtime < 0) die("fork: %s", strerror(errno));
  if (runtime == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_DFL);   /* an ignored signal would be inherited through exec */
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (dup2(in_pipe[0] >= 0 ? in_pipe[0] : devnull, 0) < 0 || dup2(out_pipe[1], 1) < 0 || dup2(err_pipe[1], 2) < 0) _exit(127);
    execv(opt_runtime, (char **)rargv);
    dprintf(2, "exec %s: %s\n", opt_runtime, strerror(errno));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (in_pipe[0] >= 0) close(in_pipe[0]);
  stdin_fd = in_pipe[1];
  out_fd = out_pipe[0];
  err_fd = err_pipe[0];
  set_nonblock(out_fd);
  set_nonblock(err_fd);
  if (stdin_fd >= 0) set_nonblock(stdin_fd);

  /* Until the runtime exits: take the pty master when it comes, and any early exit of the container. */
  int runtime_status = -1, master = -1;
  pid_t early_pid[16];
  int early_status[16], n_early = 0;
  while (runtime_status < 0) {
    struct pollfd p[2] = { { sfd, POLLIN, 0 }, { console_listener, POLLIN, 0 } };
    if (poll(p, console_listener >= 0 ? 2 : 1, -1) < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    if (console_listener >= 0 && p[1].revents) {
      master = receive_master(console_listener);
      close(console_listener);
      console_listener = -1;
    }
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) > 0) { /* drained: wait for every child below */ }
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
      if (pid == runtime) runtime_status = st;
      else if (n_early < 16) { early_pid[n_early] = pid; early_status[n_early++] = st; }
    }
  }
  if (console_listener >= 0) close(console_listener);
  char console_sock[4096];
  snprintf(console_sock, sizeof console_sock, "%s/console.sock", opt_bundle);
  if (opt_tty) unlink(console_sock);

  pid_t container = 0;
  FILE *pf = runtime_status == 0 ? fopen(opt_pidfile, "re") : NULL;
  if (pf) { if (fscanf(pf, "%d", &container) != 1) container = 0; fclose(pf); }
  if (runtime_status != 0 || container <= 0 || (opt_tty && master < 0)) {
    char msg[4096] = "";
    size_t m = 0;
    for (int fd = err_fd, round = 0; round < 2; fd = out_fd, round++) {
      ssize_t r;
      while (m < sizeof msg - 1 && (r = read(fd, msg + m, sizeof msg - 1 - m)) > 0) m += r;
    }
    msg[m] = 0;
    if (!m && runtime_status != 0) snprintf(msg, sizeof msg, "%s create exited with status %d", opt_runtime, exit_code_of(runtime_status));
    else if (!m) snprintf(msg, sizeof msg, "%s create gave no %s", opt_runtime, container <= 0 ? "pid" : "terminal");
    send_sync(sync_fd, -1, msg);
    unlink(link);
    unlink(ctl_path);
    return 1;
  }
  send_sync(sync_fd, container, NULL);
  if (sync_fd >= 0) close(sync_fd);

  if (opt_tty) {
    /* runc's own output (warnings) goes to the log as stderr; the container's to the pty. */
    close(out_fd);
    out_fd = master;
    set_nonblock(out_fd);
    if (opt_stdin) stdin_fd = dup(master);
    else stdin_fd = -1;
  }
  watch_oom(container);

  int exited = 0, status = 0;
  for (int i = 0; i < n_early; i++) if (early_pid[i] == container) { exited = 1; status = early_status[i]; }

  while (!exited) {
    struct pollfd p[8 + MAX_CLIENTS];
    int np = 0, i_sig, i_out = -1, i_err = -1, i_listen, i_ctl, i_oom = -1, i_stdin = -1, i_clients;
    p[i_sig = np++] = (struct pollfd){ sfd, POLLIN, 0 };
    if (out_fd >= 0) p[i_out = np++] = (struct pollfd){ out_fd, POLLIN, 0 };
    if (err_fd >= 0) p[i_err = np++] = (struct pollfd){ err_fd, POLLIN, 0 };
    p[i_listen = np++] = (struct pollfd){ attach_listener, POLLIN, 0 };
    p[i_ctl = np++] = (struct pollfd){ ctl_fd, POLLIN, 0 };
    if (oom_fd >= 0) p[i_oom = np++] = (struct pollfd){ oom_fd, POLLIN, 0 };
    if (stdin_fd >= 0 && stdin_pending_len) p[i_stdin = np++] = (struct pollfd){ stdin_fd, POLLOUT, 0 };
    i_clients = np;
    for (int i = 0; i < n_clients; i++)
      p[np++] = (struct pollfd){ clients[i], (short)(client_rdclosed[i] || stdin_pending_len ? 0 : POLLIN), 0 };
    if (poll(p, np, -1) < 0) { if (errno == EINTR) continue; die("poll: %s", strerror(errno)); }

    /* New clients first: one that connected before the output it waits for must get that output. */
    if (p[i_listen].revents) accept_clients(attach_listener);
    if (i_out >= 0 && p[i_out].revents && !pump(out_fd, 2, 16)) { close(out_fd); out_fd = -1; }
    if (i_err >= 0 && p[i_err].revents && !pump(err_fd, 3, 16)) { close(err_fd); err_fd = -1; }
    if (p[i_ctl].revents) control(ctl_fd);
    if (i_oom >= 0 && p[i_oom].revents) oom_event();
    if (i_stdin >= 0 && p[i_stdin].revents) flush_stdin();
    /* Clients last, from the end: dropping one moves the last into its place. */
    for (int k = np - 1; k >= i_clients; k--) {
      int i = k - i_clients;
      if (i >= n_clients || clients[i] != p[k].fd) continue;
      if (p[k].revents & POLLIN) client_input(i);
      else if (p[k].revents & (POLLHUP | POLLERR)) drop_client(i);
    }
    flush_stdin();
    if (p[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) { /* drained */ }
      int st;
      pid_t pid;
      while ((pid = waitpid(-1, &st, WNOHANG)) > 0) if (pid == container) { exited = 1; status = st; }
    }
  }

  /* What the container wrote before it exited is in the pipes still (or the pty's buffer), for the
   * clients too: the daemon connects them before it starts the process, and the monitor may not have
   * accepted them yet when a short-lived process is already gone. */
  accept_clients(attach_listener);
  if (out_fd >= 0) pump(out_fd, 2, 1024);
  if (err_fd >= 0) pump(err_fd, 3, 1024);

  char exit_path[4096], code[16];
  snprintf(exit_path, sizeof exit_path, "%s/%s", opt_exit_dir, opt_id);
  snprintf(code, sizeof code, "%d", exit_code_of(status));
  mkdir(opt_exit_dir, 0700);
  if (write_file_atomic(exit_path, code) < 0) fprintf(stderr, "berth-monitor: writing %s: %s\n", exit_path, strerror(errno));
  while (n_clients) drop_client(0);
  close(attach_listener);
  unlink(link);
  return 0;
}
