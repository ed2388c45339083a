"""The routing tree: which routes (and so which receivers and timers) take an alert.

Alertmanager's rules: the root takes every alert; a node's children are tried in order and
the first matching child takes the alert, unless it says ``continue: true``, in which case the
next siblings are tried too. A node none of whose children matched takes the alert itself.
Unset group_by and timers are inherited from the parent; time intervals are not.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config.notify import Notify, Route
from .matchers import from_config, matches_all

ALL_LABELS = "..."  # group_by: ['...'] groups by every label, i.e. one group per alert


@dataclass(frozen=True)
class RouteNode:
    path: str  # "root", "root/0", "root/0/1": part of the group key
    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if ALL_LABELS in self.group_by:
            return dict(sorted(labels.items()))
        return {k: labels.get(k, "") for k in sorted(self.group_by)}


def _node(route: Route, path: str, parent: RouteNode | None) -> RouteNode:
    def pick(value: float | None, inherited: float) -> float:
        return value if value is not None else inherited

    return RouteNode(
        path=path,
        receivers=tuple(route.receivers) or (parent.receivers if parent else ()),
        group_by=tuple(route.group_by) if route.group_by is not None else (parent.group_by if parent else ()),
        group_wait=pick(route.group_wait, parent.group_wait if parent else 30.0),
        group_interval=pick(route.group_interval, parent.group_interval if parent else 300.0),
        repeat_interval=pick(route.repeat_interval, parent.repeat_interval if parent else 14400.0),
        mute_time_intervals=tuple(route.mute_time_intervals),
        active_time_intervals=tuple(route.active_time_intervals),
    )


def _match(route: Route, node: RouteNode, labels: dict[str, str]) -> list[RouteNode]:
    out: list[RouteNode] = []
    for i, child in enumerate(route.routes):
        if not matches_all(from_config(child.match, child.match_re), labels):
            continue
        out.extend(_match(child, _node(child, f"{node.path}/{i}", node), labels))
        if not child.continue_:
            break
    return out or [node]


def routes_for(cfg: Notify, labels: dict[str, str]) -> list[RouteNode]:
    """The routes that take an alert with these labels (several when ``continue`` is used).
    A route without receivers (a root with none, in the short form) sends nowhere."""
    root = cfg.root()
    return [n for n in _match(root, _node(root, "root", None), labels) if n.receivers]


def group_key(node: RouteNode, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in node.group_labels(labels).items())
    return f"{node.path}:{{{inner}}}"
