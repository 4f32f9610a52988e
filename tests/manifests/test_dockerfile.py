"""The sidecar image's runtime stage has exactly what the binary needs.

No container engine runs on the build machines, so the Dockerfile is checked against the facts
it depends on: the runtime stage installs a Debian package for every shared library the built
binary links against (beyond those debian:12-slim already has), every such package name is a
real bookworm package, and the image keeps the promises made in docs/kubernetes.md (non-root
fixed UID, entrypoint, Release build without tests through scripts/setup).
Set MLSIDECAR_BINARY to the built mlsidecar (ctest does).
"""
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "manifests" / "Dockerfile").read_text()
# Packages present in debian:12-slim itself (essential set that apt and dpkg need).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def stages():
    parts = re.split(r"^FROM ", DOCKERFILE, flags=re.M)
    return parts[1:]


def runtime_packages():
    runtime = stages()[-1]
    m = re.search(r"apt-get install -y --no-install-recommends \\\n\s+([^\\\n]+)", runtime)
    assert m, "runtime stage installs no packages"
    return set(m.group(1).split())


def test_two_stages_on_debian_12():
    assert re.search(r"^ARG BASE_IMAGE=debian:12-slim$", DOCKERFILE, re.M)
    assert [s.split()[0] for s in stages()] == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    build = stages()[0]
    assert "bash scripts/setup" in build
    assert "-DCMAKE_BUILD_TYPE=Release" in build and "-DMLSIDECAR_TESTS=OFF" in build


def test_runtime_runs_as_fixed_non_root_user():
    runtime = stages()[-1]
    assert re.search(r"^USER 65532:65532$", runtime, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/mlsidecar"]' in runtime
    assert 'CMD ["serve"]' in runtime
    # Nothing from the build stage but the binary.
    assert re.findall(r"^COPY .*$", runtime, re.M) == [
        "COPY --from=build /build/sidecar/mlsidecar /usr/local/bin/mlsidecar"]


def test_runtime_package_names_are_debian_packages():
    for pkg in sorted(runtime_packages()):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}", pkg], capture_output=True, text=True)
        assert r.returncode == 0, f"{pkg} is not a known Debian package here ({r.stderr.strip()})"


def test_runtime_packages_cover_every_linked_library():
    binary = os.environ.get("MLSIDECAR_BINARY", str(ROOT / "build" / "sidecar" / "mlsidecar"))
    if not pathlib.Path(binary).exists():
        pytest.fail(f"built binary {binary} not found (set MLSIDECAR_BINARY)")
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = [l.split("=>")[1].split()[0] for l in out.splitlines() if "=>" in l and "/" in l.split("=>")[1]]
    needed = set()
    for lib in libs:
        real = os.path.realpath(lib)
        r = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
        if r.returncode != 0:  # usrmerge: /lib/... is packaged as /usr/lib/... or the reverse
            alt = real.replace("/usr/lib/", "/lib/", 1) if real.startswith("/usr/lib/") else "/usr" + real
            r = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
        assert r.returncode == 0, f"{lib} belongs to no Debian package"
        needed.add(r.stdout.split(":")[0])
    missing = needed - BASE_PACKAGES - runtime_packages()
    assert not missing, f"runtime stage lacks {sorted(missing)} (the binary links {sorted(needed)})"
