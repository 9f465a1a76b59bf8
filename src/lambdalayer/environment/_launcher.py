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


def pump(source: socket.socket, destination: socket.socket) -> None:
    """Copy one direction of a relayed connection until it closes."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            destination.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, destination):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def relay(listener: socket.socket, socket_path: str) -> None:
    """Accept on ``listener`` forever, each connection relayed to the Unix socket."""
    while True:
        client, _address = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(socket_path)
        except OSError:
            client.close()
            continue
        for source, destination in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, destination), daemon=True).start()


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
