"""Runs one docker-py scenario against DOCKER_HOST and prints what a user of it would look at, as JSON.

Usage: python3 docker-py-scenarios.py SCENARIO   (Debian's python3-docker: run with /usr/bin/python3)
"""
import io
import json
import sys
import tarfile
import time

import docker

client = docker.from_env(version='auto')


def text(b):
    return b.decode() if isinstance(b, bytes) else b


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_socket(sock):
    out = b''
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return out
        out += chunk


def run_output():
    out = client.containers.run('busybox', ['sh', '-c', 'echo hi; echo er >&2'], remove=True)
    err = client.containers.run('busybox', ['sh', '-c', 'echo hi; echo er >&2'], remove=True, stdout=False, stderr=True)
    try:
        client.containers.run('busybox', ['sh', '-c', 'echo bad >&2; exit 3'], remove=True)
        failed = None
    except docker.errors.ContainerError as e:
        failed = [e.exit_status, text(e.stderr)]
    left = [c.name for c in client.containers.list(all=True)]
    return {'out': text(out), 'err': text(err), 'failed': failed, 'left': left}


def detached():
    c = client.containers.run('busybox', ['sh', '-c', 'echo one; sleep 0.2; echo two'], detach=True, name='py-det', labels={'a': 'b'})
    waited = c.wait()
    c.reload()
    followed = [text(line) for line in c.logs(stream=True, follow=True)]
    result = {'wait': waited, 'logs': text(c.logs()), 'status': c.status, 'followed': followed, 'labels': c.labels,
              'listed': [x.name for x in client.containers.list(all=True, filters={'label': 'a=b'})]}
    c.remove()
    return result


def execs():
    c = client.containers.run('busybox', ['sleep', '60'], detach=True)
    plain = c.exec_run(['sh', '-c', 'echo a; echo b >&2; exit 5'])
    split = c.exec_run(['sh', '-c', 'echo a; echo b >&2'], demux=True)
    env = c.exec_run('env', environment={'X': 'y'}, workdir='/tmp', user='nobody')
    who = c.exec_run(['sh', '-c', 'id -u; pwd'], workdir='/tmp', user='nobody')
    sock = c.exec_run(['cat'], stdin=True, socket=True).output._sock
    sock.sendall(b'through socket')
    sock.shutdown(1)
    raw = read_socket(sock)
    c.remove(force=True)
    return {'plain': [plain.exit_code, sorted(text(plain.output).split())], 'split': [split.exit_code, text(split.output[0]), text(split.output[1])],
            'env': 'X=y' in text(env.output), 'who': text(who.output), 'socket': raw.hex()}


def archive():
    c = client.containers.create('busybox', ['true'])
    ok = c.put_archive('/tmp', tar_of({'f.txt': b'payload'}))
    stream, stat = c.get_archive('/tmp/f.txt')
    got = tarfile.open(fileobj=io.BytesIO(b''.join(stream))).extractfile('f.txt').read()
    changes = c.diff()
    try:
        c.get_archive('/nope')
        missing = None
    except docker.errors.NotFound as e:
        missing = e.status_code
    c.remove()
    return {'put': ok, 'stat': [stat['name'], stat['size']], 'got': text(got), 'diff': changes, 'missing': missing}


def build():
    image, logs = client.images.build(fileobj=io.BytesIO(b'FROM busybox\nLABEL x=y\nRUN echo built > /b\nCMD ["cat", "/b"]\n'), tag='pyb:1', rm=True)
    ctx = tar_of({'Dockerfile': b'FROM busybox\nCOPY a.txt /a.txt\nCMD ["cat", "/a.txt"]\n', 'a.txt': b'from the context\n'})
    with_ctx, _ = client.images.build(fileobj=io.BytesIO(ctx), custom_context=True, tag='pyb:2')
    try:
        client.images.build(fileobj=io.BytesIO(b'FROM busybox\nRUN exit 9\n'), tag='pyb:bad')
        failure = None
    except docker.errors.BuildError as e:
        failure = e.msg
    result = {'tags': image.tags, 'labels': image.labels, 'run': text(client.containers.run('pyb:1', remove=True)),
              'ctx': text(client.containers.run(with_ctx.id, remove=True)), 'streamed': any('Successfully built' in (l.get('stream') or '') for l in logs),
              'failure': failure}
    saved = b''.join(client.images.get('pyb:1').save(named=True))
    client.images.remove('pyb:1')
    result['loaded'] = [i.tags for i in client.images.load(saved)]
    client.images.remove('pyb:1')
    client.images.remove('pyb:2')
    return result


