"""Config for incidents (``incidents:``): the severity ladder, the roles people take during an
incident and the post-mortem policy. Owned by ops/incident.py (docs/incidents.md).

The defaults are the seed runbooks' SEV1-SEV4 table; a team may rename them (P1-P4) or add
levels. The list is ordered, most severe first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from ..durations import Duration, PositiveDuration
from .references import ErrFn, missing
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase


class Severity(Model):
    name: str = Field(min_length=1, description="what people type: --severity SEV2")
    description: str = Field(default="", description="what an incident of this severity looks like")
    respond_within: Duration | None = Field(
        default=None, description="how soon someone must respond (15m); none: no target (next business day)")


def _default_severities() -> list[Severity]:
    return [
        Severity(name="SEV1", description="complete outage, data loss risk", respond_within=15 * 60.0),
        Severity(name="SEV2", description="major feature broken, no workaround", respond_within=3600.0),
        Severity(name="SEV3", description="feature degraded, workaround exists", respond_within=4 * 3600.0),
        Severity(name="SEV4", description="minor issue, low impact (respond next business day)"),
    ]


class Postmortem(Model):
    # None rather than [SEV1, SEV2]: a team that renames its ladder (P1-P4) keeps a working default
    required_for: list[str] | None = Field(
        default=None, description="severities whose incidents need a post-mortem (default: the two most severe)")
    due: PositiveDuration = Field(default=48 * 3600.0, description="how long after resolution it is due")
    template: str | None = Field(default=None, description="a Markdown file to start each post-mortem from")


class Incidents(Model):
    severities: list[Severity] = Field(default_factory=_default_severities, min_length=1,
                                       description="the severity ladder, most severe first")
    roles: list[str] = Field(default_factory=lambda: ["commander", "communications", "scribe"],
                             description="roles people are assigned during an incident; commander is required")
    postmortem: Postmortem = Field(default_factory=Postmortem, description="the post-mortem policy")
    escalation: dict[str, str] = Field(default_factory=dict, description="severity (or default) -> the "
                                       "escalation policy its incidents get (docs/escalation.md)")

    @property
    def severity_names(self) -> list[str]:
        return [s.name for s in self.severities]

    def severity(self, name: str) -> Severity | None:
        return next((s for s in self.severities if s.name == name), None)

    @property
    def postmortem_required_for(self) -> list[str]:
        """The severities needing a post-mortem: as configured, else the two most severe."""
        if self.postmortem.required_for is not None:
            return self.postmortem.required_for
        return self.severity_names[:2]


class AlertIncident(Model):
    """``alerts.NAME.incident``: the rule declares an incident when it fires (rules/incidents.py)."""

    severity: str = Field(min_length=1, description="the incident's severity, one of incidents.severities")
    title: str | None = Field(default=None, description="the incident's title (default: the alert's summary, "
                                                        "else its name)")
    components: list[str] | None = Field(
        default=None, description="the affected components, stored on the incident (default: the status_page "
                                  "components whose checks the alert reads)")

    escalation: str | None = Field(default=None, description="the escalation policy (escalation:) its incidents "
                                                             "get, over incidents.escalation")


class SloIncident(Model):
    """``slos.NAME.incident``: a page-tier burn of the SLO declares an incident (rules/incidents.py)."""

    severity: str = Field(min_length=1, description="the incident's severity, one of incidents.severities")
    title: str | None = Field(default=None, description="the incident's title (default: SLO NAME is burning "
                                                        "its error budget)")
    components: list[str] | None = Field(
        default=None, description="the affected components (default: the status_page components of the SLO's check)")


def unknown_severity(name: str, names: list[str]) -> tuple[str, str]:
    """The message and hint for an undefined severity; "sev1" suggests "SEV1" (case differs)."""
    msg, hint = missing("severity", name, names, "severities (incidents.severities)")
    same = [n for n in names if n.casefold() == name.casefold()]
    if same and "did you mean" not in msg:
        msg += f" (did you mean {same[0]!r}?)"
    return msg, hint


def cross_check_incidents(cfg: ConfigBase, err: ErrFn, base_dir: Path | None = None) -> None:
    inc: Incidents = cfg.incidents
    names = inc.severity_names
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            err(("incidents", "severities", i, "name"), f"severity {name!r} is listed twice")
        seen.add(name)
    for i, role in enumerate(inc.roles):
        if inc.roles.index(role) != i:
            err(("incidents", "roles", i), f"role {role!r} is listed twice")
    if "commander" not in inc.roles:
        # the incident record keeps its commander in a column of its own (who leads it)
        err(("incidents", "roles"), "roles must include 'commander'",
            "the commander leads the incident; add your other roles beside it")
    for i, name in enumerate(inc.postmortem.required_for or ()):
        if name not in seen:
            err(("incidents", "postmortem", "required_for", i), *unknown_severity(name, names))
    page = getattr(cfg, "status_page", None)
    comps = [c.name for c in page.components] if page is not None else []
    for section in ("alerts", "slos"):
        for name, rule in getattr(cfg, section, {}).items():
            auto: AlertIncident | SloIncident | None = rule.incident
            if auto is None:
                continue
            if auto.severity not in seen:
                err((section, name, "incident", "severity"), *unknown_severity(auto.severity, names))
            for i, comp in enumerate(auto.components or ()):
                if comps and comp not in comps:  # without a status page any name goes, as with --component
                    err((section, name, "incident", "components", i),
                        *missing("component", comp, comps, "components (status_page.components)"))
    tpl = inc.postmortem.template
    if tpl is not None and base_dir is not None and not template_path(tpl, base_dir).is_file():
        err(("incidents", "postmortem", "template"), f"post-mortem template {tpl!r} not found",
            f"a Markdown file, relative to the config's directory ({base_dir}); or leave template out")


def template_path(template: str, base_dir: Path) -> Path:
    """The post-mortem template's path: relative paths are relative to the config's directory."""
    p = Path(template).expanduser()
    return p if p.is_absolute() else base_dir / p
