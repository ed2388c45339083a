"""Read a runbook file (Markdown) into model.Runbook, or raise RunbookFormatError at file:line.

markdown-it-py (already here through rich) finds headings, fences and list items with their line
ranges; everything between the steps and checklist items is kept as prose, line for line, so a
runbook reads as the document it was. Only step kind *names* come in (``kinds``): importing the
step registry would make parsing as slow as loading every kind (docs/runbooks.md is the format).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config.assertions import Assertion
from ..config.yamlsource import dotted, load_yaml
from ..durations import parse_duration
from ..errors import AssertionSyntaxError, ConfigError, RunbookFormatError
from .model import Checklist, Item, Param, ParamType, Prose, Runbook, Section, Step
from .template import refs

COMMON_ATTRS = ("name", "mutates", "confirm", "timeout", "retries", "expect", "save", "when", "continue_on_error")
ALIASES = {"bash": "sh"}  # a ```bash fence is a sh step
_BOOL_ATTRS = ("mutates", "confirm", "continue_on_error")
_STEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ENV_STYLE = re.compile(r"[A-Z_][A-Z0-9_]*\Z")  # ${HOME} in a sh body is the shell's business
_OBS_PATH = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*\Z")
_TASK = re.compile(r"\[([ xX])\]\s+(.*)", re.DOTALL)
_INFO = re.compile(r"([^\s{]*)\s*(.*)", re.DOTALL)
_ATTR_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class _ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: ParamType = "str"
    default: str | bool | int | float | None = None
    choices: list[str | bool | int | float] = Field(default_factory=list)
    required: bool = False
    secret: bool = False
    description: str = ""


class _Front(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    env: list[str] = Field(default_factory=list)
    lock: str | None = None
    schedule: str | None = None
    owner: str | None = None
    grace: str | int | float | None = None


def parse(text: str, path: Path, kinds: Collection[str]) -> Runbook:
    """The runbook in ``text`` (the file at ``path``); ``kinds`` are the step kind names."""
    return _Parser(text, path, frozenset(kinds)).run()


def display_path(path: Path) -> str:
    """How a file is named in messages: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def fmt_value(v: Any) -> str:
    """A parameter value as text (YAML spelling for booleans): what ${name} becomes."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


class _Parser:
    def __init__(self, text: str, path: Path, kinds: frozenset[str]) -> None:
        self.text = text
        self.path = path
        self.file = display_path(path)
        self.kinds = kinds
        self.lines = text.splitlines()

    def fail(self, message: str, line: int | None, hint: str = "") -> RunbookFormatError:
        return RunbookFormatError(message, file=self.file, line=line, hint=hint)

    # -- front matter --------------------------------------------------------------------------

    def front_matter(self) -> tuple[_Front, dict[str, int], int]:
        """The front matter, the line of each of its keys (dotted path -> line), and how many
        lines it takes (0 without one)."""
        if not self.lines or self.lines[0].rstrip() != "---":
            return _Front(), {}, 0
        end = next((i for i in range(1, len(self.lines)) if self.lines[i].rstrip() in ("---", "...")), None)
        if end is None:
            raise self.fail("the front matter opened by --- on line 1 is never closed", 1,
                            "end it with a line holding only ---")
        try:
            src = load_yaml("\n".join(self.lines[1:end]), self.file)
        except ConfigError as e:
            raise self.fail(f"front matter: {e.detail}", (e.line or 0) + 1, e.hint) from None
        if not isinstance(src.data, dict):
            raise self.fail("front matter must be a mapping (title: ..., params: ...)", 2)
        lines = {dotted(p): ln + 1 for p, (ln, _c) in src.key_marks.items()}
        data = dict(src.data)
        if isinstance(data.get("env"), str):
            data["env"] = [data["env"]]
        try:
            front = _Front.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            loc = tuple(first["loc"])
            where = src.where(loc, key=first["type"] == "extra_forbidden")
            line = where[0] + 1 if where else 2
            if first["type"] == "extra_forbidden":
                key = str(loc[-1])
                close = difflib.get_close_matches(key, list(_Front.model_fields), n=1)
                raise self.fail(f"front matter: unknown key {key!r}" + (f" (did you mean {close[0]!r}?)"
                                                                         if close else ""), line,
                                f"keys: {', '.join(_Front.model_fields)}") from None
            raise self.fail(f"front matter {dotted(loc)}: {first['msg']}", line) from None
        return front, lines, end + 1

    def params(self, front: _Front, lines: dict[str, int]) -> tuple[Param, ...]:
        out = []
        for name, raw in front.params.items():
            line = lines.get(f"params.{name}", 2)
            if not _IDENT.match(name):
                raise self.fail(f"parameter name {name!r} is not a plain name", line,
                                "use letters, digits and _ (it is written ${name} in steps)")
            if isinstance(raw, dict):
                try:
                    spec = _ParamSpec.model_validate(raw)
                except ValidationError as e:
                    first = e.errors()[0]
                    key = ".".join(str(p) for p in first["loc"])
                    raise self.fail(f"parameter {name!r}: {key}: {first['msg']}",
                                    lines.get(f"params.{name}.{first['loc'][0]}", line)) from None
            elif raw is None or isinstance(raw, str | bool | int | float):
                spec = _ParamSpec(type=_infer(raw), default=raw)
            else:
                raise self.fail(f"parameter {name!r}: write a default value or a mapping "
                                "{type, default, choices, required, secret, description}", line)
            default = self.coerce(name, spec.type, spec.default, line)
            choices = tuple(fmt_value(c) for c in spec.choices)
            if default is not None and choices and fmt_value(default) not in choices:
                raise self.fail(f"parameter {name!r}: the default {fmt_value(default)!r} is not one of its "
                                f"choices ({', '.join(choices)})", lines.get(f"params.{name}.default", line))
            out.append(Param(name, spec.type, default, choices, spec.required, spec.secret, spec.description))
        return tuple(out)

    def coerce(self, name: str, type_: ParamType, value: Any, line: int) -> Any:
        if value is None:
            return None
        ok = {"str": True, "bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, int | float) and not isinstance(value, bool)}[type_]
        if not ok:
            raise self.fail(f"parameter {name!r}: the default {value!r} is not a {type_}", line)
        return fmt_value(value) if type_ == "str" else float(value) if type_ == "float" else value

    def schedule(self, expr: str | None, line: int) -> str | None:
        if expr is None:
            return None
        from croniter import croniter  # here: only files with a schedule pay for importing it

        fields = expr.split()
        if len(fields) != 5 or not croniter.is_valid(expr):
            raise self.fail(f"schedule {expr!r} is not a cron expression of 5 fields", line,
                            "minute hour day-of-month month day-of-week, e.g. '0 9 * * 1' (Mondays 09:00)")
        return expr

    def grace(self, value: str | int | float | None, line: int) -> float | None:
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as e:
            raise self.fail(f"grace: {e}", line, "a duration, e.g. grace: 4h") from None
        if seconds < 0:
            raise self.fail("grace: must not be negative", line)
        return seconds

    # -- the document --------------------------------------------------------------------------

    def run(self) -> Runbook:
        front, fm_lines, skip = self.front_matter()
        params = self.params(front, fm_lines)
        schedule = self.schedule(front.schedule, fm_lines.get("schedule", 2))
        grace = self.grace(front.grace, fm_lines.get("grace", 2))
        from markdown_it import MarkdownIt

        # front matter lines become blank so token line numbers stay the file's
        body = "\n" * skip + "\n".join(self.lines[skip:])
        tokens = MarkdownIt("commonmark").parse(body)
        title = front.title
        sections: dict[Section, list[Item]] = {"main": [], "rollback": []}
        section: Section = "main"
        cursor = skip
        seen_rollback: int | None = None
        n_steps = n_checks = 0

        def prose_until(stop: int) -> None:
            chunk = self.lines[cursor:stop]
            first = next((i for i, ln in enumerate(chunk) if ln.strip()), None)
            if first is not None:
                text = "\n".join(chunk[first:]).rstrip()
                sections[section].append(Prose(text, cursor + first + 1, section))

        for i, tok in enumerate(tokens):
            if tok.map is None:
                continue
            a, b = tok.map
            if tok.type == "heading_open":
                words = tokens[i + 1].content.strip()
                if tok.tag == "h1" and title is None:
                    title = words
                    prose_until(a)
                    cursor = b
                elif tok.tag == "h2" and words.lower() == "rollback":
                    if seen_rollback is not None:
                        raise self.fail(f"a second ## Rollback section (the first is on line {seen_rollback})",
                                        a + 1, "one runbook has one rollback section")
                    seen_rollback = a + 1
                    prose_until(a)
                    section, cursor = "rollback", b
                elif tok.tag in ("h1", "h2") and section == "rollback":
                    prose_until(a)
                    section, cursor = "main", a
            elif tok.type == "list_item_open" and tokens[i + 1].type == "paragraph_open":
                para = tokens[i + 1]
                m = _TASK.match(tokens[i + 2].content)
                if m and para.map:
                    n_checks += 1
                    prose_until(para.map[0])
                    text = " ".join(m.group(2).split())
                    sections[section].append(Checklist(f"check-{n_checks}", text, para.map[0] + 1, section))
                    cursor = para.map[1]
            elif tok.type == "fence":
                step = self.step(tok.info, tok.content, a + 1, section, n_steps + 1)
                if step is not None:
                    n_steps += 1
                    prose_until(a)
                    sections[section].append(step)
                    cursor = b
        prose_until(len(self.lines))
        rb = Runbook(
            name=self.path.stem, path=self.path, title=title or self.path.stem,
            content_hash=hashlib.sha256(self.text.encode()).hexdigest(), description=front.description,
            params=params, env=tuple(front.env), lock=front.lock, schedule=schedule, owner=front.owner,
            grace=grace, items=tuple(sections["main"]), rollback=tuple(sections["rollback"]),
        )
        self.check_names(rb)
        return rb

    # -- steps ---------------------------------------------------------------------------------

    def step(self, info: str, body: str, line: int, section: Section, n: int) -> Step | None:
        """The step a fence is, or None for a fence that illustrates (```json, ```text ...)."""
        m = _INFO.match(info.strip())
        assert m is not None  # the pattern matches any text
        word, rest = m.group(1), m.group(2).strip()
        kind = ALIASES[word] if word in ALIASES and ALIASES[word] in self.kinds else word
        has_attrs = rest.startswith("{")
        if kind not in self.kinds:
            if not has_attrs:
                return None
            if not word:
                raise self.fail("a step's info string starts with its kind, e.g. ```sh {name=x}", line,
                                f"step kinds: {', '.join(sorted(self.kinds))}")
            close = difflib.get_close_matches(word, sorted(self.kinds), n=1)
            raise self.fail(f"unknown step kind {word!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                            line, f"step kinds: {', '.join(sorted(self.kinds))}; a fence without {{...}} "
                                  "attributes in another language is shown as it is")
        if rest and not has_attrs:
            raise self.fail(f"info string {info.strip()!r}: attributes go inside {{...}}", line,
                            f"e.g. ```{word} {{name=x mutates=true}}")
        attrs = self.attrs(rest, info.strip(), line) if has_attrs else {}
        if word == "bash" and kind == "sh":
            attrs.setdefault("shell", "bash")  # a ```bash fence means bash, not /bin/sh
        return self.build(kind, attrs, body, line, section, n)

    def attrs(self, text: str, info: str, line: int) -> dict[str, str]:
        if not text.endswith("}") and "}" in text:
            raise self.fail(f"info string {info!r}: text after the closing }}", line,
                            "every attribute goes inside the braces")
        if not text.endswith("}"):
            raise self.fail(f"info string {info!r}: the {{ is never closed", line, "end the attributes with }")
        inner, pos = text[1:-1], 0
        out: dict[str, str] = {}
        while True:
            while pos < len(inner) and inner[pos].isspace():
                pos += 1
            if pos >= len(inner):
                return out
            km = _ATTR_KEY.match(inner, pos)
            if not km:
                raise self.fail(f"info string {info!r}: expected an attribute name at {inner[pos:]!r}", line,
                                "attributes are written name=value, quoted when the value has spaces")
            key, pos = km.group(0), km.end()
            if pos >= len(inner) or inner[pos] != "=":
                raise self.fail(f"info string {info!r}: attribute {key!r} has no value", line,
                                f"write {key}=VALUE (a flag too: {key}=true)")
            pos += 1
            if pos < len(inner) and inner[pos] in "\"'":
                quote, pos, chars = inner[pos], pos + 1, []
                while pos < len(inner) and inner[pos] != quote:
                    if inner[pos] == "\\" and pos + 1 < len(inner):
                        pos += 1
                    chars.append(inner[pos])
                    pos += 1
                if pos >= len(inner):
                    raise self.fail(f"info string {info!r}: the {quote} opening {key}'s value is never closed",
                                    line, "close the quote, or escape a quote inside the value with \\")
                value, pos = "".join(chars), pos + 1
            else:
                vm = re.compile(r"[^\s]*").match(inner, pos)
                assert vm is not None
                value, pos = vm.group(0), vm.end()
                if '"' in value or "'" in value:
                    raise self.fail(f"info string {info!r}: unbalanced quote in {key}={value}", line,
                                    "quote the whole value: key=\"a value\"")
            if key in out:
                raise self.fail(f"info string {info!r}: attribute {key!r} is given twice", line)
            out[key] = value

    def build(self, kind: str, attrs: dict[str, str], body: str, line: int, section: Section, n: int) -> Step:
        def bad(what: str, hint: str = "") -> RunbookFormatError:
            return self.fail(f"step {attrs.get('name', f'step-{n}')!r}: {what}", line, hint)

        name = attrs.get("name", f"step-{n}")
        if not _STEP_NAME.match(name):
            raise bad(f"name={name!r} is not a plain name", "letters, digits, -, _ and .")
        flags = {}
        for key in _BOOL_ATTRS:
            v = attrs.get(key, "false").lower()
            if v not in ("true", "false"):
                raise bad(f"{key}={attrs[key]} is neither true nor false", f"write {key}=true or {key}=false")
            flags[key] = v == "true"
        timeout = None
        if "timeout" in attrs:
            try:
                timeout = parse_duration(attrs["timeout"])
            except ValueError as e:
                raise bad(f"timeout: {e}") from None
            if timeout <= 0:
                raise bad("timeout must be longer than 0s")
        retries = 0
        if "retries" in attrs:
            if not attrs["retries"].isdigit():
                raise bad(f"retries={attrs['retries']} is not a whole number of 0 or more")
            retries = int(attrs["retries"])
        expect = tuple(e.strip() for e in _split(attrs.get("expect", ""), ";") if e.strip())
        for expr in expect + ((attrs["when"],) if "when" in attrs else ()):
            try:
                Assertion.parse(expr)
            except AssertionSyntaxError as e:
                which = "when" if "when" in attrs and expr == attrs["when"] else "expect"
                raise bad(f"{which}: {e.message}", "the assertion language: docs/assertions.md") from None
        save = []
        for part in (p.strip() for p in attrs.get("save", "").split(",")):
            if not part:
                continue
            var, _, obs = part.partition("=")
            var, obs = var.strip(), obs.strip()
            if not _IDENT.match(var):
                raise bad(f"save: {var!r} is not a plain name", "save=NAME or save=NAME=json.path")
            if obs and not _OBS_PATH.match(obs):
                raise bad(f"save: {obs!r} is not an observation path", "e.g. save=version=json.version")
            save.append((var, obs))  # obs "": the kind's main value (stdout, first cell, body)
        return Step(name=name, kind=kind, body=body, line=line, section=section, attrs=attrs,
                    mutates=flags["mutates"], confirm=flags["confirm"], timeout=timeout, retries=retries,
                    expect=expect, save=tuple(save), when=attrs.get("when"),
                    continue_on_error=flags["continue_on_error"])

    def check_names(self, rb: Runbook) -> None:
        """Unique step names in the file, and every ${name} defined where it is used."""
        params = {p.name for p in rb.params}
        seen: dict[str, int] = {c.name: c.line for c in (*rb.actions(), *rb.actions("rollback"))
                                if isinstance(c, Checklist)}
        saved: set[str] = set()
        for step in (*rb.actions(), *rb.actions("rollback")):
            if not isinstance(step, Step):
                continue
            if step.name in seen:
                raise self.fail(f"step name {step.name!r} is used twice (first on line {seen[step.name]})",
                                step.line, "step names must be unique in the file (main and rollback)")
            seen[step.name] = step.line
            defined = params | saved
            for where, text in [("body", step.body), *((f"attribute {k}", v) for k, v in step.attrs.items())]:
                for ref in refs(text):
                    if ref in defined or (where == "body" and step.kind == "sh" and _ENV_STYLE.match(ref)):
                        continue
                    line = step.line
                    if where == "body":
                        line += 1 + next(i for i, ln in enumerate(text.splitlines()) if f"${{{ref}}}" in ln)
                    close = difflib.get_close_matches(ref, sorted(defined), n=1)
                    raise self.fail(
                        f"step {step.name!r}: ${{{ref}}} is not a parameter or a value saved by an earlier "
                        "step" + (f" (did you mean {close[0]!r}?)" if close else ""), line,
                        f"defined here: {', '.join(sorted(defined)) or 'none'}; add it under params: "
                        "in the front matter, or save= it in an earlier step")
            for var, _ in step.save:
                if var in params:
                    raise self.fail(f"step {step.name!r}: save={var} would hide the parameter {var!r}",
                                    step.line, "save it under another name")
                saved.add(var)


def _infer(v: Any) -> ParamType:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    return "float" if isinstance(v, float) else "str"


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside quotes (an expect may compare with 'a;b')."""
    parts: list[str] = []
    cur: list[str] = []
    quote = ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts

