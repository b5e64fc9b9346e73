"""Waiting for what the code under test can tell, instead of sleeping a fixed time: poll a
condition until it holds (return at once) or a deadline passes. The synchronous form is
lvsfast.lab.netns.wait_for."""
from __future__ import annotations

import asyncio
import time
from typing import Callable


async def until(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """True as soon as ``predicate()`` is truthy, False if it is not within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return bool(predicate())
        await asyncio.sleep(interval)
    return True
