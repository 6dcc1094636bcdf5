"""Tools of the fault, load and security tests: a loopback TCP proxy that can delay, drop
and cut the traffic to a real server, and a TLS terminator in front of a plain one."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import ssl
import struct
import threading
import time


class TcpProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream`` (host, port), in threads.

    Switches, flipped by the test at any time: ``delay`` (seconds added to every chunk,
    both ways), ``blackhole`` (connections stay open, bytes vanish both ways: a server
    that stopped answering), ``mute_replies`` (requests reach the server, its replies
    vanish: a command runs but its caller times out), ``refuse`` (new connections are
    reset at once); and
    :meth:`cut`, which resets every open connection (both sides see a broken pipe).
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.delay = 0.0
        self.blackhole = False
        self.mute_replies = False
        self.refuse = False
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="proxy", daemon=True)
        self._thread.start()

    def url(self, scheme: str = "redis", auth: str = "", query: str = "") -> str:
        who = f"{auth}@" if auth else ""
        return f"{scheme}://{who}127.0.0.1:{self.port}/0" + (f"?{query}" if query else "")

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._open) // 2

    def cut(self) -> int:
        """Break every open connection; returns how many client connections were cut."""
        with self._lock:
            doomed = list(self._open)
        for sock in doomed:
            _wake(sock)
        self.cuts += 1
        return len(doomed) // 2

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()
        self._thread.join(timeout=5)
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the pumps ----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        while not self._stopped.is_set():
            if not selector.select(timeout=0.1):
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse:
                _reset(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
            server.settimeout(None)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._open.update((client, server))
        pumps = [
            threading.Thread(target=self._pump, args=(src, dst, reply), daemon=True)
            for src, dst, reply in ((client, server, False), (server, client, True))
        ]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        with self._lock:
            self._open.discard(client)
            self._open.discard(server)
        # closed here, once both pumps are done: a socket closed under a thread that
        # still uses it would free its fd for reuse by an unrelated connection
        _reset(client)
        _reset(server)

    def _pump(self, src: socket.socket, dst: socket.socket, reply: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.delay:
                    time.sleep(self.delay)  # the simulated latency itself, not a wait
                if not (self.blackhole or (reply and self.mute_replies)):
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            _wake(src)  # ends the other direction's pump too
            _wake(dst)


def _wake(sock: socket.socket) -> None:
    """Make every use of ``sock`` fail now, and its close send a reset."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a crashed peer or a dropped route would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class TlsTerminator:
    """TLS on 127.0.0.1 in front of a plain server (the embedded server has no TLS):
    a ``rediss://`` client talks TLS to this, which talks plain TCP upstream."""

    def __init__(self, upstream: tuple[str, int], context: ssl.SSLContext) -> None:
        self.upstream = upstream
        self.handshakes = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(context,), name="tls-terminator", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TLS terminator did not start")

    def _run(self, context: ssl.SSLContext) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        )
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
