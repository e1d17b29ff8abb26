"""A TLS proxy in front of a ``packyard serve`` for the tests that need HTTPS in a browser.

Packyard serves plain HTTP and is put behind a TLS proxy in production (docs/security.md); this
is the smallest such proxy: it ends TLS with a self-signed certificate for 127.0.0.1 and relays
the bytes to the server unchanged, adding no ``X-Forwarded-*`` header, as a proxy left out of
``PACKYARD_FORWARDED_ALLOW_IPS`` would (the server learns it is on HTTPS from
``PACKYARD_PUBLIC_URL``). Its event loop runs in a thread of its own, away from Playwright's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class TlsProxy:
    """Where the proxy listens, and the server it relays to (set once that has started: the
    server's public URL names the proxy's port)."""

    port: int
    backend_port: int | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@contextlib.contextmanager
def tls_proxy(directory: Path) -> Iterator[TlsProxy]:
    """Serves TLS on 127.0.0.1 in front of the proxy's ``backend_port``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(directory))
    loop = asyncio.new_event_loop()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            assert proxy.backend_port is not None, "the proxy's backend_port is not set"
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                 proxy.backend_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))

    thread = threading.Thread(target=loop.run_forever, name="tls-proxy", daemon=True)
    thread.start()
    # Started from the loop's own thread: Playwright's loop is running in this one.
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(relay, "127.0.0.1", 0, ssl=context), loop).result(timeout=10)
    proxy = TlsProxy(int(server.sockets[0].getsockname()[1]))
    try:
        yield proxy
    finally:
        async def shut() -> None:
            # The browser's kept-alive connections are dropped, not waited for.
            server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
