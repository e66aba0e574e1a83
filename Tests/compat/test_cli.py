"""`samsa server-start`: one clear line and a non-zero exit on bad configuration; warnings for unknown keys."""
import socket
import subprocess


def run(samsa_bin, *args, timeout=20):
    return subprocess.run([samsa_bin, "server-start", *args], capture_output=True, text=True, timeout=timeout)


def test_bad_value_stops_start_up_naming_the_key(samsa_bin, tmp_path):
    done = run(samsa_bin, "--override", f"log.dirs={tmp_path}", "--override", "num.partitions=zero")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["samsa server-start: invalid value 'zero' for num.partitions: expected an integer in 1...2147483647"]


def test_missing_file_is_one_line(samsa_bin, tmp_path):
    done = run(samsa_bin, str(tmp_path / "absent.properties"))
    assert done.returncode != 0
    assert "absent.properties" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_port_in_use_is_one_line(samsa_bin, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = run(samsa_bin, "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}", "--override", f"log.dirs={tmp_path}")
    assert done.returncode != 0
    assert f"cannot listen on PLAINTEXT://127.0.0.1:{port}: Address already in use" in done.stderr


def test_kafka_server_properties_start_with_warnings_only(samsa_bin, make_broker, tmp_path):
    # A file as Kafka ships it (ZooKeeper-era keys included) starts; unknown keys are warned about.
    props = tmp_path / "server.properties"
    props.write_text(
        "broker.id=1\nnum.network.threads=3\nnum.io.threads=8\nsocket.send.buffer.bytes=102400\n"
        "socket.receive.buffer.bytes=102400\nsocket.request.max.bytes=104857600\nnum.partitions=1\n"
        "num.recovery.threads.per.data.dir=1\noffsets.topic.replication.factor=1\n"
        "transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\nlog.retention.hours=168\n"
        "log.retention.check.interval.ms=300000\nzookeeper.connect=localhost:2181\n"
        "zookeeper.connection.timeout.ms=18000\ngroup.initial.rebalance.delay.ms=0\nsome.plugin.setting=on\n")
    proc = subprocess.Popen([samsa_bin, "server-start", str(props), "--override", "listeners=PLAINTEXT://127.0.0.1:0",
                             "--override", f"log.dirs={tmp_path / 'data'}"], stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "listening on" in line:
                break
        text = "".join(seen)
        assert "unknown configuration key 'some.plugin.setting'" in text
        assert "zookeeper.connect" in text  # reported as accepted without effect
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
