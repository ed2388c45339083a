"""Runbook files as parse.py reads them: what a well-formed file becomes, and every malformed one
refused with file:line (docs/runbooks.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.errors import RunbookFormatError
from opsbook.runbooks.model import Checklist, Prose, Step
from opsbook.runbooks.parse import parse

KINDS = ("sh", "sql", "http", "opsbook", "wait", "approval")

GOOD = """\
---
description: restart and wait
params:
  env: {default: staging, choices: [staging, production]}
  retries: 3
  token: {secret: true, required: true}
lock: deploy
schedule: "0 9 * * 1"
owner: ops
env: production
---
# Restart the API

Why we do this.

```sh {name=status mutates=false save=version=json.version timeout=30s expect="exit_code == 0; stdout contains 'ok'"}
curl -s http://x/health   # ${HOME} belongs to the shell
```

```json
{"this": "is an illustration"}
```

- [ ] tell the channel
* [x] second item, already ticked in the file

```bash
echo ${version} ${env}
```

```sql {resource=app when="env == 'production'" retries=2 continue_on_error=true}
SELECT 1
```

## Rollback

Undo it.

```sh {name=undo mutates=true confirm=true}
echo undo ${version}
```

## Afterwards

Back in the main section.
"""


def _parse(text: str, name: str = "book.md") -> object:
    return parse(text, Path(name), KINDS)


def test_a_well_formed_runbook_becomes_front_matter_steps_checklist_prose_and_rollback() -> None:
    rb = parse(GOOD, Path("restart.md"), KINDS)
    assert rb.name == "restart" and rb.title == "Restart the API"
    assert (rb.lock, rb.schedule, rb.owner, rb.env) == ("deploy", "0 9 * * 1", "ops", ("production",))
    env, retries, token = rb.params
    assert env.choices == ("staging", "production") and env.default == "staging"
    assert retries.type == "int" and retries.default == 3
    assert token.secret and token.required and token.default is None
    kinds = [(type(i).__name__, getattr(i, "name", None)) for i in rb.items]
    assert kinds == [("Prose", None), ("Step", "status"), ("Prose", None), ("Checklist", "check-1"),
                     ("Checklist", "check-2"), ("Step", "step-2"), ("Step", "step-3"), ("Prose", None)]
    status = rb.items[1]
    assert isinstance(status, Step)
    assert status.line == 16 and status.timeout == 30 and status.save == (("version", "json.version"),)
    assert status.expect == ("exit_code == 0", "stdout contains 'ok'")
    assert "illustration" in rb.items[2].text  # type: ignore[union-attr]
    bash = rb.items[5]
    assert isinstance(bash, Step) and bash.kind == "sh"
    sql = rb.items[6]
    assert isinstance(sql, Step)
    assert sql.attrs["resource"] == "app" and sql.retries == 2 and sql.continue_on_error and sql.when
    (undo_prose, undo) = rb.rollback
    assert isinstance(undo_prose, Prose) and undo_prose.section == "rollback"
    assert isinstance(undo, Step) and undo.mutates and undo.confirm and undo.section == "rollback"
    assert isinstance(rb.items[3], Checklist) and rb.items[4].text == "second item, already ticked in the file"  # type: ignore[union-attr]
    assert rb.items[-1].text.startswith("## Afterwards")  # type: ignore[union-attr]
    assert rb.manual and len(rb.content_hash) == 64


def test_the_title_falls_back_to_the_file_name_and_a_fence_without_attrs_of_a_language_is_prose() -> None:
    rb = parse("```python\nprint(1)\n```\n", Path("plain.md"), KINDS)
    assert rb.title == "plain" and rb.actions() == []


BAD = [
    ("---\ntitle: x\n", 1, "never closed"),
    ("---\ntitle: [unclosed\n---\n", 3, "front matter"),
    ("---\ntitel: x\n---\n", 2, "did you mean 'title'"),
    ("---\nparams:\n  env: {default: dev, choices: [staging, production]}\n---\n", 3, "not one of its choices"),
    ("---\nparams:\n  n: {type: int, default: many}\n---\n", 3, "is not a int"),
    ("---\nparams:\n  n: {typo: 1}\n---\n", 3, "parameter 'n'"),
    ("---\nschedule: every 90 days\n---\n", 2, "cron"),
    ("---\nschedule: 0 9 * * 1 *\n---\n", 2, "5 fields"),
    ("text\n\n```sh {name=a mutates=maybe}\nls\n```\n", 3, "mutates=maybe"),
    ("```sh {name=a mutates}\nls\n```\n", 1, "'mutates' has no value"),
    ('```sh {name="a b}\nls\n```\n', 1, "never closed"),
    ("```sh {name=a'b}\nls\n```\n", 1, "unbalanced quote"),
    ("```sh {name=a\nls\n```\n", 1, "never closed"),
    ("```sh name=a\nls\n```\n", 1, "inside {...}"),
    ("```sh {name=a} mutates=true\nls\n```\n", 1, "text after the closing }"),
    ("```{name=a}\nls\n```\n", 1, "starts with its kind"),
    ("\n```shh {name=a}\nls\n```\n", 2, "did you mean 'sh'"),
    ("```sh {name=a timeout=soon}\nls\n```\n", 1, "not a duration"),
    ("```sh {name=a retries=-1}\nls\n```\n", 1, "retries"),
    ('```sh {name=a expect="exit_code =="}\nls\n```\n', 1, "expect: expected a value"),
    ('```sh {name=a when="env == "}\nls\n```\n', 1, "when:"),
    ("```sh {name=a}\nls\n```\n\n## Rollback\n\n```sh {name=a}\nls\n```\n", 7, "used twice (first on line 1)"),
    ("```sh {name=a}\nls\n```\n\n```sh {name=a}\nls\n```\n", 5, "'a' is used twice"),
    ("```sh {name=a}\nls\necho ${nope}\n```\n", 3, "${nope} is not a parameter"),
    ("```sql {resource=${db}}\nselect 1\n```\n", 1, "${db}"),
    ("```sql {resource=app}\nselect ${HOME}\n```\n", 2, "${HOME}"),  # env-style names: sh bodies only
    ("```sh {name=a}\necho ${later}\n```\n\n```sh {name=b save=later}\necho x\n```\n", 2, "${later}"),
    ("---\nparams:\n  ver: 1\n---\n```sh {name=a save=ver}\necho\n```\n", 5, "hide the parameter"),
    ("## Rollback\n\n## rollback\n", 3, "a second ## Rollback"),
]


@pytest.mark.parametrize(("text", "line", "words"), BAD, ids=[b[2] for b in BAD])
def test_a_malformed_runbook_is_refused_naming_the_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(RunbookFormatError) as e:
        _parse(text)
    assert e.value.line == line, e.value.message
    assert e.value.message.startswith(f"book.md:{line}: "), e.value.message
    assert words in e.value.message
    assert e.value.exit_code == 2


def test_saved_values_and_params_are_defined_for_later_steps_and_the_rollback() -> None:
    text = ("---\nparams:\n  app: x\n---\n```sh {name=a save=img}\necho ${app}\n```\n\n"
            "## Rollback\n\n```sh {name=b}\necho ${img} ${app} $PATH ${PATH}\n```\n")
    rb = _parse(text)
    assert [a.name for a in rb.rollback if isinstance(a, Step)] == ["b"]  # type: ignore[attr-defined]


def test_a_hundred_step_runbook_parses_into_a_hundred_steps() -> None:
    text = "".join(f"Step {i}.\n\n```sh {{name=s{i} mutates=false}}\ntrue\n```\n\n" for i in range(100))
    rb = _parse(text)
    assert len(rb.actions()) == 100 and rb.actions()[-1].line == 100 * 6 - 3  # type: ignore[attr-defined]
