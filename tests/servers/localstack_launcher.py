"""Start LocalStack's runtime (4.13.1) on loopback only, with nothing left outside its TMPDIR.

Run by LocalStack's own interpreter (its separate virtual environment) as a script, with
``python -I`` (tests/servers/localstack.py does that). It imports nothing from mpusweep or the
tests. Before handing over to ``localstack.runtime.main`` it
- makes ``reactor.listenTCP`` listen on 127.0.0.1 when given no interface: LocalStack's
  default (twisted) gateway listens on 0.0.0.0 whatever ``GATEWAY_LISTEN`` says
  (localstack/runtime/server/twisted.py: ``TCP4ServerEndpoint(reactor, port)``, no interface);
- refuses, in this process, any ``bind`` to a non-loopback address and any ``connect`` or
  ``sendto`` to one, so nothing gets out even if a setting were missed (the call raises
  ``PermissionError``; name lookups in libc are not covered, hence the next point);
- answers LocalStack's own DNS question about ``s3.localhost.localstack.cloud``;
- moves S3's fixed storage directory into this server's TMPDIR.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from typing import Any

LOOPBACK = "127.0.0.1"


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX path or abstract name: local by nature
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" (all interfaces), "0.0.0.0" or a name to resolve: refuse


def _fenced(name: str) -> Any:
    original = getattr(socket.socket, name)

    def call(self: socket.socket, *args: Any) -> Any:
        address = args[-1]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise PermissionError(f"mpusweep test launcher: {name}({address!r}) is not loopback")
        return original(self, *args)

    return call


def fence_sockets() -> None:
    for name in ("bind", "connect", "connect_ex", "sendto"):
        setattr(socket.socket, name, _fenced(name))


def listen_on_loopback() -> None:
    from twisted.internet import reactor

    listen_tcp = reactor.listenTCP

    def listen(port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        return listen_tcp(port, factory, backlog, interface or LOOPBACK)

    reactor.listenTCP = listen


def skip_s3_hostname_lookup() -> None:
    """LocalStack's internal S3 clients ask DNS whether ``s3.localhost.localstack.cloud``
    resolves (``aws_stack.get_s3_hostname``, through libc: the fence above cannot see it) and
    use ``localhost`` when it does not. Give that answer without asking."""
    from localstack.utils.aws import aws_stack

    aws_stack.CACHE_S3_HOSTNAME_DNS_STATUS = False


def keep_s3_storage_in_tmpdir() -> None:
    """S3 keeps parts and objects in a fixed /tmp/localstack-s3-storage (its provider's
    ``DEFAULT_S3_TMP_DIR``), shared by every instance on the machine and left behind: put it in
    this server's own ``TMPDIR``, which the tests remove."""
    from localstack.services.s3 import provider

    provider.DEFAULT_S3_TMP_DIR = os.path.join(tempfile.gettempdir(), "localstack-s3-storage")


def main() -> None:
    fence_sockets()
    listen_on_loopback()
    skip_s3_hostname_lookup()
    keep_s3_storage_in_tmpdir()
    from localstack.runtime.main import main as localstack_main

    localstack_main()


if __name__ == "__main__":
    main()
