#!/usr/bin/env python3
"""Runs a command in a real pseudo-terminal for tests: JSON lines on stdin ({"write": "..."} or
{"resize": [rows, cols]}) drive it; the terminal's output goes to stdout; the exit code is
printed to stderr as "EXIT <n>" when the command ends."""
import fcntl, json, os, pty, select, signal, struct, sys, termios

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])

def resize(rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)

resize(24, 80)
buf = b''
stdin_open = True
while True:
    fds = [fd] + ([0] if stdin_open else [])
    try:
        r, _, _ = select.select(fds, [], [], 0.1)
    except InterruptedError:
        continue
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            break
        sys.stdout.buffer.write(data); sys.stdout.buffer.flush()
    if 0 in r:
        chunk = os.read(0, 65536)
        if not chunk:
            stdin_open = False
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            if not line.strip():
                continue
            cmd = json.loads(line)
            if 'write' in cmd:
                os.write(fd, cmd['write'].encode())
            if 'resize' in cmd:
                resize(*cmd['resize'])
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
sys.stderr.write('EXIT %d\n' % code); sys.stderr.flush()
sys.exit(0)
