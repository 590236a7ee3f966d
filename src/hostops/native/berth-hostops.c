/*
 * berth-hostops: a small long-lived root process that berthd asks for the host operations of a
 * container's start and exit (mount, umount, named network namespaces, veth endpoints) so that
 * none of them costs a process: spawning mount(8) or ip(8) from the daemon costs 3-5 ms each, the
 * syscall itself well under one. It serves one request at a time on stdin and never leaves the host's namespaces
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
 *   mkfifo   PATH...
 *   veth     NETNS HOST PEER BRIDGE MAC MTU CIDR GATEWAY LO REPLACE   a container's endpoint through
 *            rtnetlink (as `ip link add HOST master BRIDGE up type veth peer PEER netns NETNS` and then
 *            `ip -n NETNS` link/addr/route): the host end in BRIDGE with hairpin on, the peer made
 *            inside the namespace at path NETNS with MAC; then in there lo up (LO 1), PEER up, the
 *            address CIDR and, when GATEWAY is not empty, the default route (replaced when REPLACE is 1).
 *            Empty MTU: the default. On a failure the host end (and so the peer) is deleted again.
 *   lo-up    NETNS     loopback up in the namespace at path NETNS
 *   link-del NAME      deletes a host link (ENODEV when there is none)
 *   sealed-copy PATH FD   PATH copied into a memfd sealed against any change (F_SEAL_SEAL, SHRINK,
 *            GROW, WRITE), kept open here as fd FD for others to execute as /proc/PID/fd/FD: runc run
 *            from such a copy skips copying itself at every container start (its CVE-2019-5736
 *            defence; runc's own memfd-bind tool does the same)
 *   spawn    CWD STDERR FD3 ENV ARGV...   starts a long-lived program (conmon) in its own session, not
 *            waited for: stdin/stdout /dev/null, stderr to the file STDERR, fd 3 the FIFO FD3 (whose
 *            reader must be open), ENV newline-separated NAME=VALUE added to the environment
 * Reply, one line: "ID 0\n" or "ID ERRNO message\n" (for veth the message names the failed step);
 * for run "ID =STATUS OUTLEN ERRLEN\n" and then OUTLEN bytes of its stdout and ERRLEN of its
 * stderr (STATUS 128+N when killed by signal N).
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
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
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

/* rtnetlink: the links, addresses and routes of a container's endpoint without an ip(8) process.
 * A request is built in one buffer (header, family struct, attributes) and sent with an ACK asked
 * for; the kernel's answer is an errno. */
union nlreq { struct nlmsghdr aligned; char buf[1024]; };

/* What a multi-step op was doing when it failed, appended to its error reply. */
static const char *step;

static struct nlmsghdr *nl_start(union nlreq *r, int type, int flags, const void *fam, size_t len) {
  struct nlmsghdr *h = (struct nlmsghdr *)r->buf;
  memset(r, 0, sizeof *r);
  h->nlmsg_len = NLMSG_LENGTH(len);
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  memcpy(NLMSG_DATA(h), fam, len);
  return h;
}

/* Appends an attribute (returned, to be closed by nl_end when it nests others). Requests are far below the buffer's size. */
static struct rtattr *nl_attr(struct nlmsghdr *h, int type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static void nl_end(struct nlmsghdr *h, struct rtattr *nest) { nest->rta_len = (char *)h + h->nlmsg_len - (char *)nest; }

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);   /* acks without our request echoed */
  return fd;
}

/* Sends a request and waits for its ACK: 0, or -1 with the kernel's errno. */
static int nl_talk(int fd, struct nlmsghdr *h) {
  static unsigned seq;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  h->nlmsg_seq = ++seq;
  if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -1;
  char reply[8192];
  for (;;) {
    ssize_t r = recv(fd, reply, sizeof reply, 0);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    for (struct nlmsghdr *m = (struct nlmsghdr *)reply; NLMSG_OK(m, r); m = NLMSG_NEXT(m, r)) {
      if (m->nlmsg_seq != h->nlmsg_seq || m->nlmsg_type != NLMSG_ERROR) continue;
      int err = ((struct nlmsgerr *)NLMSG_DATA(m))->error;
      if (!err) return 0;
      errno = -err;
      return -1;
    }
  }
}

static int link_up(int fd, unsigned index) {
  union nlreq r;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
  return nl_talk(fd, nl_start(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi));
}

static int link_del(int fd, const char *name) {
  union nlreq r;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  struct nlmsghdr *h = nl_start(&r, RTM_DELLINK, 0, &ifi, sizeof ifi);
  nl_attr(h, IFLA_IFNAME, name, strlen(name) + 1);
  return nl_talk(fd, h);
}

