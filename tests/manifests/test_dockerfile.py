"""The Dockerfiles have exactly what the binary and the model need.

tests/containers builds the images and runs them in a pod where podman is set up; this test checks,
on every machine, the facts the Dockerfiles depend on: the sidecar's runtime stage installs a
Debian package for every shared library the built binary links against (beyond those
debian:12-slim already has), every such package name is a real bookworm package, both binary
paths (compiled in the image, or a prebuilt one from the context) end in the same runtime stage,
which keeps the promises made in docs/kubernetes.md (non-root fixed UID, entrypoint), and the model
image pins the python3 that bookworm ships.
Set MLSIDECAR_BINARY to the built mlsidecar (ctest does).
"""
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "manifests" / "Dockerfile").read_text()
MODEL_DOCKERFILE = (ROOT / "manifests" / "model-server.Dockerfile").read_text()
# Packages present in debian:12-slim itself (essential set that apt and dpkg need).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def stages(text=DOCKERFILE):
    """[(FROM image, stage name or None, body)] in file order."""
    out = []
    for part in re.split(r"^FROM ", text, flags=re.M)[1:]:
        head, _, body = part.partition("\n")
        words = head.split()
        out.append((words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None, body))
    return out


def stage(name):
    return next(body for _, n, body in stages() if n == name)


def runtime_packages():
    m = re.search(r"apt-get install -y --no-install-recommends \\\n\s+([^\\\n]+)", stage("runtime"))
    assert m, "runtime stage installs no packages"
    return set(m.group(1).split())


def instructions(body):
    return [l for l in body.splitlines() if l and not l.startswith("#")]


def test_stages_from_source_and_prebuilt_share_the_runtime():
    assert re.search(r"^ARG BASE_IMAGE=debian:12-slim$", DOCKERFILE, re.M)
    assert [(f, n) for f, n, _ in stages()] == [
        ("${BASE_IMAGE}", "build"), ("${BASE_IMAGE}", "runtime"), ("runtime", "prebuilt"), ("runtime", None)]
    build = stage("build")
    assert "bash scripts/setup" in build
    # The optimisation level the tests run (scripts/test builds Release).
    assert "-DCMAKE_BUILD_TYPE=Release" in build and "-DMLSIDECAR_TESTS=OFF" in build
    assert "strip /build/sidecar/mlsidecar" in build
    # The last stage (the default target) and the prebuilt one add the binary and nothing else.
    assert instructions(stages()[-1][2]) == ["COPY --from=build /build/sidecar/mlsidecar /usr/local/bin/mlsidecar"]
    assert instructions(stage("prebuilt")) == ["COPY mlsidecar /usr/local/bin/mlsidecar"]


def test_runtime_runs_as_fixed_non_root_user():
    runtime = stage("runtime")
    assert re.search(r"^USER 65532:65532$", runtime, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/mlsidecar"]' in runtime
    assert 'CMD ["serve"]' in runtime
    assert not re.findall(r"^(COPY|ADD) ", runtime, re.M), "the runtime stage copies nothing in"
    # apt's lists and caches do not stay in the image.
    assert "rm -rf /var/lib/apt/lists/* /var/cache/apt/*" in runtime


def test_model_image_pins_bookworms_python3():
    assert re.search(r"^ARG BASE_IMAGE=debian:12-slim$", MODEL_DOCKERFILE, re.M)
    pin = re.search(r"^ARG PYTHON3_VERSION=(\S+)$", MODEL_DOCKERFILE, re.M)
    assert pin and "python3=${PYTHON3_VERSION}" in MODEL_DOCKERFILE
    here = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3"], capture_output=True, text=True)
    assert here.returncode == 0 and here.stdout == pin.group(1), f"bookworm's python3 is {here.stdout}"
    assert re.search(r"^USER 65532:65532$", MODEL_DOCKERFILE, re.M)


def test_runtime_has_iptables_for_the_capture_init_container():
    # `mlsidecar capture-init` (the injected init container of the redirect capture) runs it.
    assert "iptables" in runtime_packages()


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
