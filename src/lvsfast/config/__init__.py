"""keepalived.conf for lvsfast: read, build the typed model, check.

Entry points:

- :func:`load` -> :class:`Config` (raises :class:`ConfigError` when there are errors; warnings are
  in ``Config.warnings``).
- :func:`load_with_diagnostics` -> ``(Config, warnings)``, same rule.
- :func:`loads` for text in memory.
- :func:`analyse` never raises for content: the model (possibly partial) and every diagnostic,
  optionally with the environment checks of ``lvsfast -t``.
"""
from __future__ import annotations

import gc

from lvsfast.config import model
from lvsfast.config.build import build as _build
from lvsfast.config.checks import check
from lvsfast.config.diagnostics import ConfigError, Diagnostic, Diagnostics
from lvsfast.config.environment import check_environment
from lvsfast.config.model import Config
from lvsfast.config.reader import default_config_id, read, read_string
from lvsfast.frozen import record, replace

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Callable

__all__ = ["Analysis", "Config", "ConfigError", "Diagnostic", "analyse", "default_config_id", "load",
           "load_with_diagnostics", "loads", "model"]


@record
class Analysis:
    config: Config
    diagnostics: tuple[Diagnostic, ...]
    security_violation: bool = False
    fatal: bool = False  # keepalived -t would exit 6: script security or a failed include check
    missing_value: bool = False  # keepalived -t would exit 2: a keyword without its parameter

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @property
    def clean(self) -> bool:
        return not self.diagnostics


def analyse(path: str | None = None, config_id: str | None = None, *, text: str | None = None,
            lvs_backend: str | None = None, environment: bool = False,
            interfaces: frozenset[str] | None = None, all_config: bool = False,
            before_environment: Callable[[Config], None] | None = None) -> Analysis:
    """Read, build and check ``path`` (or ``text``); never raises for problems in the content.

    ``before_environment`` is called with the model before the machine is checked (``-t`` joins
    the configuration's ``net_namespace`` there); what it raises comes out.

    ``all_config`` is keepalived's ``-e``: every include is checked as ``includet`` is."""
    # Loading allocates hundreds of thousands of small acyclic objects; the cyclic collector
    # would rescan the growing graph again and again (40% of the time on a 100k-line file).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _analyse(path, config_id, text, lvs_backend, environment, interfaces, all_config, before_environment)
    finally:
        if paused:
            gc.enable()


def _analyse(path: str | None, config_id: str | None, text: str | None, lvs_backend: str | None,
             environment: bool, interfaces: frozenset[str] | None, all_config: bool = False,
             before_environment: Callable[[Config], None] | None = None) -> Analysis:
    cid = config_id if config_id is not None else default_config_id()
    diags = Diagnostics()
    if text is not None:
        nodes = read_string(text, diags, name=path or "<string>", config_id=cid)
    else:
        if path is None:
            raise TypeError("analyse() needs a path or text")
        nodes = read(path, diags, cid, all_config=all_config)
    cfg = _build(nodes, diags, path=path or "<string>", config_id=cid)
    from lvsfast.config.unsupported import report as report_unsupported  # issue 23: nothing silent
    report_unsupported(nodes, diags)
    if lvs_backend is not None:
        cfg = replace(cfg, global_defs=replace(cfg.global_defs, lvs_backend=lvs_backend))
    check(cfg, diags)
    violation = False
    if environment:
        if before_environment is not None:
            before_environment(cfg)
        violation = check_environment(cfg, diags, interfaces).security_violation
    found = tuple(diags.sorted())
    digest = diags.source_digest
    if digest and lvs_backend is not None:
        digest += f":{lvs_backend}"  # the override changes the model as much as a file would
    cfg = replace(cfg, warnings=tuple(d for d in found if d.severity == "warning"),
                              source_digest=digest)
    return Analysis(cfg, found, violation, violation or diags.fatal, diags.missing_value)


def load_with_diagnostics(path: str, config_id: str | None = None, *, lvs_backend: str | None = None,
                          all_config: bool = False) -> tuple[Config, list[Diagnostic]]:
    """The model and its warnings; raises :class:`ConfigError` (with every diagnostic) on errors."""
    a = analyse(path, config_id, lvs_backend=lvs_backend, all_config=all_config)
    if a.errors:
        raise ConfigError(a.diagnostics)
    return a.config, list(a.warnings)


def load(path: str, config_id: str | None = None, *, lvs_backend: str | None = None,
         all_config: bool = False) -> Config:
    """The model of ``path``; raises :class:`ConfigError` on errors. Warnings: ``Config.warnings``."""
    return load_with_diagnostics(path, config_id, lvs_backend=lvs_backend, all_config=all_config)[0]


def loads(text: str, name: str = "<string>", config_id: str | None = None, *,
          lvs_backend: str | None = None) -> Config:
    """As :func:`load`, for configuration text in memory."""
    a = analyse(name, config_id, text=text, lvs_backend=lvs_backend)
    if a.errors:
        raise ConfigError(a.diagnostics)
    return a.config
