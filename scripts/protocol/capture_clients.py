#!/usr/bin/env python3
"""Records the request frames that real Kafka clients send, as golden vectors for SamsaProtocol's tests.

A small fake broker listens on 127.0.0.1 and answers (with kafka-python's encoders) just enough for each
client to go on to its next request: ApiVersions (listing Samsa's supported ranges), Metadata (one broker:
itself; topic "golden", one partition it leads), FindCoordinator, CreateTopics, InitProducerId, Produce,
ListOffsets, Fetch (empty), JoinGroup/SyncGroup/Heartbeat/OffsetFetch/OffsetCommit/LeaveGroup. Each client
runs in a subprocess with a time limit; every frame it sends is kept, and the first frame of each
(client, api key, version) is written to Tests/SamsaProtocolTests/Golden/ClientCaptures.swift.

    /tmp/venvtest/bin/python scripts/protocol/capture_clients.py   # needs kcat, confluent-kafka, kafka-python, aiokafka

Nothing leaves loopback.
"""
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

from kafka.protocol.admin import CreateTopicsResponse
from kafka.protocol.consumer import FetchResponse, ListOffsetsResponse
from kafka.protocol.consumer.group import (HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse,
                                           OffsetCommitResponse, OffsetFetchResponse, SyncGroupResponse)
from kafka.protocol.metadata import ApiVersionsResponse, FindCoordinatorResponse, MetadataResponse
from kafka.protocol.producer import InitProducerIdResponse, ProduceResponse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema")
OUT = os.path.join(ROOT, "Tests", "SamsaProtocolTests", "Golden", "ClientCaptures.swift")
PY = sys.executable
TOPIC = "golden"


def supported():
    """{api key: (min, max)} from our schema headers."""
    out = {}
    for name in sorted(os.listdir(SCHEMA)):
        if name.endswith(".schema"):
            w = open(os.path.join(SCHEMA, name)).readline().split()
            lo, _, hi = w[5].partition("-")
            out[int(w[3])] = (int(lo), int(hi or lo))
    return out


SUPPORTED = supported()


