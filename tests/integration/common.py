"""Small shared pieces of the integration tests."""

from procs import Sidecar

# Tests stop the sidecar with SIGTERM; without this each stop would wait the 5 s default drain.
QUICK_STOP = ("--drain-seconds", "0", "--shutdown-timeout", "2s")


def start_sidecar(upstream_port, *flags, threads=1, **kwargs):
    """mlsidecar serve in front of 127.0.0.1:`upstream_port` with `flags`; stops quickly."""
    return Sidecar(upstream_port=upstream_port,
                   extra_args=["--threads", str(threads), *QUICK_STOP, *flags], **kwargs)

