"""What a canary metric provider is: ``measure(metric, target, ctx)`` returns the metric's samples
(floats) for one target, or raises ``MeasurementError``. An empty list is no data (inconclusive),
never a pass. Providers import their heavy libraries inside ``measure``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ...config.load import Config

Role = Literal["canary", "baseline"]


@dataclass(frozen=True)
class Target:
    role: Role
    url: str  # the base URL
    label: str = ""  # the name in targets: when it was given by label

    @property
    def name(self) -> str:
        """What a query names it by: its label, else host:port (Prometheus' instance label)."""
        return self.label or urlsplit(self.url).netloc


@dataclass
class MeasureContext:
    config: Config
    canary: Target
    baseline: Target
    timeout: float
    shared: dict[str, Any] = field(default_factory=dict)  # per-run clients, closed by the caller

    def template_vars(self, target: Target) -> dict[str, str]:
        return {"canary": self.canary.name, "baseline": self.baseline.name, "target": target.name,
                "target_url": target.url.rstrip("/"), "canary_url": self.canary.url.rstrip("/"),
                "baseline_url": self.baseline.url.rstrip("/")}


class Provider(Protocol):
    Params: ClassVar[type[Any]]  # its config model (config/canaries.py)

    async def measure(self, metric: Any, target: Target, ctx: MeasureContext) -> list[float]: ...
