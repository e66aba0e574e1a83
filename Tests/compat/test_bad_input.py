"""Bad input over raw sockets: the broker answers or closes that one connection, says why in its log, and goes
on serving everyone else."""
import os
import random
import struct

from wire import api_versions, closed_by_peer, connect, frame, metadata_v1, read_response


def assert_still_serving(broker):
    with connect(broker) as sock:
        sock.sendall(api_versions(4242))
        correlation_id, body = read_response(sock)
        assert correlation_id == 4242
        assert struct.unpack(">h", body[:2])[0] == 0


def test_garbage_closes_only_that_connection(broker):
    bystander = connect(broker)
    rnd = random.Random(1)
    for _ in range(20):
        with connect(broker) as sock:
            junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(8, 400)))
            # A plausible size prefix, then junk: the header or body cannot be read.
            sock.sendall(struct.pack(">i", len(junk)) + junk)
            assert closed_by_peer(sock)
    bystander.sendall(api_versions(1))
    assert read_response(bystander)[0] == 1
    bystander.close()
    assert broker.alive()
    assert "closing connection" in broker.log_text()


def test_two_gibibyte_length_prefix_is_refused_without_waiting_for_the_body(broker):
    with connect(broker) as sock:
        sock.sendall(struct.pack(">i", 0x7FFFFFFF) + b"\x00\x12")
        assert closed_by_peer(sock, timeout=5)
    with connect(broker) as sock:
        sock.sendall(struct.pack(">i", -5))
        assert closed_by_peer(sock, timeout=5)
    assert "exceeds socket.request.max.bytes" in broker.log_text()
    assert_still_serving(broker)


def test_truncated_frames_leave_the_broker_serving(broker):
    for cut in (1, 3, 7, 20):
        with connect(broker) as sock:
            whole = metadata_v1(9, ["x" * 30])
            sock.sendall(whole[:cut])
    # A frame whose size is honest but whose body ends early inside a field.
    with connect(broker) as sock:
        body = struct.pack(">i", 1) + struct.pack(">h", 50) + b"short"
        sock.sendall(frame(3, 1, 10, body))
        assert closed_by_peer(sock)
    assert_still_serving(broker)


def test_unknown_api_key_and_unsupported_version(broker):
    with connect(broker) as sock:
        sock.sendall(frame(999, 0, 1, b""))
        assert closed_by_peer(sock)
    with connect(broker) as sock:
        sock.sendall(frame(0, 99, 2, b""))  # Produce v99
        assert closed_by_peer(sock)
    with connect(broker) as sock:
        # ApiVersions newer than the broker's: answered as v0 with UNSUPPORTED_VERSION (35) and the real ranges.
        sock.sendall(frame(18, 77, 3, b"\x00", client_id="future"))  # header v2: its tagged fields
        correlation_id, body = read_response(sock)
        assert correlation_id == 3
        error, count = struct.unpack(">hi", body[:6])
        assert error == 35
        ranges = {struct.unpack(">hhh", body[6 + 6 * i:12 + 6 * i])[0]: struct.unpack(">hhh", body[6 + 6 * i:12 + 6 * i])[1:]
                  for i in range(count)}
        assert ranges[18] == (0, 3)
        assert 10 in ranges  # FindCoordinator: the classic group protocol is served
        assert 68 not in ranges  # ConsumerGroupHeartbeat: the KIP-848 protocol is not
        # The connection stays usable.
        sock.sendall(api_versions(4))
        assert read_response(sock)[0] == 4
    assert_still_serving(broker)


def test_pipelined_requests_are_answered_in_order(broker):
    with connect(broker) as sock:
        sock.sendall(b"".join(api_versions(100 + i) if i % 2 else metadata_v1(100 + i, []) for i in range(50)))
        assert [read_response(sock)[0] for _ in range(50)] == list(range(100, 150))
