"""The parent's notify FIFO: a reader that is absent or slow costs the writer nothing (a full
pipe drops whole lines, counted and logged); lines already queued reach a late reader whole."""
from __future__ import annotations

import asyncio
import os

from lvsfast.config import loads
from lvsfast.daemon.fifos import Fifos

LINE = "RS [10.0.0.11]:tcp:80 [10.0.0.100]:tcp:80 DOWN\n"


def test_a_full_pipe_drops_whole_lines_and_never_blocks(tmp_path, caplog):
    path = tmp_path / "lvs.fifo"
    cfg = loads(f"global_defs {{\n lvs_notify_fifo {path}\n}}\nvirtual_server 10.0.0.100 80 {{\n"
                f" protocol TCP\n real_server 10.0.0.11 80 {{\n }}\n}}\n")
    fifos = Fifos(cfg.global_defs)

    async def scenario() -> None:
        await fifos.open()
        assert path.exists()
        event = {"event": "real_server", "virtual": "10.0.0.100:TCP:80", "real": "10.0.0.11:80", "up": False}
        for _ in range(5000):  # ~230 KB: far more than a pipe holds, and nobody reads
            fifos.lvs_event(cfg, event)
        [fifo] = fifos._fifos
        assert fifo.dropped > 0
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        data = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        os.close(fd)
        lines = data.decode().splitlines(keepends=True)
        assert lines and set(lines) == {LINE}  # whole lines only
        assert len(lines) + fifo.dropped == 5000
        await fifos.close()
        assert not path.exists()

    asyncio.run(scenario())
    assert "line dropped (full)" in caplog.text
