"""A TCP relay between the server under test and a service it calls (KMS, transit), which a
test stops or hangs: the service down or hung, as the server sees it."""

from __future__ import annotations

import contextlib
import socket
import threading


class Relay:
    """A TCP relay to ``target`` (``http://host:port``) whose ``url`` the server under test is
    given: ``stop`` refuses connections (the service down), ``hang`` takes them and never
    answers (a stalled network, a hung load balancer), ``start`` relays again."""

    def __init__(self, target: str, port: int = 0) -> None:
        host, target_port = target.removeprefix("http://").rsplit(":", 1)
        self._target = (host, int(target_port))
        self._listener: socket.socket | None = None
        self._port = port
        self._open: list[socket.socket] = []
        self._hung = False
        self.start()
        self.url = f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        self._hung = False
        if self._listener is None:
            self._listener = socket.create_server(("127.0.0.1", self._port), backlog=64)
            self._port = self._listener.getsockname()[1]
            threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            self._open.append(client)
            if self._hung:
                continue  # taken, never answered
            upstream = socket.create_connection(self._target)
            self._open.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _cut(self) -> None:
        for connection in self._open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self._open = []

    def hang(self) -> None:
        """Connections taken and never answered; the kept-alive ones cut (botocore makes new)."""
        self._hung = True
        self._cut()

    def stop(self) -> None:
        """Down: connections refused, and the kept-alive ones cut."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self._listener.close()
            self._listener = None
        self._cut()
