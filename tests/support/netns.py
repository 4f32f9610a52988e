"""A network namespace that plays a pod, for the tests that need real iptables (root only).

    with PodNamespace() as pod:                 # 192.0.2.x/30: host side .1, pod side .2
        p = Process(pod.cmd("python3", "server.py", "--host", "0.0.0.0"))
        urllib.request.urlopen("http://%s:8000/" % pod.pod_ip)

Addresses are in TEST-NET-1 (192.0.2.0/24, RFC 5737), a /30 per namespace that no interface of
the machine uses yet, so that tests running side by side (ctest -j) or several pods in one test
do not collide. The namespace and its veth pair are deleted on exit, also after a failure.
"""

import os
import re
import subprocess
import threading

_claim_lock = threading.Lock()
_claimed = set()


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def _used_slots():
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                         timeout=30).stdout
    return {int(m.group(1)) // 4 for m in re.finditer(r"inet 192\.0\.2\.(\d+)/", out)}


class PodNamespace:
    """A network namespace with a veth pair: the host side .1, the pod side .2 of a /30."""

    _count = 0

    def __init__(self):
        PodNamespace._count += 1
        tag = "%d%s" % (os.getpid(), "" if PodNamespace._count == 1 else "x%d" % PodNamespace._count)
        self.name = "mlscap" + tag
        self.host_if, self.pod_if = "mlsh" + tag, "mlsp" + tag
        self.host_ip = self.pod_ip = self.slot = None

    def _claim_slot(self):
        """The first /30 (of 1..62, starting at one derived from the pid) no interface uses."""
        with _claim_lock:
            used = _used_slots() | _claimed
            start = os.getpid() % 62
            for i in range(62):
                slot = 1 + (start + i) % 62
                if slot not in used:
                    _claimed.add(slot)
                    return slot
        raise RuntimeError("no free /30 left in 192.0.2.0/24")

    def __enter__(self):
        slot = self.slot = self._claim_slot()
        self.host_ip, self.pod_ip = "192.0.2.%d" % (4 * slot + 1), "192.0.2.%d" % (4 * slot + 2)
        sh("ip", "netns", "add", self.name)
        try:
            sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.pod_if)
            sh("ip", "link", "set", self.pod_if, "netns", self.name)
            sh("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
            sh("ip", "link", "set", self.host_if, "up")
            self.run("ip", "addr", "add", self.pod_ip + "/30", "dev", self.pod_if)
            self.run("ip", "link", "set", self.pod_if, "up")
            self.run("ip", "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def run(self, *args):
        sh("ip", "netns", "exec", self.name, *args)

    def cmd(self, *args):
        return ["ip", "netns", "exec", self.name, *args]

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=30)
        with _claim_lock:
            _claimed.discard(self.slot)
