"""Shared helpers for the injection tests: the binary under test, the Node checkers."""
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
sys.path.insert(0, str(HERE.parents[1] / "support"))
from webhook import node  # noqa: E402,F401  (the Node checkers, shared with tests/journey)


def binary():
    path = os.environ.get("MLSIDECAR_BIN")
    if not path:
        pytest.fail("set MLSIDECAR_BIN to the mlsidecar binary (ctest does)")
    return path


def run(*args, stdin=None):
    return subprocess.run([binary(), *args], input=stdin, capture_output=True, timeout=60)
