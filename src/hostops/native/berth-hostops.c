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
 * Reply, one line: "ID 0\n" or "ID ERRNO message\n".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FIELDS 8
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
  errno = EINVAL;
  return -1;
}

int main(void) {
  if (chdir("/") < 0) return 1;
  for (;;) {
    /* One request: fields up to the empty one. */
    char *f[MAX_FIELDS];
    int n = 0;
    size_t pos = 0;
    int complete = 0;
    while (!complete) {
      while (pos < have) {
        char *start = buf + pos;
        char *nul = memchr(start, 0, have - pos);
        if (!nul) break;
        if (nul == start) { complete = 1; pos++; break; }
        if (n < MAX_FIELDS) f[n] = start + 1;   /* past the ':' */
        n++;
        pos = nul - buf + 1;
      }
      if (complete) break;
      if (have == sizeof buf) { fprintf(stderr, "berth-hostops: request too long\n"); return 1; }
      ssize_t r = read(0, buf + have, sizeof buf - have);
      if (r == 0) return 0;   /* the daemon closed its end */
      if (r < 0) { if (errno == EINTR) continue; return 1; }
      have += r;
    }
    const char *id = n > 0 ? f[0] : "?";
    int rc = n >= 2 && n <= MAX_FIELDS ? serve(f, n) : (errno = EINVAL, -1);
    if (rc == 0) printf("%s 0\n", id);
    else printf("%s %d %s\n", id, errno, strerror(errno));
    fflush(stdout);
    memmove(buf, buf + pos, have - pos);
    have -= pos;
  }
}
