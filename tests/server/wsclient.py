"""A minimal RFC 6455 WebSocket client for rserver's tests (standard library only).

    ws = WebSocket()
    status = ws.connect("ws://127.0.0.1:8787/s/<id>/console",
                        {"Cookie": "user-id=...", "Origin": "http://127.0.0.1:8787"})
    if status == 101:
        ws.send_json({"type": "input", "text": "1+1\\n"})
        msg = ws.recv_json(timeout=10)   # a dict, or None when nothing came in time
        ws.close()

connect() returns the HTTP status of the handshake, so that a refused upgrade
(403, 401, ...) can be asserted; anything but 101 leaves the socket closed,
with the response's headers in .headers and its body in .body. A connection
closed before any status line gives 0 (.error says why). wss:// uses TLS with
certificate verification off (the tests' certificates are throwaway
self-signed ones).

Frames sent are masked, as RFC 6455 requires of clients. recv_json()
reassembles fragmented messages, answers pings with pongs, skips pongs, and on
a close frame answers it and raises Closed (also raised when the connection
drops without one: code 1006). A timeout never loses data: partly received
frames stay buffered for the next call.

For many sockets at once: select() on fileno(), then recv_json_nowait()
until None (it also returns messages already buffered).
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time
import urllib.parse

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD = 64 * 1024

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    """The WebSocket is closed: by a close frame (its code and reason) or a
    dropped connection (code 1006)."""

    def __init__(self, code=None, reason=""):
        super().__init__("websocket closed: code %s%s" % (code, (", " + reason) if reason else ""))
        self.code = code
        self.reason = reason


class ProtocolError(Exception):
    """The server broke RFC 6455 (bad accept key, masked or malformed frame)."""


def _mask(key, data):
    n = len(data)
    if n == 0:
        return b""
    m = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def insecure_context():
    """A TLS client context that accepts any certificate (throwaway test certs)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class WebSocket:
    def __init__(self):
        self.sock = None
        self.status = 0
        self.reason = ""
        self.headers = {}  # response headers, lower-case names (last value wins)
        self.body = b""  # body of a refused handshake
        self.error = ""  # why the status is 0
        self.close_code = None
        self.close_reason = ""
        self._buf = bytearray()
        self._frag_op = None
        self._frag = bytearray()
        self._close_sent = False

    # ---- handshake ----

    def connect(self, url, headers=None, timeout=10.0, subprotocols=None, source_address=None):
        """Opens the connection and sends the upgrade request with the extra
        headers (a dict). Returns the response's HTTP status. source_address
        (a host string, or a (host, port) pair) binds the client socket
        before connecting, e.g. to spread many connections over
        127.0.0.1..127.0.0.4 past a server's per-address limit."""
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("ws", "wss"):
            raise ValueError("not a ws:// or wss:// URL: %s" % url)
        secure = u.scheme == "wss"
        host = u.hostname
        port = u.port or (443 if secure else 80)
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        deadline = time.monotonic() + timeout
        if isinstance(source_address, str):
            source_address = (source_address, 0)
        sock = socket.create_connection((host, port), timeout=timeout, source_address=source_address)
        try:
            if secure:
                sock = insecure_context().wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode()
            default_port = 443 if secure else 80
            hostport = host if port == default_port else "%s:%d" % (host, port)
            if ":" in host:
                hostport = "[%s]" % host if port == default_port else "[%s]:%d" % (host, port)
            lines = [
                "GET %s HTTP/1.1" % path,
                "Host: %s" % hostport,
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: %s" % key,
                "Sec-WebSocket-Version: 13",
            ]
            if subprotocols:
                lines.append("Sec-WebSocket-Protocol: %s" % ", ".join(subprotocols))
            for k, v in (headers or {}).items():
                lines.append("%s: %s" % (k, v))
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

            buf = bytearray()
            try:
                while b"\r\n\r\n" not in buf:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.error = "no handshake response within %.1f s" % timeout
                        sock.close()
                        return 0
                    sock.settimeout(left)
                    data = sock.recv(65536)
                    if not data:
                        self.error = "connection closed before a response (%d bytes)" % len(buf)
                        sock.close()
                        return 0
                    buf += data
                    if len(buf) > _MAX_HEAD and b"\r\n\r\n" not in buf:
                        self.error = "response head over %d bytes" % _MAX_HEAD
                        sock.close()
                        return 0
            except (OSError, ssl.SSLError) as e:
                self.error = "reading the response: %s" % e
                sock.close()
                return 0
            head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            try:
                self.status = int(parts[1])
            except (IndexError, ValueError):
                self.error = "bad status line: %r" % lines[0]
                sock.close()
                return 0
            self.reason = parts[2] if len(parts) > 2 else ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()

            if self.status != 101:
                self.body = rest
                n = self.headers.get("content-length")
                try:
                    while n is not None and len(self.body) < int(n) and time.monotonic() < deadline:
                        sock.settimeout(max(0.1, deadline - time.monotonic()))
                        data = sock.recv(65536)
                        if not data:
                            break
                        self.body += data
                except (OSError, ValueError, ssl.SSLError):
                    pass
                sock.close()
                return self.status

            want = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
            if self.headers.get("sec-websocket-accept") != want:
                sock.close()
                raise ProtocolError("Sec-WebSocket-Accept %r, want %r" % (self.headers.get("sec-websocket-accept"), want))
            if self.headers.get("upgrade", "").lower() != "websocket":
                sock.close()
                raise ProtocolError("101 without Upgrade: websocket (%r)" % self.headers.get("upgrade"))
            self.sock = sock
            self._buf = bytearray(rest)
            return 101
        except BaseException:
            if self.sock is None:
                try:
                    sock.close()
                except OSError:
                    pass
            raise

    @property
    def open(self):
        return self.sock is not None

    def fileno(self):
        """The socket's descriptor (for select()), or -1 when closed."""
        return self.sock.fileno() if self.sock is not None else -1

    # ---- sending ----

    def _send_frame(self, opcode, payload, fin=True):
        if self.sock is None:
            raise Closed(self.close_code, "not open")
        n = len(payload)
        b0 = (0x80 if fin else 0) | opcode
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        key = os.urandom(4)
        self.sock.settimeout(10)
        try:
            self.sock.sendall(head + key + _mask(key, payload))
        except (OSError, ssl.SSLError) as e:
            self._drop()
            raise Closed(1006, "send failed: %s" % e)

    def send_text(self, text):
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def ping(self, payload=b""):
        self._send_frame(OP_PING, payload)

    # ---- receiving ----

    def _drop(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def _parse(self):
        """One whole frame off the buffer: (fin, opcode, payload), or None."""
        b = self._buf
        if len(b) < 2:
            return None
        b0, b1 = b[0], b[1]
        fin, opcode, n, off = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F, 2
        if b0 & 0x70:
            raise ProtocolError("RSV bits set without an extension (first byte 0x%02x)" % b0)
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack_from("!H", b, 2)[0]
            off = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack_from("!Q", b, 2)[0]
            off = 10
        key = None
        if b1 & 0x80:
            if len(b) < off + 4:
                return None
            key = bytes(b[off:off + 4])
            off += 4
        if len(b) < off + n:
            return None
        payload = bytes(b[off:off + n])
        del b[:off + n]
        if key is not None:
            # RFC 6455 5.1: a server must not mask its frames.
            raise ProtocolError("server sent a masked frame")
        return fin, opcode, payload

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError
        except (OSError, ssl.SSLError) as e:
            self._drop()
            self.close_code = 1006
            raise Closed(1006, "connection error: %s" % e)
        if not data:
            self._drop()
            self.close_code = 1006
            raise Closed(1006, "connection closed without a close frame")
        self._buf += data

    def recv_message(self, timeout=10.0):
        """The next whole data message as (opcode, payload bytes), or None
        when none is complete within timeout. Raises Closed."""
        if self.sock is None:
            raise Closed(self.close_code, self.close_reason or "not open")
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() >= deadline:
                return None  # a stream of control frames must not hold us past the deadline
            frame = self._parse()
            if frame is None:
                try:
                    self._fill(deadline)
                except TimeoutError:
                    return None
                continue
            m = self._frame_message(*frame)
            if m is not None:
                return m

    def recv_message_nowait(self):
        """Like recv_message(), without waiting: the next whole data message
        already buffered or readable at once, else None. For a reader of
        many sockets with select(): call until None after each wake-up
        (several messages may have come in one read). Raises Closed."""
        if self.sock is None:
            raise Closed(self.close_code, self.close_reason or "not open")
        while True:
            frame = self._parse()
            if frame is None:
                self.sock.settimeout(0)
                try:
                    data = self.sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError, socket.timeout):
                    return None
                except (OSError, ssl.SSLError) as e:
                    self._drop()
                    self.close_code = 1006
                    raise Closed(1006, "connection error: %s" % e)
                if not data:
                    self._drop()
                    self.close_code = 1006
                    raise Closed(1006, "connection closed without a close frame")
                self._buf += data
                continue
            m = self._frame_message(*frame)
            if m is not None:
                return m

    def _frame_message(self, fin, opcode, payload):
        """One frame's handling, for both receivers: a whole data message or
        None (control frames answered, fragments kept)."""
        if opcode == OP_PING:
            self._send_frame(OP_PONG, payload)
        elif opcode == OP_PONG:
            pass
        elif opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            reason = payload[2:].decode("utf-8", "replace")
            self.close_code, self.close_reason = code, reason
            if not self._close_sent:
                try:
                    self._close_sent = True
                    self._send_frame(OP_CLOSE, payload[:2])
                except Closed:
                    pass
            self._drop()
            raise Closed(code, reason)
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._frag_op is not None:
                raise ProtocolError("new data frame inside a fragmented message")
            if fin:
                return opcode, payload
            self._frag_op, self._frag = opcode, bytearray(payload)
        elif opcode == OP_CONT:
            if self._frag_op is None:
                raise ProtocolError("continuation frame without a message")
            self._frag += payload
            if fin:
                op, data = self._frag_op, bytes(self._frag)
                self._frag_op, self._frag = None, bytearray()
                return op, data
        else:
            raise ProtocolError("unknown opcode 0x%x" % opcode)
        return None

    def recv_json_nowait(self):
        """recv_message_nowait() parsed as JSON, or None. Raises Closed."""
        m = self.recv_message_nowait()
        if m is None:
            return None
        return json.loads(m[1].decode("utf-8"))

    def recv_json(self, timeout=10.0):
        """The next message parsed as JSON, or None on timeout. Raises Closed."""
        m = self.recv_message(timeout)
        if m is None:
            return None
        return json.loads(m[1].decode("utf-8"))

    def abort(self):
        """Closes the socket at once, without a close frame (a browser tab
        killed): for benchmarks that hold and drop many connections."""
        self._drop()

    def close(self, code=1000, wait=2.0):
        """Sends a close frame, waits briefly for the server's, closes the socket."""
        if self.sock is None:
            return
        try:
            if not self._close_sent:
                self._close_sent = True
                self._send_frame(OP_CLOSE, struct.pack("!H", code))
            deadline = time.monotonic() + wait
            while self.sock is not None and time.monotonic() < deadline:
                if self.recv_message(max(0.01, deadline - time.monotonic())) is None:
                    break
        except (Closed, ProtocolError, OSError, ValueError):
            pass
        self._drop()