/* The veth pair HOST (in the bridge, up) and PEER (made right inside the namespace nsfd, with mac). */
static int veth_add(int fd, const char *host, const char *peer, unsigned bridge, unsigned mtu, const unsigned char mac[6], int nsfd) {
  union nlreq r;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP }, peer_ifi = { .ifi_family = AF_UNSPEC };
  struct nlmsghdr *h = nl_start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  nl_attr(h, IFLA_IFNAME, host, strlen(host) + 1);
  nl_attr(h, IFLA_MASTER, &bridge, sizeof bridge);
  if (mtu) nl_attr(h, IFLA_MTU, &mtu, sizeof mtu);
  struct rtattr *info = nl_attr(h, IFLA_LINKINFO, NULL, 0);
  nl_attr(h, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = nl_attr(h, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *p = nl_attr(h, VETH_INFO_PEER, &peer_ifi, sizeof peer_ifi);   /* the peer: an ifinfomsg, then its attributes */
  nl_attr(h, IFLA_IFNAME, peer, strlen(peer) + 1);
  nl_attr(h, IFLA_NET_NS_FD, &nsfd, sizeof nsfd);
  nl_attr(h, IFLA_ADDRESS, mac, 6);
  if (mtu) nl_attr(h, IFLA_MTU, &mtu, sizeof mtu);
  nl_end(h, p);
  nl_end(h, data);
  nl_end(h, info);
  return nl_talk(fd, h);
}

static int addr_add(int fd, unsigned index, struct in_addr addr, unsigned prefix) {
  union nlreq r;
  struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = prefix, .ifa_index = index };
  struct nlmsghdr *h = nl_start(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  nl_attr(h, IFA_LOCAL, &addr, sizeof addr);
  nl_attr(h, IFA_ADDRESS, &addr, sizeof addr);
  return nl_talk(fd, h);
}

static int default_route(int fd, unsigned index, struct in_addr gateway, int replace) {
  union nlreq r;
  struct rtmsg rt = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
                      .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
  struct nlmsghdr *h = nl_start(&r, RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), &rt, sizeof rt);
  nl_attr(h, RTA_GATEWAY, &gateway, sizeof gateway);
  nl_attr(h, RTA_OIF, &index, sizeof index);
  return nl_talk(fd, h);
}

/* A NETLINK_ROUTE socket of the namespace nsfd (a socket keeps the namespace it was made in) and the
 * indexes there of lo and, when named, `link`; the helper itself is back in the host's namespace at once. */
static int netns_socket(int nsfd, const char *link, unsigned *lo, unsigned *index) {
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return -1;
  if (setns(nsfd, CLONE_NEWNET) < 0) { int e = errno; close(home); errno = e; return -1; }
  int fd = nl_open(), e = errno;
  if (fd >= 0 && (!(*lo = if_nametoindex("lo")) || (link && !(*index = if_nametoindex(link))))) { e = errno; close(fd); fd = -1; }
  if (setns(home, CLONE_NEWNET) < 0) {
    fprintf(stderr, "berth-hostops: cannot return to the host network namespace: %s\n", strerror(errno));
    exit(1);
  }
  close(home);
  errno = e;
  return fd;
}

static int valid_ifname(const char *name) { return name[0] && strlen(name) < IFNAMSIZ && !strchr(name, '/'); }

