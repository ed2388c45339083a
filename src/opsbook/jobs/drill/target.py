"""Where a PostgreSQL drill restores: an existing server (``target:``) or a throwaway cluster (``cluster:``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

from ...config.backups import DrillTarget
from ...config.secrets import SecretRef, redactor, reveal
from ...errors import CouldNotRun
from ..backup.cluster import ThrowawayCluster
from .result import DrillResult


def target_dsn(t: DrillTarget, resources: Mapping[str, Any], drill: str) -> str:
    """The admin DSN of ``target:``: a postgres resource's, or a secret from the environment or a file."""
    if t.resource is not None:
        return reveal(resources[t.resource].dsn, f"resources.{t.resource}.dsn") or ""
    ref = SecretRef(env=t.env) if t.env else SecretRef(file=t.file)
    return ref.resolve(f"drills.{drill}.target")


def ping(admin: str) -> None:
    try:
        psycopg.connect(admin, connect_timeout=10, autocommit=True).close()
    except psycopg.OperationalError as e:
        raise CouldNotRun(f"cannot connect to the drill target: {redactor.text(str(e).strip())}",
                          hint="is the target server up, and target: right?") from None


def cluster_info(result: DrillResult, cluster: ThrowawayCluster, kept: bool) -> None:
    """The report's ``cluster`` and ``scratch``: where the cluster is, and how to start a kept one."""
    where = str(cluster.dir or "")
    result.cluster = {"bin_dir": cluster.bin_dir, "dir": where, "port": cluster.port, "kept": kept}
    db = result.scratch or "no database"
    if kept:
        result.kept = True
        result.scratch = (f"{db} in the throwaway cluster {where} (stopped; start it with "
                          f"pg_ctl -D {where}/data -o '-p {cluster.port} -k {where}' start)")
    elif result.scratch and "throwaway cluster" not in result.scratch:
        result.scratch = f"{db} in a throwaway cluster (removed)"