class FakeBroker:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.frames = []  # (api key, version, frame bytes without size)
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def take(self):
        with self.lock:
            frames, self.frames = self.frames, []
        return frames

    def accept(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            while True:
                size = self.read_exact(conn, 4)
                if size is None:
                    return
                frame = self.read_exact(conn, struct.unpack(">i", size)[0])
                if frame is None:
                    return
                key, version, corr = struct.unpack(">hhi", frame[:8])
                with self.lock:
                    self.frames.append((key, version, frame))
                reply = self.respond(key, version, corr, frame)
                if reply is not None:
                    conn.sendall(reply)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def read_exact(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def respond(self, key, version, corr, frame):
        msg = self.response(key, version, frame)
        if msg is None:
            return None
        msg.with_header(correlation_id=corr)
        return msg.encode(header=True, framed=True)  # the version was given at construction

    def response(self, key, version, frame):
        port = self.port
        if key == 18:  # ApiVersions
            error = 0
            if version > SUPPORTED[18][1]:  # as Kafka does: answer v0, UNSUPPORTED_VERSION, with the ranges
                version, error = 0, 35
            R = ApiVersionsResponse
            return R(version=version, error_code=error, throttle_time_ms=0, api_keys=[
                R.ApiVersion(api_key=k, min_version=lo, max_version=hi) for k, (lo, hi) in sorted(SUPPORTED.items())])
        if key == 3:  # Metadata
            R = MetadataResponse
            part = R.MetadataResponseTopic.MetadataResponsePartition(
                error_code=0, partition_index=0, leader_id=0, leader_epoch=0, replica_nodes=[0], isr_nodes=[0],
                offline_replicas=[])
            return R(version=version, throttle_time_ms=0, cluster_id="golden-cluster", controller_id=0,
                     brokers=[R.MetadataResponseBroker(node_id=0, host="127.0.0.1", port=port, rack=None)],
                     topics=[R.MetadataResponseTopic(error_code=0, name=TOPIC, is_internal=False, partitions=[part])])
        if key == 10:  # FindCoordinator
            R = FindCoordinatorResponse
            if version >= 4:
                return R(version=version, throttle_time_ms=0, coordinators=[
                    R.Coordinator(key="g", node_id=0, host="127.0.0.1", port=port, error_code=0, error_message=None)])
            return R(version=version, throttle_time_ms=0, error_code=0, error_message=None, node_id=0,
                     host="127.0.0.1", port=port)
        if key == 19:  # CreateTopics
            R = CreateTopicsResponse
            return R(version=version, throttle_time_ms=0, topics=[
                R.CreatableTopicResult(name="created", error_code=0, error_message=None, num_partitions=1,
                                       replication_factor=1, configs=None)])
        if key == 22:  # InitProducerId
            return InitProducerIdResponse(version=version, throttle_time_ms=0, error_code=0, producer_id=1000,
                                          producer_epoch=0)
        if key == 0:  # Produce
            R = ProduceResponse
            return R(version=version, throttle_time_ms=0, responses=[R.TopicProduceResponse(name=TOPIC, partition_responses=[
                R.TopicProduceResponse.PartitionProduceResponse(index=0, error_code=0, base_offset=0, log_append_time_ms=-1,
                                                                 log_start_offset=0, record_errors=[], error_message=None)])])
        if key == 2:  # ListOffsets
            R = ListOffsetsResponse
            return R(version=version, throttle_time_ms=0, topics=[R.ListOffsetsTopicResponse(name=TOPIC, partitions=[
                R.ListOffsetsTopicResponse.ListOffsetsPartitionResponse(partition_index=0, error_code=0, timestamp=-1,
                                                                         offset=0, leader_epoch=0)])])
        if key == 1:  # Fetch: nothing yet
            time.sleep(0.2)
            R = FetchResponse
            return R(version=version, throttle_time_ms=0, error_code=0, session_id=0, responses=[
                R.FetchableTopicResponse(topic=TOPIC, partitions=[R.FetchableTopicResponse.PartitionData(
                    partition_index=0, error_code=0, high_watermark=0, last_stable_offset=0, log_start_offset=0,
                    aborted_transactions=None, preferred_read_replica=-1, records=b"")])])
        if key == 11:  # JoinGroup: the member leads a group of one
            from kafka.protocol.api_message import ApiMessage  # noqa: F401
            R = JoinGroupResponse
            return R(version=version, throttle_time_ms=0, error_code=0, generation_id=1, protocol_type="consumer",
                     protocol_name="range", leader="m-1", skip_assignment=False, member_id="m-1",
                     members=[R.JoinGroupResponseMember(member_id="m-1", group_instance_id=None, metadata=b"")])
        if key == 14:  # SyncGroup: an empty assignment
            return SyncGroupResponse(version=version, throttle_time_ms=0, error_code=0, protocol_type="consumer",
                                     protocol_name="range", assignment=b"")
        if key == 12:
            return HeartbeatResponse(version=version, throttle_time_ms=0, error_code=0)
        if key == 13:
            return LeaveGroupResponse(version=version, throttle_time_ms=0, error_code=0, members=[])
        if key == 9:
            R = OffsetFetchResponse
            return R(version=version, throttle_time_ms=0, topics=[], error_code=0, groups=[])
        if key == 8:
            return OffsetCommitResponse(version=version, throttle_time_ms=0, topics=[])
        return None  # unknown: the client times out, which is fine here


CLIENTS = {
    "kcat-metadata": lambda port: ["kcat", "-L", "-b", f"127.0.0.1:{port}", "-m", "3"],
    "confluent-producer": lambda port: [PY, "-c", textwrap.dedent(f"""
        from confluent_kafka import Producer
        p = Producer({{'bootstrap.servers': '127.0.0.1:{port}', 'linger.ms': 0, 'compression.type': 'none',
                       'enable.idempotence': True, 'acks': 'all'}})
        p.produce('{TOPIC}', key=b'k1', value=b'hello')
        p.produce('{TOPIC}', key=b'k2', value=b'world', headers=[('h', b'v')])
        p.flush(5)""")],
    "confluent-admin": lambda port: [PY, "-c", textwrap.dedent(f"""
        from confluent_kafka.admin import AdminClient, NewTopic
        a = AdminClient({{'bootstrap.servers': '127.0.0.1:{port}'}})
        fs = a.create_topics([NewTopic('created', num_partitions=3, replication_factor=1, config={{'cleanup.policy': 'compact'}})])
        for f in fs.values():
            try: f.result(5)
            except Exception as e: print(e)""")],
    "confluent-consumer": lambda port: [PY, "-c", textwrap.dedent(f"""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({{'bootstrap.servers': '127.0.0.1:{port}', 'group.id': 'golden-group', 'enable.auto.commit': False}})
        c.assign([TopicPartition('{TOPIC}', 0, 0)])
        c.poll(2)
        c.close()""")],
    "confluent-group": lambda port: [PY, "-c", textwrap.dedent(f"""
        from confluent_kafka import Consumer
        c = Consumer({{'bootstrap.servers': '127.0.0.1:{port}', 'group.id': 'golden-group', 'session.timeout.ms': 6000}})
        c.subscribe(['{TOPIC}'])
        c.poll(3)""")],
    "kafka-python-producer": lambda port: [PY, "-c", textwrap.dedent(f"""
        from kafka import KafkaProducer
        p = KafkaProducer(bootstrap_servers='127.0.0.1:{port}', linger_ms=0, acks='all')
        p.send('{TOPIC}', key=b'k1', value=b'hello').get(timeout=5)
        p.close(2)""")],
    "kafka-python-group": lambda port: [PY, "-c", textwrap.dedent(f"""
        from kafka import KafkaConsumer
        c = KafkaConsumer('{TOPIC}', bootstrap_servers='127.0.0.1:{port}', group_id='golden-group',
                          consumer_timeout_ms=2000, enable_auto_commit=False)
        for _ in c: pass
        c.close()""")],
    "aiokafka-producer": lambda port: [PY, "-c", textwrap.dedent(f"""
        import asyncio
        from aiokafka import AIOKafkaProducer
        async def main():
            p = AIOKafkaProducer(bootstrap_servers='127.0.0.1:{port}', linger_ms=0, acks='all')
            await p.start()
            try: await asyncio.wait_for(p.send_and_wait('{TOPIC}', b'hello', key=b'k1'), 5)
            finally: await p.stop()
        asyncio.run(main())""")],
    "aiokafka-consumer": lambda port: [PY, "-c", textwrap.dedent(f"""
        import asyncio
        from aiokafka import AIOKafkaConsumer, TopicPartition
        async def main():
            c = AIOKafkaConsumer(bootstrap_servers='127.0.0.1:{port}', enable_auto_commit=False)
            await c.start()
            tp = TopicPartition('{TOPIC}', 0)
            c.assign([tp]); c.seek(tp, 0)
            try: await c.getmany(timeout_ms=1500)
            finally: await c.stop()
        asyncio.run(main())""")],
}

API_NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
             10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
             18: "ApiVersions", 19: "CreateTopics", 22: "InitProducerId"}


def client_versions():
    import aiokafka
    import confluent_kafka
    import kafka
    return {"confluent": f"confluent-kafka {confluent_kafka.__version__} / librdkafka {confluent_kafka.libversion()[0]}",
            "kafka-python": f"kafka-python {kafka.__version__}", "aiokafka": f"aiokafka {aiokafka.__version__}",
            "kcat": "kcat " + next(line for line in subprocess.run(["kcat", "-V"], capture_output=True, text=True)
                                   .stdout.splitlines() if line.startswith("Version")).split(" builtin")[0][8:]}


def main():
    broker = FakeBroker()
    kept = []
    for label, command in CLIENTS.items():
        proc = subprocess.Popen(command(broker.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=12)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        time.sleep(0.3)
        seen = set()
        for key, version, frame in broker.take():
            if (key, version) in seen or key not in SUPPORTED:
                continue
            seen.add((key, version))
            kept.append((label, API_NAMES.get(key, str(key)), key, version, frame))
        print(f"{label}: " + ", ".join(f"{API_NAMES.get(k, k)} v{v}" for k, v in sorted(seen)))
    versions = client_versions()
    lines = [
        "// Generated by scripts/protocol/capture_clients.py. Do not edit.",
        "// Provenance: request frames (without their 4-byte size) that real clients sent to a fake broker on",
        "// 127.0.0.1, captured " + time.strftime("%Y-%m-%d") + " with:",
    ] + [f"//   {v}" for v in versions.values()] + [
        "",
        "struct ClientCapture: Sendable, CustomStringConvertible {",
        "    let client: String",
        "    let api: String",
        "    let apiKey: Int16",
        "    let version: Int16",
        "    let hex: String",
        '    var description: String { "\\(client) \\(api) v\\(version)" }',
        "}",
        "",
        "let clientCaptures: [ClientCapture] = [",
    ]
    for label, api, key, version, frame in kept:
        lines.append(f'    ClientCapture(client: "{label}", api: "{api}", apiKey: {key}, version: {version},')
        lines.append(f'        hex: "{frame.hex()}"),')
    lines.append("]")
    with open(OUT, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"{len(kept)} frames -> {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