/* The `veth` op; f: NETNS HOST PEER BRIDGE MAC MTU CIDR GATEWAY LO REPLACE. */
static int veth_endpoint(char **f) {
  const char *path = f[0], *host = f[1], *peer = f[2], *bridge_name = f[3], *cidr = f[6], *gw = f[7];
  unsigned char mac[6];
  char addr_text[INET_ADDRSTRLEN], *slash = strchr(cidr, '/'), *end;
  struct in_addr addr, gateway;
  unsigned long prefix = slash ? strtoul(slash + 1, &end, 10) : 0, mtu = strtoul(f[5], NULL, 10);
  step = "parsing the request";
  if (!valid_ifname(host) || !valid_ifname(peer) || !valid_ifname(bridge_name)
      || sscanf(f[4], "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6
      || !slash || slash - cidr >= (long)sizeof addr_text || *end || prefix > 32 || end == slash + 1
      || (gw[0] && inet_pton(AF_INET, gw, &gateway) != 1)) { errno = EINVAL; return -1; }
  memcpy(addr_text, cidr, slash - cidr);
  addr_text[slash - cidr] = 0;
  if (inet_pton(AF_INET, addr_text, &addr) != 1) { errno = EINVAL; return -1; }
  step = "looking up the bridge";
  unsigned bridge = if_nametoindex(bridge_name), lo = 0, index = 0;
  if (!bridge) return -1;
  step = "opening the namespace";
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return -1;
  int fd = nl_open(), nsock = -1, rc = -1, e;
  if (fd < 0) { e = errno; close(nsfd); errno = e; return -1; }
  step = "creating the veth pair";
  if (veth_add(fd, host, peer, bridge, mtu, mac, nsfd) < 0) goto out;
  /* From here on a failure deletes the host end again (the peer goes with it). */
  char hairpin[64 + IFNAMSIZ];
  snprintf(hairpin, sizeof hairpin, "/sys/class/net/%s/brport/hairpin_mode", host);
  step = "setting hairpin mode";
  int hp = open(hairpin, O_WRONLY | O_CLOEXEC);
  if (hp < 0) goto undo;
  if (write(hp, "1", 1) != 1) { e = errno; close(hp); errno = e; goto undo; }
  close(hp);
  step = "entering the namespace";
  if ((nsock = netns_socket(nsfd, peer, &lo, &index)) < 0) goto undo;
  step = "setting lo up";
  if (f[8][0] == '1' && link_up(nsock, lo) < 0) goto undo;
  step = "setting the interface up";
  if (link_up(nsock, index) < 0) goto undo;
  step = "adding the address";
  if (addr_add(nsock, index, addr, prefix) < 0) goto undo;
  step = "adding the default route";
  if (gw[0] && default_route(nsock, index, gateway, f[9][0] == '1') < 0) goto undo;
  rc = 0;
  goto out;
undo:
  e = errno;
  link_del(fd, host);
  errno = e;
out:
  e = errno;
  close(fd);
  close(nsfd);
  if (nsock >= 0) close(nsock);
  errno = e;
  return rc;
}

/* The `lo-up` op. */
static int netns_lo_up(const char *path) {
  unsigned lo = 0;
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return -1;
  int fd = netns_socket(nsfd, NULL, &lo, NULL), rc = fd < 0 ? -1 : link_up(fd, lo), e = errno;
  if (fd >= 0) close(fd);
  close(nsfd);
  errno = e;
  return rc;
}

static int host_link_del(const char *name) {
  if (!valid_ifname(name)) { errno = EINVAL; return -1; }
  int fd = nl_open();
  if (fd < 0) return -1;
  int rc = link_del(fd, name), e = errno;
  close(fd);
  errno = e;
  return rc;
}

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

static int sealed_copy(const char *path, int target) {
  if (target < 10) { errno = EBADF; return -1; }   /* never over stdio or the helper's own */
  int src = open(path, O_RDONLY | O_CLOEXEC);
  if (src < 0) return -1;
  struct stat st;
  int mfd = -1, e;
  if (fstat(src, &st) < 0) goto fail;
  /* MFD_EXEC: kernels with vm.memfd_noexec want executable memfds asked for; older ones refuse the flag. */
  mfd = memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (mfd < 0 && errno == EINVAL) mfd = memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) goto fail;
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = sendfile(mfd, src, NULL, (size_t)(st.st_size - done));
    if (n <= 0) { if (n == 0) errno = EIO; goto fail; }
    done += n;
  }
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) goto fail;
  if (dup3(mfd, target, O_CLOEXEC) < 0) goto fail;
  close(mfd);
  close(src);
  return 0;
fail:
  e = errno;
  if (mfd >= 0) close(mfd);
  close(src);
  errno = e;
  return -1;
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
  if (!strcmp(op, "mkfifo") && n >= 3) {
    for (int i = 2; i < n; i++) if (mkfifo(f[i], 0600) < 0) return -1;
    return 0;
  }
  if (!strcmp(op, "veth") && n == 12) return veth_endpoint(f + 2);
  if (!strcmp(op, "lo-up") && n == 3) return netns_lo_up(f[2]);
  if (!strcmp(op, "link-del") && n == 3) return host_link_del(f[2]);
  if (!strcmp(op, "sealed-copy") && n == 4) return sealed_copy(f[2], (int)strtol(f[3], NULL, 10));
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
      step = NULL;
      if (n > MAX_FIELDS) { errno = E2BIG; rc = -1; }
      else if (n >= 4 && !strcmp(f[1], "run")) {
        f[n] = NULL;
        rc = run_tool(id, f[2], f + 3);
        if (rc == 0) { memmove(buf, buf + used, have - used); have -= used; continue; }
      } else rc = n >= 2 ? serve(f, n) : (errno = EINVAL, -1);
      if (rc == 0) printf("%s 0\n", id);
      else if (step) printf("%s %d %s (%s)\n", id, errno, strerror(errno), step);
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
