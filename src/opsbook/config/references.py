"""References by name between config sections, checked when the config loads.

A misspelt name used to be accepted and then never matched anything (an alert on
``job backup dayly`` never fired). Every "no X named Y" error in the config goes through
``missing()`` so they read alike and suggest the closest defined name; the references that no
section checks on its own (job conditions, SLO job SLIs, status page components, daemon
schedules) are walked here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import ConfigBase

ErrFn = Callable[..., None]
Path = tuple[str | int, ...]

# names opsbook records runs under for `job KIND NAME` and SLO `job:`; None: any name
# (a migration's run is named after its source)
FIXED_JOB_NAMES: dict[str, tuple[str, ...] | None] = {"gate": ("ready", "budget", "deploy"), "migration": None}
_JOB_WORDS = {"backup-prune": "backup", "integrity": "integrity suite", "smoke": "smoke suite"}


def suggestion(name: str, defined: Collection[str]) -> str:
    """`` (did you mean 'daily'?)`` when a defined name is close, else ""."""
    close = difflib.get_close_matches(name, list(defined), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def missing(what: str, name: str, defined: Collection[str], where: str = "") -> tuple[str, str]:
    """The message and hint for a reference to an undefined ``what`` ("check", "backup"...)."""
    listed = ", ".join(sorted(defined)) or "(none yet)"
    hint = f"defined {where or what + 's'}: {listed}"
    return f"no {what} named {name!r}{suggestion(name, defined)}", hint


def job_names(cfg: ConfigBase) -> dict[str, Collection[str] | None]:
    """Each kind of run opsbook records, with the names it records it under (None: any)."""
    return {
        "backup": cfg.backups,
        "backup-prune": cfg.backups,
        "drill": cfg.drills,
        "integrity": cfg.integrity,
        "smoke": cfg.smoke,
        **FIXED_JOB_NAMES,
    }


def check_job(cfg: ConfigBase, kind: str, name: str, path: Path, err: ErrFn) -> None:
    kinds = job_names(cfg)
    if kind not in kinds:
        err(path, f"no job kind {kind!r}{suggestion(kind, kinds)}; opsbook records runs of "
            f"{', '.join(sorted(kinds))}",
            "a job opsbook does not run can ping a heartbeat instead: `heartbeat NAME failed`")
        return
    names = kinds[kind]
    if names is not None and name not in names:
        err(path, *missing(_JOB_WORDS.get(kind, kind), name, names))


def cross_check_references(cfg: ConfigBase, err: ErrFn) -> None:
    """The references no section checks itself; the others call ``missing()`` where they are."""
    checks: dict[str, Any] = getattr(cfg, "checks", {})
    for name, rule in cfg.alerts.items():
        cond = rule.condition
        if cond is not None and cond.source == "job":
            check_job(cfg, *cond.job, ("alerts", name, "when"), err)
    for name, slo in cfg.slos.items():
        if slo.job is not None:
            check_job(cfg, slo.job.kind, slo.job.name, ("slos", name, "job"), err)
    for i, comp in enumerate(cfg.status_page.components):
        for j, c in enumerate(comp.checks):
            if c not in checks:
                err(("status_page", "components", i, "checks", j), *missing("check", c, checks))
    for suite in cfg.serve.schedules.integrity:
        if suite not in cfg.integrity:
            err(("serve", "schedules", "integrity", suite), *missing("integrity suite", suite, cfg.integrity))
