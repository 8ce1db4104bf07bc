"""A DNS server on a free loopback UDP port that answers A and AAAA questions from a table the
test changes: the peer discovery tests' stand-in for a cluster's DNS (dnspython reads the
questions and writes the answers)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, list[str]] = {}
        self._failing = False
        self.questions = 0
        table = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(table.answer(data), self.client_address)

        self._server = socketserver.UDPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def set(self, name: str, *addresses: str) -> None:
        """``name`` answers ``addresses`` (none: the name does not exist)."""
        with self._lock:
            key = name.lower().rstrip(".") + "."
            if addresses:
                self._records[key] = list(addresses)
            else:
                self._records.pop(key, None)

    def fail(self, failing: bool) -> None:
        """Answer every question SERVFAIL (True) or from the table again (False)."""
        with self._lock:
            self._failing = failing

    def answer(self, data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        response: Any = dns.message.make_response(query)
        (question,) = query.question
        with self._lock:
            self.questions += 1
            addresses = self._records.get(question.name.to_text().lower())
            failing = self._failing
        if failing:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif addresses is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            v6 = question.rdtype == dns.rdatatype.AAAA
            wanted = [a for a in addresses if (":" in a) == v6]
            if wanted and question.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 0, "IN", question.rdtype, wanted)
                )
        wire: bytes = response.to_wire()
        return wire

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@contextmanager
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
