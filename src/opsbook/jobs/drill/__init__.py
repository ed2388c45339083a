"""Restore drills: fetch + restore a backup, then a pipeline of verification steps (see pipeline.py)."""

from __future__ import annotations

from .context import DrillContext, DrillServices, Step
from .pipeline import drill, run_steps
from .restore import scratch_name
from .result import SCHEMA, DrillResult, StepResult, TableCount, Verification
from .run import drill_spec, run_drill

__all__ = ["SCHEMA", "DrillContext", "DrillResult", "DrillServices", "Step", "StepResult", "TableCount",
           "Verification", "drill", "drill_spec", "run_drill", "run_steps", "scratch_name"]
