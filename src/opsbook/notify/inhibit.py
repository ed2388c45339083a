"""Inhibition: a firing alert matching an inhibit rule's source_* mutes alerts matching its
target_* that have the same values for the rule's equal: labels (Alertmanager's semantics; an
alert never inhibits itself)."""

from __future__ import annotations

from ..config.notify import InhibitRule
from ..rules.model import AlertInstance
from .matchers import from_config, matches_all


def inhibited(rules: list[InhibitRule], alerts: list[AlertInstance]) -> dict[str, str]:
    """fingerprint -> why, for every alert muted by a firing source alert."""
    out: dict[str, str] = {}
    firing = [a for a in alerts if a.state == "firing"]
    for i, rule in enumerate(rules):
        src = from_config(rule.source_match, rule.source_match_re)
        tgt = from_config(rule.target_match, rule.target_match_re)
        sources = [a for a in firing if matches_all(src, a.labels)]
        if not sources:
            continue
        for a in alerts:
            if a.fingerprint in out or not matches_all(tgt, a.labels):
                continue
            for s in sources:
                if s.fingerprint != a.fingerprint and all(
                        s.labels.get(k, "") == a.labels.get(k, "") for k in rule.equal):
                    out[a.fingerprint] = f"inhibited by {s.labels.get('alertname', s.rule)} (inhibit_rules[{i}])"
                    break
    return out