def networks_volumes():
    net = client.networks.create('py-net', labels={'p': 'q'})
    peer = client.containers.run('busybox', ['sleep', '60'], detach=True, network='py-net', name='py-peer')
    ping = client.containers.run('busybox', ['ping', '-c', '1', '-W', '5', 'py-peer'], network='py-net', remove=True)
    net.reload()
    members = [c.name for c in net.containers]
    peer.remove(force=True)
    net.remove()
    vol = client.volumes.create('py-vol', labels={'v': '1'})
    client.containers.run('busybox', ['sh', '-c', 'echo kept > /v/f'], volumes={'py-vol': {'bind': '/v', 'mode': 'rw'}}, remove=True)
    kept = client.containers.run('busybox', ['cat', '/v/f'], volumes=['py-vol:/v:ro'], remove=True)
    vol.remove()
    port = client.containers.run('busybox', ['sleep', '60'], detach=True, ports={'80/tcp': ('127.0.0.1', None)})
    port.reload()
    ports = port.ports
    port.remove(force=True)
    return {'members': members, 'ping': '1 packets received' in text(ping), 'kept': text(kept), 'ports': ports}


def lifecycle():
    c = client.containers.run('busybox', ['sleep', '60'], detach=True, name='py-top')
    top = c.top()
    c.rename('py-top2')
    c.pause()
    c.reload()
    paused = c.status
    c.unpause()
    c.update(mem_limit='64m', memswap_limit='128m')
    c.reload()
    memory = c.attrs['HostConfig']['Memory']
    c.restart(timeout=1)
    c.reload()
    restarted = c.status
    c.stop(timeout=1)
    c.reload()
    code = c.attrs['State']['ExitCode']
    stats = None
    s = client.containers.run('busybox', ['sleep', '60'], detach=True)
    st = s.stats(stream=False)
    stats = [st['memory_stats'].get('usage', 0) > 0, sorted(st['cpu_stats'].keys())]
    s.remove(force=True)
    committed = client.containers.run('busybox', ['sh', '-c', 'echo c > /c'], detach=True)
    committed.wait()
    image = committed.commit('pycommit', 'v1', changes=['CMD ["cat", "/c"]'])
    from_commit = client.containers.run('pycommit:v1', remove=True)
    committed.remove()
    client.images.remove(image.id)
    attach = client.containers.create('busybox', ['cat'], stdin_open=True)
    sock = attach.attach_socket(params={'stdin': 1, 'stdout': 1, 'stream': 1})
    attach.start()
    sock._sock.sendall(b'attached\n')
    sock._sock.shutdown(1)
    attached = read_socket(sock._sock)
    attach.wait()
    attach.remove()
    result = {'titles': top['Titles'], 'name': c.name, 'paused': paused, 'memory': memory, 'restarted': restarted, 'code': code,
              'stats': stats, 'commit': text(from_commit), 'attached': attached.hex()}
    c.remove()
    return result


def errors():
    out = []
    for fn in [lambda: client.containers.get('nope'), lambda: client.images.get('nope:1'), lambda: client.containers.create('nope:1'),
               lambda: client.containers.create('busybox', name='bad name!')]:
        try:
            fn()
            out.append(None)
        except docker.errors.APIError as e:
            out.append([type(e).__name__, e.status_code, e.explanation])
    client.containers.create('busybox', name='py-taken').remove()
    client.containers.create('busybox', name='py-taken')
    try:
        client.containers.create('busybox', name='py-taken')
    except docker.errors.APIError as e:
        out.append([type(e).__name__, e.status_code, e.explanation])
    client.containers.get('py-taken').remove()
    since = int(time.time()) - 60
    events = list(client.events(since=since, until=int(time.time()) + 1, decode=True, filters={'type': 'container', 'event': 'destroy'}))
    return {'errors': out, 'destroyed': sorted({e['Actor']['Attributes'].get('name') for e in events}), 'df': sorted(client.df().keys()), 'ping': client.ping(), 'api': client.version()['ApiVersion']}


if __name__ == '__main__':
    print(json.dumps(globals()[sys.argv[1]]()))
