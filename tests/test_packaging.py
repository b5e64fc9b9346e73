"""A manylinux wheel with the compiled core installs into a clean venv and runs ``lvsfast -t``."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lvsfast import _native

ROOT = Path(__file__).resolve().parents[1]

CONF = """vrrp_instance VI_1 {
    state BACKUP
    interface lo
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/32
    }
}
"""


@pytest.mark.compiled  # the wheel carries the compiled core, and its lvsfast -v says so
def test_wheel_installs_and_config_tests(tmp_path):
    env = dict(os.environ, LVSFAST_VENV=str(Path(sys.executable).parents[1]))
    subprocess.run(["bash", str(ROOT / "scripts" / "wheel.sh"), str(tmp_path / "dist")], check=True, env=env,
                   capture_output=True, timeout=600)
    wheels = list((tmp_path / "dist").glob("*.whl"))
    assert len(wheels) == 1 and "manylinux" in wheels[0].name
    assert list((tmp_path / "dist").glob("*.tar.gz")), "no sdist"
    names = zipfile.ZipFile(wheels[0]).namelist()
    for mod in _native.TWINS:  # every compiled module is in the wheel
        assert any(n.startswith(f"lvsfast/_core/{mod}.") and n.endswith(".so") for n in names), mod
    venv = tmp_path / "venv"
    # Nothing of the source tree on the path: with PYTHONPATH=src (a worktree's way to run its
    # sources), pip would take src/lvsfast.egg-info for lvsfast installed already.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=clean)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheels[0])], check=True, timeout=600,
                   capture_output=True, env=clean)
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    # Outside the source tree, so the installed package (not src/) is what runs.
    out = subprocess.run([str(venv / "bin" / "lvsfast"), "-t", "-f", str(conf)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60, env=clean)
    assert out.returncode == 0, out.stderr
    ver = subprocess.run([str(venv / "bin" / "lvsfast"), "-v"], capture_output=True, text=True, cwd=tmp_path, env=clean)
    assert "core: compiled" in ver.stdout
