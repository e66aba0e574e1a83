"""`samsa producer-perf-test` and `consumer-perf-test`: Kafka's summary lines, and the progress line that shows on
a terminal and never in a pipe."""
import os
import pty
import select
import subprocess
import time

from test_cli_support import (CONSUMER_HEADER, CONSUMER_SUMMARY, PRODUCER_SUMMARY, create_topic, one_line_error,
                              samsa, unique)


def producer_perf(broker, topic, records, *extra):
    return samsa(broker, "producer-perf-test", "--topic", topic, "--num-records", records, "--record-size", 100,
                 "--throughput", -1, "--producer-props", f"bootstrap.servers={broker.bootstrap}", "acks=1",
                 "linger.ms=5", *extra, timeout=180)


def test_producer_perf_prints_kafkas_summary_line(broker):
    topic = unique("perf")
    create_topic(broker, topic, 2)
    proc = producer_perf(broker, topic, 20_000, "batch.size=65536", "compression.type=lz4")
    last = proc.stdout.splitlines()[-1]
    match = PRODUCER_SUMMARY.match(last)
    assert match, f"not Kafka's summary format: {last!r}"
    assert int(match["count"]) == 20_000
    assert float(match["rate"]) > 0
    assert int(match["p50"]) <= int(match["p95"]) <= int(match["p99"]) <= int(match["p999"])
    assert float(match["max"]) >= int(match["p999"])
    assert "\r" not in proc.stderr


def test_consumer_perf_reads_what_the_producer_wrote(broker):
    topic = unique("cperf")
    create_topic(broker, topic, 3)
    producer_perf(broker, topic, 9_000)
    proc = samsa(broker, "consumer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                 "--messages", 9_000, "--timeout", 20_000, timeout=120)
    lines = proc.stdout.splitlines()
    assert lines[0] == CONSUMER_HEADER
    fields = [f.strip() for f in lines[1].split(",")]
    assert len(fields) == 10
    assert int(fields[4]) == 9_000, "data.consumed.in.nMsg"
    assert abs(float(fields[2]) - 9_000 * 100 / 1048576) < 0.001, "data.consumed.in.MB counts value bytes"
    assert fields[6] == "0", "no rebalance without a group"
    assert CONSUMER_SUMMARY.match(lines[1])


def test_consumer_perf_with_a_group_reports_the_rebalance_time(broker):
    topic, group = unique("cperf-group"), unique("perf-group")
    create_topic(broker, topic, 3)
    producer_perf(broker, topic, 3_000)
    proc = samsa(broker, "consumer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                 "--messages", 3_000, "--timeout", 20_000, "--group", group, timeout=120)
    lines = proc.stdout.splitlines()
    assert lines[0] == CONSUMER_HEADER
    fields = [f.strip() for f in lines[1].split(",")]
    assert int(fields[4]) == 3_000, "data.consumed.in.nMsg"
    assert int(fields[6]) > 0, "rebalance.time.ms: the join took the coordinator's initial delay at least"
    listed = samsa(broker, "consumer-groups", "--bootstrap-server", broker.bootstrap, "--list").stdout.split()
    assert group in listed


def test_consumer_perf_warns_when_the_topic_holds_fewer_messages(broker):
    topic = unique("short")
    create_topic(broker, topic, 1)
    producer_perf(broker, topic, 100)
    proc = samsa(broker, "consumer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                 "--messages", 1_000, "--timeout", 1_000, "--hide-header")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("WARNING: Exiting before consuming the expected number of messages: timeout (1000 ms)")
    assert int(lines[1].split(", ")[4]) == 100


def test_throughput_limits_the_rate(broker):
    topic = unique("slow")
    create_topic(broker, topic, 1)
    start = time.monotonic()
    proc = samsa(broker, "producer-perf-test", "--topic", topic, "--num-records", 300, "--record-size", 10,
                 "--throughput", 1000, "--producer-props", f"bootstrap.servers={broker.bootstrap}")
    elapsed = time.monotonic() - start
    assert elapsed >= 0.25, f"300 records at 1000/s took {elapsed:.3f}s"
    match = PRODUCER_SUMMARY.match(proc.stdout.splitlines()[-1])
    assert match and float(match["rate"]) < 1500


def test_perf_test_flags_are_checked(broker):
    proc = samsa(broker, "producer-perf-test", "--topic", "t", "--num-records", 0, "--record-size", 1,
                 "--throughput", -1, "--producer-props", f"bootstrap.servers={broker.bootstrap}", check=False)
    assert "--num-records should be greater than zero" in one_line_error(proc, usage=True)


def run_on_a_terminal(argv, timeout=120):
    """Runs argv with stdout and stderr on a pseudo-terminal; returns everything it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(leader)
    return proc.returncode, output.decode(errors="replace")


def test_progress_line_on_a_terminal_and_not_in_a_pipe(broker):
    topic = unique("tty")
    create_topic(broker, topic, 1)
    argv = [broker.bin, "producer-perf-test", "--topic", topic, "--num-records", 200_000, "--record-size", 100,
            "--throughput", 100_000, "--producer-props", f"bootstrap.servers={broker.bootstrap}"]
    code, output = run_on_a_terminal(argv)
    assert code == 0, output
    assert "\r\x1b[2K" in output, "the progress line redraws itself on a terminal"
    assert "records acknowledged" in output
    summary = output.replace("\r\x1b[2K", "\n").splitlines()
    assert any(PRODUCER_SUMMARY.match(line.strip()) for line in summary)

    piped = samsa(broker, *argv[1:], timeout=180)
    assert "\r" not in piped.stdout and "\r" not in piped.stderr
    assert "records acknowledged" not in piped.stderr
