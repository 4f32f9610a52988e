"""Shared helpers for the injection tests: the binary under test, the Node checkers."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
NODE_DIR = HERE / "node"


def binary():
    path = os.environ.get("MLSIDECAR_BIN")
    if not path:
        pytest.fail("set MLSIDECAR_BIN to the mlsidecar binary (ctest does)")
    return path


def run(*args, stdin=None):
    return subprocess.run([binary(), *args], input=stdin, capture_output=True, timeout=60)


def node(script, payload):
    if not (NODE_DIR / "node_modules" / "kubernetes-models").is_dir():
        pytest.fail(f"run `npm ci --prefix {NODE_DIR}` first (kubernetes-models, fast-json-patch)")
    if shutil.which("node") is None:
        pytest.fail("node is not installed")
    return subprocess.run(["node", str(NODE_DIR / script)], input=json.dumps(payload).encode(),
                          capture_output=True, timeout=60)
