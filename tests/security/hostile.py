"""Tools of the attack suite: raw sockets against a gateway process, and its memory."""

from __future__ import annotations

import select
import socket
from dataclasses import dataclass
from pathlib import Path


def rss_bytes(pid: int) -> int:
    """A process's resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass
class Outcome:
    sent: int  # body bytes the server took before it answered or hung up
    status: int | None  # the status it answered with, if it was read
    head: bytes


def _status(reply: bytes) -> int | None:
    parts = reply.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def push_chunked(port: int, path: str, total: int, chunk: int = 1 << 20,
                 headers: dict[str, str] | None = None) -> Outcome:
    """POST a chunked body of `total` bytes, one chunk at a time, stopping as soon as the
    server answers or hangs up; what it took and what it said."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Content-Type: application/json", "Transfer-Encoding: chunked"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    block = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
    sent = 0
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(block)
                sent += chunk
            else:
                sock.sendall(b"0\r\n\r\n")
            sock.settimeout(60)
            reply = sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
    return Outcome(sent, _status(reply), reply.partition(b"\r\n\r\n")[0])


def send_raw(port: int, request: bytes, timeout: float = 30) -> Outcome:
    """Send raw bytes, 64 KiB at a time, stopping as soon as the server answers or hangs
    up; how much it took and the head of its answer."""
    sent = 0
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            while sent < len(request):
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(request[sent:sent + 65536])
                sent += 65536
            while b"\r\n\r\n" not in reply:
                data = sock.recv(65536)
                if not data:
                    break
                reply += data
        except (BrokenPipeError, ConnectionResetError):
            pass
    return Outcome(min(sent, len(request)), _status(reply), reply.partition(b"\r\n\r\n")[0])
