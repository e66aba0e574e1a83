"""Hand-made request frames for the raw-socket tests (Kafka's classic, non-flexible encodings)."""
import socket
import struct

from conftest import recv_exactly


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def frame(api_key, version, correlation_id, body, client_id="raw"):
    header = struct.pack(">hhi", api_key, version, correlation_id) + string(client_id)
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def api_versions(correlation_id, version=0):
    return frame(18, version, correlation_id, b"")


def metadata_v1(correlation_id, topics):
    body = struct.pack(">i", len(topics)) + b"".join(string(t) for t in topics)
    return frame(3, 1, correlation_id, body)


def fetch_v4(correlation_id, topic, partition, offset, max_wait_ms, min_bytes=1):
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, 1 << 20, 0)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, 1 << 20)
    return frame(1, 4, correlation_id, body)


def read_response(sock):
    """(correlation id, body) of the next response, or None when the broker closed the connection."""
    size = recv_exactly(sock, 4)
    if size is None:
        return None
    (n,) = struct.unpack(">i", size)
    data = recv_exactly(sock, n)
    if data is None:
        return None
    return struct.unpack(">i", data[:4])[0], data[4:]


def connect(broker, timeout=10):
    sock = socket.create_connection(("127.0.0.1", broker.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_by_peer(sock, timeout=10):
    """True once the broker has closed the connection (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
