"""Fixtures for the compatibility tests: the release `samsa` binary as a broker on a free loopback port with a
temporary data directory, which a test can stop (SIGTERM), kill (SIGKILL) and restart on the same port and data.

SAMSA_BIN names the binary (`make compat` sets it); the default is .build/release/samsa in this checkout.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMSA_BIN = os.environ.get("SAMSA_BIN", os.path.join(ROOT, ".build", "release", "samsa"))
LISTENING = re.compile(r"listening on PLAINTEXT://127\.0\.0\.1:(\d+)")


class Broker:
    """One `samsa server-start` process."""

    def __init__(self, data_dir, overrides=None, log_path=None, env=None):
        self.bin = SAMSA_BIN
        self.data_dir = data_dir
        self.overrides = dict(overrides or {})
        # Variables added to the broker's environment (an LD_PRELOAD fault shim, for one).
        self.env = dict(env or {})
        self.log_path = log_path or os.path.join(data_dir + ".logs", "broker.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.port = 0
        self.proc = None
        self.starts = 0

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=30):
        args = [SAMSA_BIN, "server-start", "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--override", f"log.dirs={self.data_dir}"]
        for key, value in self.overrides.items():
            args += ["--override", f"{key}={value}"]
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"===== start {self.starts}: {' '.join(args)}\n")
        log.flush()
        offset = log.tell()
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **self.env} if self.env else None)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                f.seek(offset)
                match = LISTENING.search(f.read())
            if match:
                self.port = int(match.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.02)
        raise RuntimeError(f"broker did not start in {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout=30):
        """SIGTERM and wait: a graceful shutdown. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        """SIGKILL: the broker gets no chance to flush or close anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def restart(self, graceful=True):
        self.stop() if graceful else self.kill()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def log_tail(self, lines=40):
        return "".join(self.log_text().splitlines(True)[-lines:])


@pytest.fixture(scope="session")
def samsa_bin():
    if not os.access(SAMSA_BIN, os.X_OK):
        pytest.fail(f"no broker binary at {SAMSA_BIN}: build it with `swift build -c release --product samsa`")
    return SAMSA_BIN


@pytest.fixture(scope="session")
def broker(samsa_bin, tmp_path_factory):
    """A broker shared by the tests that only need one (each uses its own topics)."""
    b = Broker(str(tmp_path_factory.mktemp("shared") / "data")).start()
    yield b
    code = b.stop()
    assert code == 0, f"broker exited with {code}:\n{b.log_tail()}"


@pytest.fixture
def make_broker(samsa_bin, tmp_path):
    """Starts brokers of the test's own (with overrides); stops them at the end."""
    started = []

    def make(overrides=None, env=None):
        b = Broker(str(tmp_path / f"data{len(started)}"), overrides, env=env)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        b.kill()


@pytest.fixture
def topic():
    """A fresh topic name."""
    return "t-" + uuid.uuid4().hex[:12]


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data
