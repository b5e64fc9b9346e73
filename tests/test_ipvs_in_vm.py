"""The IPVS tests, run for real: one boot of Debian's kernel (scripts/vm.sh) runs every test in
tests/ipvs_vm, and each of them shows up here as its own test with its in-VM result.

The in-VM test ids are collected on the host (collection needs no IPVS). The emulated VM (no
KVM) takes 8-10 minutes, nearly all of it the guest's own CPU: it boots in the background as
soon as collection is over (tests/conftest.py), niced, while the host's tests run, and these
tests, placed last, read its results.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VM_SCRIPT = ROOT / "scripts" / "vm.sh"
VM_TESTS = "tests/ipvs_vm"
VM_TIMEOUT = 1800  # the whole VM part: 7-10 min emulated alone (33 tests), longer beside the host's tests
#: The VM runs beside the host's tests: they are mostly waiting on timers and peers, and a woken
#: test must not queue behind the emulator's two busy vCPUs (nice 10 gives qemu about a tenth of
#: a core a host test wants, and the rest of it).
VM_NICE = 10


def _host_env() -> dict[str, str]:
    """The guest's root is read-only, so it cannot write bytecode, and compiling a module in the
    emulated guest costs about ten times what it does here: every Python process it starts (each
    daemon, each helper) would compile lvsfast again (22-28 s against 15-16 s for the daemon's
    imports, measured). So the bytecode is written here, by the host, before the boot: the
    sources by compileall, pytest's rewritten test modules by the collection below."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _collect_vm_ids() -> list[str]:
    env = {**_host_env(), "LVSFAST_IPVS_VM": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", VM_TESTS],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    ids = [line.strip() for line in proc.stdout.splitlines() if "::" in line]
    return ids or [f"{VM_TESTS}::collection-failed"]


VM_IDS = _collect_vm_ids()


def _junit_key(classname: str, name: str) -> str:
    return f"{classname}::{name}"


def _id_key(nodeid: str) -> str:
    path, _, rest = nodeid.partition("::")
    parts = rest.split("::")
    classname = path[:-3].replace("/", ".") + "".join(f".{p}" for p in parts[:-1])
    return _junit_key(classname, parts[-1])


class VMRun:
    """Outcome of each in-VM test, from the junit file the guest wrote to a shared directory."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.results: dict[str, tuple[str, str]] = {}
        self.output = ""
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Boot in the background; :meth:`wait` has the results."""
        self._thread = threading.Thread(target=self.boot, name="ipvs-vm", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is None:
            self.boot()
            return
        self._thread.join(VM_TIMEOUT + 120)
        if self._thread.is_alive() and self.error is None:
            self.error = f"the IPVS VM did not finish in {VM_TIMEOUT} s"

    def kill(self) -> None:
        """The session is over (or interrupted): no emulator outlives it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def boot(self) -> None:
        if os.geteuid() != 0:
            self.error = "the IPVS VM needs root"
            return
        if not VM_SCRIPT.exists() or not any(Path("/boot").glob("vmlinuz-*")) or shutil.which("qemu-system-x86_64") is None:
            self.error = "the IPVS VM needs qemu-system-x86 and linux-image-amd64 (scripts/install-deps.sh)"
            return
        subprocess.run([sys.executable, "-m", "compileall", "-q", "src", "tests"], cwd=ROOT, env=_host_env(),
                       stdout=subprocess.DEVNULL, check=False, timeout=300)
        rwdir = Path(tempfile.mkdtemp(prefix="lvsfast-ipvsvm-", dir="/tmp"))
        xml = rwdir / "r.xml"
        cmd = (f"python -m pytest -p no:cacheprovider -q {VM_TESTS} --junitxml={xml} "
               f"-o junit_family=xunit1 > {rwdir}/log.txt 2>&1; echo done > {rwdir}/finished")
        env = {**os.environ, "LVSFAST_VM_RWDIR": str(rwdir), "LVSFAST_VENV": str(Path(sys.executable).parent.parent)}
        self._proc = subprocess.Popen(["nice", "-n", str(VM_NICE), str(VM_SCRIPT), cmd], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = self._proc.communicate(timeout=VM_TIMEOUT)
            self.output = out[-4000:] + err[-4000:]
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            self.error = f"the IPVS VM did not finish in {VM_TIMEOUT} s"
            return
        log = rwdir / "log.txt"
        self.output = (log.read_text()[-6000:] if log.exists() else "") + self.output
        if not xml.exists():
            self.error = f"the IPVS VM wrote no results:\n{self.output}"
            return
        for case in ET.parse(xml).getroot().iter("testcase"):
            key = _junit_key(case.get("classname", ""), case.get("name", ""))
            outcome, text = "passed", ""
            for tag in ("failure", "error", "skipped"):
                el = case.find(tag)
                if el is not None:
                    outcome = tag
                    text = (el.get("message") or "") + "\n" + (el.text or "")
                    break
            # A teardown error is reported as a second entry for the same test: keep the worst.
            if self.results.get(key, ("passed", ""))[0] == "passed":
                self.results[key] = (outcome, text)


#: The one run of this session: started by tests/conftest.py once collection is over.
BACKGROUND = VMRun()


def start_in_background() -> None:
    BACKGROUND.start()


@pytest.fixture(scope="session")
def ipvs_vm() -> VMRun:
    BACKGROUND.wait()
    return BACKGROUND


@pytest.mark.vm
@pytest.mark.root
@pytest.mark.timeout(VM_TIMEOUT + 180)  # the first one waits for what is left of the VM's run
@pytest.mark.parametrize("vm_test", VM_IDS, ids=[Path(i.split("::")[0]).stem + "::" + i.split("::", 1)[-1] for i in VM_IDS])
def test_ipvs_vm(ipvs_vm: VMRun, vm_test: str) -> None:
    if vm_test.endswith("::collection-failed"):
        pytest.fail(f"could not collect {VM_TESTS} on the host")
    if ipvs_vm.error:
        pytest.skip(ipvs_vm.error)
    result = ipvs_vm.results.get(_id_key(vm_test))
    if result is None:
        pytest.fail(f"{vm_test} did not run in the VM:\n{ipvs_vm.output}")
    outcome, text = result
    if outcome == "skipped":
        pytest.skip(f"skipped inside the VM: {text}")
    if outcome != "passed":
        pytest.fail(f"{vm_test} {outcome} inside the IPVS VM:\n{text}", pytrace=False)
