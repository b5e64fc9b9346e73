"""libnftables through ctypes: one context per backend, no ``nft`` process per update.

Commands go in as nft's native syntax (one buffer = one kernel transaction, so a batch is
atomic); listings come back as JSON.
"""
from __future__ import annotations

import ctypes
import json
from typing import Any

from lvsfast import heap

_OUTPUT_HANDLE = 1 << 3
_OUTPUT_JSON = 1 << 4


class NftError(RuntimeError):
    pass


def _load() -> ctypes.CDLL:
    # The soname first: ctypes.util would import shutil, tempfile, bz2 and lzma into the
    # checker child and run ldconfig in a subprocess, for the name the loader finds itself.
    try:
        lib = ctypes.CDLL("libnftables.so.1")
    except OSError:
        from ctypes.util import find_library

        name = find_library("nftables")
        try:
            lib = ctypes.CDLL(name or "libnftables.so.1")
        except OSError as exc:
            raise NftError(f"libnftables is not available ({exc}); install Debian's libnftables1") from exc
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
    return lib


class Nft:
    """A libnftables context in the calling process's network namespace."""

    # A context keeps its cache of the ruleset (several MB for a table of 1,000 real servers)
    # until freed. After a run this large the context is dropped, and made again (about 6 ms)
    # on the next run: big transactions are rare, and the memory is the daemon's budget.
    KEEP_BELOW = 32 * 1024

    def __init__(self) -> None:
        self._lib = _load()
        self._closed = False
        self._ctx = self._new()

    def _new(self) -> int:
        ctx = self._lib.nft_ctx_new(0)
        if not ctx:
            raise NftError("nft_ctx_new failed")
        self._lib.nft_ctx_buffer_output(ctx)
        self._lib.nft_ctx_buffer_error(ctx)
        return ctx

    def run(self, script: str, *, json_output: bool = False) -> str:
        """Run ``script`` as one transaction; return its output or raise NftError with nft's message."""
        if self._closed:
            raise NftError("libnftables context is closed")
        if self._ctx is None:
            self._ctx = self._new()
        self._lib.nft_ctx_output_set_flags(self._ctx, (_OUTPUT_JSON | _OUTPUT_HANDLE) if json_output else 0)
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, script.encode())
        out = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
        err = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if len(script) + len(out) >= self.KEEP_BELOW:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None
            heap.trim()
        if rc != 0:
            raise NftError(err.strip() or f"libnftables returned {rc}")
        return out

    def list_json(self, what: str) -> list[dict[str, Any]]:
        out = self.run(f"list {what}", json_output=True)
        return json.loads(out)["nftables"] if out.strip() else []

    def close(self) -> None:
        self._closed = True
        if self._ctx is not None:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None
