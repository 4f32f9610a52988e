"""Shared set-up for the sidecar's integration tests: import paths and small fixtures.

Each test file is its own ctest entry (tests/integration/CMakeLists.txt), so files run in
parallel; the fixtures here start real processes on 127.0.0.1 and stop them afterwards.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support", "grpc"))
sys.path.insert(0, HERE)

import pytest  # noqa: E402

from common import start_sidecar  # noqa: E402
from procs import Upstream  # noqa: E402


@pytest.fixture(scope="module")
def upstream():
    with Upstream() as up:
        yield up


@pytest.fixture(scope="module")
def sidecar(upstream):
    with start_sidecar(upstream.port, threads=2) as sc:
        yield sc
