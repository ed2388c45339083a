"""Config for the canary gate (``canaries:``): the canary and its baseline, the metrics that judge
it (each measured by one provider: opsbook/canary/providers/), the analysis settings and the staged
steps. docs/canary.md explains the semantics; the gate itself is ops/canary.py.

The provider models live here (not beside their implementations) because the config layer sits
below the kinds: canary/providers/registry.py maps each name to its implementation and this model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import Field, model_validator

from ..durations import Duration, PositiveDuration
from .assertions import Assertion
from .resources import Model

if TYPE_CHECKING:
    from .models import ConfigBase
    from .references import ErrFn


class Compare(Model):
    """Kayenta's baseline comparison: Mann-Whitney U and the Hodges-Lehmann interval."""

    direction: Literal["increase", "decrease", "either"] = Field(
        default="increase", description="which change is bad: a latency or error rate going up is 'increase'")
    tolerance: float = Field(default=0.25, ge=0, description="the change tolerated, relative to the baseline median")
    confidence: float = Field(default=0.98, gt=0.5, lt=1, description="the confidence of the interval")
    min_samples: int = Field(default=10, ge=1, description="fewer samples on either side is no data")


class MetricBase(Model):
    interval: PositiveDuration | None = Field(default=None, description="time between measurements "
                                              "(default: the analysis interval)")
    count: int | None = Field(default=None, ge=1, description="measurements to take (default: the analysis count)")
    initial_delay: Duration | None = Field(default=None, description="wait this long before the first")
    success_condition: str | None = Field(default=None, description="an assertion over `result`: met means "
                                          "the measurement succeeded")
    failure_condition: str | None = Field(default=None, description="an assertion over `result`: met means "
                                          "the measurement failed")
    failure_limit: int = Field(default=0, ge=0, description="failed measurements tolerated")
    consecutive_error_limit: int = Field(default=4, ge=0, description="consecutive measurement errors tolerated")
    inconclusive_limit: int = Field(default=0, ge=0, description="inconclusive measurements tolerated")
    compare: Compare | None = Field(default=None, description="judge the canary against the baseline")
    weight: float = Field(default=1.0, gt=0, description="this comparison's share of the score")
    critical: bool = Field(default=False, description="a failing comparison fails the run whatever the score")

    @model_validator(mode="after")
    def _judged_somehow(self) -> MetricBase:
        if self.compare is None and self.success_condition is None and self.failure_condition is None:
            raise ValueError("a metric needs success_condition, failure_condition or compare")
        for cond in (self.success_condition, self.failure_condition):
            if cond is not None:
                Assertion.parse(cond)
        return self


class CheckMetric(MetricBase):
    provider: Literal["check"]
    check: str = Field(description="the opsbook check (http) to run against each target's base URL")
    value: Literal["duration", "ok"] = Field(default="duration", description="a sample is the check's "
                                             "duration in ms, or 1 for a pass and 0 otherwise")
    samples: int = Field(default=10, ge=1, le=1000, description="check runs per target per measurement")
    concurrency: int = Field(default=1, ge=1, le=100, description="runs at once; more than 1 is quicker but "
                             "queues requests in the target, which a latency comparison then measures")


class PrometheusMetric(MetricBase):
    provider: Literal["prometheus"]
    resource: str = Field(description="the prometheus resource to query")
    query: str = Field(description="PromQL; ${target} is the measured target's name, ${canary} and "
                                   "${baseline} the two targets' names")
    range: Duration | None = Field(default=None, description="a range query over this window ending now "
                                                              "(samples: every point); default an instant query")
    step: PositiveDuration = Field(default=15.0, description="the range query's resolution")


class HttpJsonMetric(MetricBase):
    provider: Literal["http_json"]
    path: str = Field(description="GET this path on each target's base URL (or a full URL with ${target_url})")
    value: str = Field(description="where the number is in the JSON answer, in the assertion language's "
                                   "names: data.error_rate, items[0].p99")
    timeout: PositiveDuration = Field(default=5.0, description="the request's timeout")


Metric = Annotated[Union[CheckMetric, PrometheusMetric, HttpJsonMetric],  # noqa: UP007
                   Field(discriminator="provider")]


class Analysis(Model):
    interval: PositiveDuration = Field(default=10.0, description="default time between a metric's measurements")
    count: int = Field(default=3, ge=1, description="default measurements per metric")
    initial_delay: Duration = Field(default=0.0, description="default wait before the first measurement")
    pass_score: float = Field(default=95, ge=0, le=100, description="a comparison score at least this passes")
    marginal_score: float = Field(default=75, ge=0, le=100, description="at least this (below pass_score) is "
                                  "marginal: held for a human; below it fails")
    timeout: PositiveDuration = Field(default=30.0, description="one measurement's deadline")


class Webhook(Model):
    url: str
    method: Literal["POST", "PUT", "GET"] = "POST"
    body: dict[str, object] = Field(default_factory=dict, description="JSON body; ${weight} is filled in")


class Step(Model):
    weight: int | None = Field(default=None, ge=0, le=100, description="the canary's share: recorded and "
                               "given to run/webhook as ${weight}")
    run: str | None = Field(default=None, description="a shell command that sets the weight or scale")
    webhook: Webhook | None = Field(default=None, description="an HTTP call that sets the weight or scale")
    analysis: PositiveDuration | None = Field(default=None, description="run the analysis for this long")


class Canary(Model):
    description: str = ""
    canary: str = Field(description="the canary's base URL, or a label in targets:")
    baseline: str = Field(description="the baseline's base URL, or a label in targets:")
    targets: dict[str, str] = Field(default_factory=dict, description="labels -> base URLs")
    metrics: dict[str, Metric] = Field(min_length=1)
    analysis: Analysis = Field(default_factory=Analysis)
    steps: list[Step] = Field(default_factory=list, description="staged rollout; default one analysis")
    promote: str | None = Field(default=None, description="a command run when the canary passes")
    rollback: str | None = Field(default=None, description="a command run when the canary fails")
    service: str | None = Field(default=None, description="the releases: service this canary deploys: without a "
                                "rollback command, a failed canary runs that service's rollback (to its previous "
                                "release, then its verify gates), and a failed rollout blocks `gate deploy`")
    command_timeout: PositiveDuration = Field(default=300.0, description="a step/promote/rollback command's "
                                              "deadline")


def cross_check_canaries(cfg: ConfigBase, err: ErrFn) -> None:
    from .references import missing

    checks = getattr(cfg, "checks", {})
    for name, can in cfg.canaries.items():
        for key in ("canary", "baseline"):
            value = getattr(can, key)
            if "://" not in value and value not in can.targets:
                err(("canaries", name, key), *missing("target", value, can.targets, "targets (or give a URL)"))
        for mname, metric in can.metrics.items():
            where = ("canaries", name, "metrics", mname)
            if isinstance(metric, CheckMetric):
                if metric.check not in checks:
                    err((*where, "check"), *missing("check", metric.check, checks))
                elif checks[metric.check].kind_and_params()[0] != "http":
                    err((*where, "check"), f"check {metric.check!r} is not an http check",
                        "a canary runs a check against another base URL: only http checks have one")
            if isinstance(metric, PrometheusMetric):
                res = cfg.resources.get(metric.resource)
                if res is None or getattr(res, "kind", None) != "prometheus":
                    prom = [r for r, v in cfg.resources.items() if getattr(v, "kind", None) == "prometheus"]
                    err((*where, "resource"), *missing("prometheus resource", metric.resource, prom))
