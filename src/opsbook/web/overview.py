"""The overview's body: every check by environment with status, since when and uptime bars.

Built with plain string formatting rather than Jinja: with 1,000 checks the table is 1,000 rows
of 7 cells, and a template spends ~8 escapes and several runtime calls per row (about 150 ms a
page on a busy 2-core machine; this takes a few ms). The markup is kept small: an uptime bar is
one empty ``<i>`` whose fill is a CSS background sized to the uptime, next to the percentage as
text, so the page reads the same without CSS or JavaScript.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from markupsafe import escape

from ..config.secrets import redactor
from ..durations import format_duration
from .charts import pct, uptime_class
from .data import CheckRow
from .state import Cached

BAD = ("fail", "error", "blocked")
WINDOWS = ("24h", "7d", "30d")


def _e(v: object) -> str:
    return str(escape(v))


def truncate(s: str, length: int = 90, leeway: int = 5, end: str = "...") -> str:
    """Jinja's ``truncate`` filter with its defaults (cut at a word boundary)."""
    if len(s) <= length + leeway:
        return s
    return s[: length - len(end)].rsplit(" ", 1)[0] + end


# content-keyed memos (never stale): the cells that depend only on the config, by check, and the
# uptime cells by value (most checks are at 100%); cleared when they grow past a config's worth
_PREFIX: dict[tuple[str, str], tuple[object, str, str]] = {}
_BARS: dict[float | None, str] = {}
_MEMO_MAX = 20_000


def _bar(u: float | None) -> str:
    got = _BARS.get(u)
    if got is None:
        if len(_BARS) > _MEMO_MAX:
            _BARS.clear()
        if u is None:
            got = '<td class="u"><i class="nodata"></i>no data</td>'
        else:
            got = (f'<td class="u"><i class="{uptime_class(u)}" style="background-size:'
                   f'{max(0.0, min(1.0, u)) * 100:.1f}%"></i>{pct(u)}</td>')
        _BARS[u] = got
    return got


def _prefix(r: CheckRow) -> str:
    """The check's first cell: its link, kind and labels (the same until the config changes)."""
    got = _PREFIX.get((r.name, r.env))
    if got is not None and got[0] is r.labels and got[1] == r.kind:
        return got[2]
    if len(_PREFIX) > _MEMO_MAX:
        _PREFIX.clear()
    chips = "".join(f' <span class="chip">{_e(k)}={_e(v)}</span>' for k, v in sorted(r.labels.items()))
    html = (f'<td><a href="/checks/{quote(r.name, safe="")}?env={quote(r.env, safe="")}">{_e(r.name)}</a> '
            f'<span class="chip">{_e(r.kind)}</span>{chips}</td>')
    _PREFIX[(r.name, r.env)] = (r.labels, r.kind, html)
    return html


def _row(r: CheckRow, now: datetime) -> str:
    since = f"{format_duration(max(0.0, round((now - r.since).total_seconds())))} ago" if r.since else "-"
    error = ""
    if r.status in BAD and r.last_error:
        error = _e(truncate(redactor.text(str(r.last_error.get("message", "")))))
    status = _e(r.status)
    return (f'<tr data-status="{status}">{_prefix(r)}<td><span class="badge {status}">{status}</span></td>'
            f'<td class="small">{since}</td>{_bar(r.uptime.get("24h"))}{_bar(r.uptime.get("7d"))}'
            f'{_bar(r.uptime.get("30d"))}<td class="small">{error}</td></tr>\n')


def body(rows: list[CheckRow], only: str | None, now: datetime) -> Cached:
    """The redacted HTML of the overview's body (what goes inside ``<main>`` after the title)."""
    envs: dict[str, list[CheckRow]] = {}
    counts: dict[str, int] = {}
    for r in rows:
        envs.setdefault(r.env or "default environment", []).append(r)
        counts[r.status] = counts.get(r.status, 0) + 1
    badges = " ".join(f'<span class="badge {_e(s)}">{n} {_e(s)}</span>' for s, n in sorted(counts.items()))
    link = '<a href="/">show all</a>' if only == "failing" else '<a href="/?status=failing">only failing</a>'
    out = [f'<p class="small">{len(rows)} checks: {badges} · {link}</p>\n']
    head = ('<table class="checks">\n<thead><tr><th>check</th><th>status</th><th>since</th>'
            + "".join(f'<th class="num">{w}</th>' for w in WINDOWS) + "<th>last error</th></tr></thead>\n<tbody>\n")
    for env, env_rows in envs.items():
        out += [f"<h2>{_e(env)}</h2>\n", head, *(_row(r, now) for r in env_rows), "</tbody>\n</table>\n"]
    if not envs:
        out.append("<p>No checks configured.</p>\n" if only != "failing" else "<p>No failing checks.</p>\n")
    return Cached(redactor.text("".join(out)).encode())
