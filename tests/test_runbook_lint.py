"""``runbook lint`` and ``runbook list|show`` as a user runs them, lint.py's findings, and the
shipped examples (examples/runbooks/*.md parse and lint clean against examples/runbooks.yaml)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opsbook.ops.load import load
from opsbook.runbooks.lint import lint
from opsbook.runbooks.load import find, load_all, load_all_with_errors, load_file, runbook_dir
from opsbook.runbooks.parse import parse
from opsbook.runbooks.steps.registry import STEPS
from tests.support.clirun import opsbook

KINDS = sorted(set(STEPS) | {"sh", "sql", "http", "opsbook", "wait", "approval"})
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _codes(text: str) -> list[tuple[int, str, str]]:
    rb = parse(text, Path("book.md"), KINDS)
    return [(f.line, f.level, f.code) for f in lint(rb, STEPS)]


@pytest.mark.parametrize("body", [
    "```sh {name=a}\nrm -rf /var/tmp/cache\n```\n",
    "```sh {name=a}\nsudo systemctl restart nginx\n```\n",
    "```sh {name=a}\ndocker compose restart api\n```\n",
    "```sh {name=a}\nkubectl scale deploy/api --replicas=5\n```\n",
    "```sh {name=a}\nfly deploy --app x\n```\n",
    "```sh {name=a}\npkill -f worker\n```\n",
    "```sh {name=a}\npsql \"$DATABASE_URL\" -c \"DELETE FROM sessions\"\n```\n",
    "```sql {name=a resource=db}\nupdate users set x = 1\n```\n",
    "```sql {name=a resource=db}\nSELECT pg_terminate_backend(pid) FROM pg_stat_activity\n```\n",
    "```http {name=a}\nmethod: POST\nurl: http://x/admin\n```\n",
])
def test_an_unmarked_step_that_looks_mutating_is_a_warning(body: str) -> None:
    assert (1, "warning", "looks-mutating") in _codes(body)


@pytest.mark.parametrize("body", [
    "```sh {name=a}\nls -l /var/tmp\n```\n",
    "```sh {name=a mutates=false}\nrm -f /tmp/x.lock\n```\n",  # the author said so
    "```sql {name=a resource=db}\nSELECT count(*) FROM users -- no update here\n```\n",
    "```http {name=a}\nmethod: GET\nurl: http://x/health\n```\n",
])
def test_a_reading_or_marked_step_is_not_flagged(body: str) -> None:
    assert not [c for c in _codes(body) if c[2] == "looks-mutating"]


def test_mutating_steps_without_a_rollback_section_are_a_warning() -> None:
    codes = _codes("text\n\n```sh {name=a mutates=true}\nmake deploy\n```\n")
    assert (3, "warning", "no-rollback") in codes
    with_rollback = "```sh {name=a mutates=true}\nx\n```\n\n## Rollback\n\n- [ ] undo by hand\n"
    assert not [c for c in _codes(with_rollback) if c[2] == "no-rollback"]


def test_a_secret_parameter_with_a_default_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "book.md"
    path.write_text("---\nparams:\n  app: x\n  token: {secret: true, default: hunter2}\n---\n")
    findings = lint(parse(path.read_text(), path, KINDS), STEPS)
    assert [(f.line, f.level, f.code) for f in findings] == [(4, "error", "secret-default")]


def test_when_reading_a_name_nobody_defines_is_a_warning() -> None:
    assert (1, "warning", "when-name") in _codes('```sh {name=a mutates=false when="colour == \'red\'"}\nls\n```\n')


def test_an_attribute_the_kind_does_not_take_is_an_error() -> None:
    assert (1, "error", "unknown-attr") in _codes("```sh {name=a mutates=false tiemout=5s}\nls\n```\n")


def test_every_shipped_example_parses_and_lints_without_errors() -> None:
    cfg = load(str(EXAMPLES / "runbooks.yaml"), None)
    books = load_all(cfg, KINDS)
    assert sorted(books) == ["kill-idle-in-transaction", "restart-with-readiness", "rollback",
                             "rotate-jwt-secret", "sqlite-to-postgres-cutover", "weekly-maintenance"]
    for rb in books.values():
        assert not [f for f in lint(rb, STEPS, cfg) if f.level == "error"], rb.name
    kill = books["kill-idle-in-transaction"]
    assert [a.kind for a in kill.actions() if hasattr(a, "kind")].count("approval") == 1
    assert books["rotate-jwt-secret"].schedule and books["weekly-maintenance"].manual


# -- loading and the CLI -------------------------------------------------------------------------

SH_BOOK = "---\nowner: ops\nlock: l1\n---\n# Say hello\n\n```sh {name=hello mutates=false}\necho hi\n```\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "opsbook.yaml").write_text(
        f"version: 1\nproject: t\nstore: {{url: 'sqlite:///{tmp_path / 'store.db'}'}}\nrunbooks: {{dir: books}}\n")
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "hello.md").write_text(SH_BOOK)
    (tmp_path / "books" / "README.md").write_text("not a runbook\n")
    yield tmp_path
    shutil.rmtree(tmp_path / "books", ignore_errors=True)


def test_runbook_dir_is_relative_to_the_config_and_find_suggests_close_names(project: Path) -> None:
    cfg = load(str(project / "opsbook.yaml"), None)
    assert runbook_dir(cfg) == (project / "books").resolve()
    assert find(cfg, "hello", KINDS).title == "Say hello"
    with pytest.raises(Exception, match="did you mean 'hello'"):
        find(cfg, "helo", KINDS)
    (project / "books" / "broken.md").write_text("```sh {name=x\nls\n```\n")
    ok, bad = load_all_with_errors(cfg, KINDS)
    assert list(ok) == ["hello"] and list(bad) == ["broken"]


def test_an_unchanged_file_is_parsed_once_and_an_edited_one_again(project: Path) -> None:
    path = project / "books" / "hello.md"
    first = load_file(path, KINDS)
    assert load_file(path, KINDS) is first
    path.write_text(SH_BOOK.replace("Say hello", "Say hello again"))
    assert load_file(path, KINDS).title == "Say hello again"


def test_list_json_names_each_runbook_and_exits_2_naming_a_broken_file(project: Path) -> None:
    r = opsbook("runbook", "list", "--json", cwd=project)
    assert r.code == 0, r.text
    (book,) = r.json["runbooks"]
    assert (book["name"], book["title"], book["steps"], book["owner"], book["lock"]) == ("hello", "Say hello", 1,
                                                                                         "ops", "l1")
    (project / "books" / "broken.md").write_text("text\n```sh {name=x mutates=maybe}\nls\n```\n")
    r = opsbook("runbook", "list", "--json", cwd=project)
    assert r.code == 2
    assert [e["line"] for e in r.json["errors"]] == [2] and "broken.md:2" in r.json["errors"][0]["message"]


def test_show_json_gives_the_parsed_items_and_an_unknown_name_exits_2(project: Path) -> None:
    r = opsbook("runbook", "show", "hello", "--json", cwd=project)
    assert r.code == 0, r.text
    assert [(i["type"], i.get("name")) for i in r.json["items"]] == [("step", "hello")]
    assert r.json["items"][0]["attrs"] == {"name": "hello", "mutates": "false"}
    human = opsbook("runbook", "show", "hello", cwd=project)
    assert human.code == 0 and "echo hi" in human.stdout and "Say hello" in human.stdout
    missing = opsbook("runbook", "show", "helo", cwd=project)
    assert missing.code == 2 and "did you mean 'hello'" in missing.stderr
    (project / "books" / "broken.md").write_text("---\ntitle: x\nparams:\n  n: {type: int, default: many}\n---\n")
    broken = opsbook("runbook", "show", "broken", "--json", cwd=project)
    assert broken.code == 2 and broken.json["error"]["line"] == 4
    assert broken.json["error"]["type"] == "RunbookFormatError"


def test_lint_exits_2_on_an_error_1_on_a_warning_with_strict_and_0_otherwise(project: Path) -> None:
    assert opsbook("runbook", "lint", cwd=project).code == 0
    (project / "books" / "risky.md").write_text("```sh {name=wipe}\nrm -rf build\n```\n\n## Rollback\n\n- [ ] x\n")
    r = opsbook("runbook", "lint", "--json", cwd=project)
    assert r.code == 0 and r.json["warnings"] == 1
    assert r.json["findings"][0]["code"] == "looks-mutating"
    strict = opsbook("runbook", "lint", "risky", "--strict", cwd=project)
    assert strict.code == 1 and "risky.md:1: warning looks-mutating" in strict.stdout
    (project / "books" / "bad.md").write_text("\n\n```sh {name=a}\necho ${undefined_thing}\n```\n")
    bad = opsbook("runbook", "lint", "bad", cwd=project)
    assert bad.code == 2 and "bad.md:4: error format" in bad.stdout
