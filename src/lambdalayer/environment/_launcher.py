"""The launcher of ``lambdalayer invoke``: runs inside the sandbox, never imported.

Started with ``python -I -S`` (the standard library only, valid on every runtime's
Python). The sandbox has no network: the launcher offers the Runtime API, which
lambdalayer serves on a Unix socket mounted into the sandbox, on ``127.0.0.1:PORT`` (the
address ``AWS_LAMBDA_RUNTIME_API`` names), relaying each connection; then it starts the
runtime's bootstrap and ends with its exit status. Started as root by a sandbox that
cannot map users itself, it is told by ``LAMBDALAYER_RUN_AS`` to become that
unprivileged user first (after bringing the loopback interface up, which needs root).

Arguments: the socket's path, the port, then the bootstrap's command line.
"""

import contextlib
import fcntl
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
STARTING = "\x00lambdalayer: the bootstrap starts\n"  # the same in environment.py


def loopback_up() -> None:
    """Bring ``lo`` up in a new network namespace (bubblewrap did already; unshare did not)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            request = struct.pack("16sH", b"lo", 0)
            flags = struct.unpack("16sH", fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
            if not flags & IFF_UP:
                fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
    except OSError:
        pass  # not permitted: it is up already, or the relay will say it cannot listen


PR_SET_PDEATHSIG = 1


def limit_processes() -> None:
    """Lambda's limit on processes and threads, as ``RLIMIT_NPROC``, when the sandbox asks
    (it runs in a user namespace of its own, where the kernel counts only its processes)."""
    maximum = os.environ.pop("LAMBDALAYER_MAX_PROCESSES", "")
    if maximum:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(maximum), int(maximum)))


def drop_privileges() -> None:
    """Become the unprivileged user the sandbox names, when started as root."""
    user = os.environ.pop("LAMBDALAYER_RUN_AS", "")
    if user and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(int(user))
        os.setuid(int(user))
        if os.geteuid() == 0:
            raise SystemExit("could not drop root")
        # The kernel cleared the parent-death signal with the change of user: set it again,
        # so that the sandbox ends with the program that started it (lambdalayer also ends
        # what is left through the sandbox's cgroup, where it has one).
        try:
            import ctypes  # noqa: PLC0415 - here only: a minimal image may lack _ctypes

            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (ImportError, OSError, AttributeError):
            pass


MAX_RELAYED = 64  # connections relayed at once; lambdalayer's server takes fewer still
SEND_SECONDS = 30.0


Peers = dict[socket.socket, socket.socket]  # each relayed end → the other end


def _close(selector: selectors.BaseSelector, peers: Peers, sock: socket.socket) -> None:
    """Close ``sock`` and the connection it is relayed to."""
    for end in (sock, peers.pop(sock, None)):
        if end is None:
            continue
        peers.pop(end, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            selector.unregister(end)
        with contextlib.suppress(OSError):
            end.close()


def _accept(
    listener: socket.socket, socket_path: str, selector: selectors.BaseSelector, peers: Peers
) -> None:
    client, _address = listener.accept()
    if len(peers) >= 2 * MAX_RELAYED:
        client.close()
        return
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
    except OSError:
        client.close()
        upstream.close()
        return
    for end, other in ((client, upstream), (upstream, client)):
        end.setblocking(False)
        peers[end] = other
        selector.register(end, selectors.EVENT_READ)


def relay(listener: socket.socket, socket_path: str) -> None:
    """Relay each connection accepted on ``listener`` to the Unix socket, in this one thread
    (a function that opens thousands of connections makes no thread here either)."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    peers: Peers = {}
    while True:
        for key, _events in selector.select():
            sock = key.fileobj
            if not isinstance(sock, socket.socket):
                continue
            if sock is listener:
                with contextlib.suppress(OSError):
                    _accept(listener, socket_path, selector, peers)
                continue
            other = peers.get(sock)
            try:
                data = sock.recv(65536)
                if not data or other is None:
                    raise ConnectionError
                other.settimeout(SEND_SECONDS)  # blocking, bounded: the other end must read
                other.sendall(data)
                other.setblocking(False)
            except OSError:
                _close(selector, peers, sock)


def main() -> None:
    """Offer the Runtime API on loopback, run the bootstrap, end with its status."""
    socket_path, port, *bootstrap = sys.argv[1:]
    loopback_up()
    limit_processes()
    drop_privileges()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(64)
    threading.Thread(target=relay, args=(listener, socket_path), daemon=True).start()
    # Lambda's Init Duration counts from the runtime's start, not the sandbox's making:
    # this line (never shown) tells lambdalayer when the bootstrap starts.
    sys.stderr.write(STARTING)
    sys.stderr.flush()
    child = subprocess.Popen(bootstrap)
    signal.signal(signal.SIGTERM, lambda *_: child.kill())
    status = child.wait()
    sys.exit(128 - status if status < 0 else status)


if __name__ == "__main__":
    main()
