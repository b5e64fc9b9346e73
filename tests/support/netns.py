"""pytest fixture for a throwaway lab of namespaces (root only)."""
from __future__ import annotations

import pytest

from lvsfast.lab.netns import Lab
from support.requires import need_binary, need_root


@pytest.fixture
def lab():
    need_root()
    need_binary("ip")
    with Lab() as lab:
        yield lab
