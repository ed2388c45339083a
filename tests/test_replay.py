"""Event replay end to end: the real CLI against a real receiver on 127.0.0.1 that verifies the
Stripe signature, dedups by idempotency key and counts every request."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from opsbook.config.replay import parse_stop_rule
from opsbook.replay.sender import delay, retry_after
from opsbook.store import Store
from opsbook.store import replay_runs as rows
from tests.support.clirun import Run, in_a_terminal, opsbook
from tests.support.replayutil import SECRET, config, receiver, write_events

JSONL = "{jsonl: {path: events.jsonl, key: id}}"


def _replay(cfg: Path, *args: str) -> Run:
    return opsbook("replay", *args, "-c", str(cfg))


def test_every_event_is_delivered_once_with_a_valid_signature(tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 400)
    with receiver() as rec:
        cfg = config(tmp_path, rec.url, JSONL)
        r = opsbook("replay", "run", "hooks", "--json", "-c", str(cfg))
        assert r.code == 0, r.text
        doc = r.json
    assert doc["counts"] == {"delivered": 400, "failed": 0, "skipped": 0}
    assert doc["run"]["status"] == "succeeded" and doc["rate"] > 0
    assert rec.bad_signatures == 0 and rec.unique == 400
    assert set(rec.by_key.values()) == {1} and rec.requests == 400


def test_events_sharing_an_order_key_arrive_in_order_under_concurrency(tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 600, customers=5)  # 8 workers, 5 customers: keys contend
    with receiver() as rec:
        r = _replay(config(tmp_path, rec.url, JSONL, concurrency=32), "run", "hooks")
        assert r.code == 0, r.text
    seen: dict[str, list[int]] = defaultdict(list)
    for body in rec.arrivals:
        seen[body["customer"]].append(body["n"])
    assert len(seen) == 5
    for customer, ns in seen.items():
        assert ns == sorted(ns) == list(range(1, len(ns) + 1)), customer


def test_a_target_failing_for_a_while_is_retried_counted_and_the_stop_rule_fires_then_resume_continues(
        tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 300)
    with receiver(fail_first=40) as rec:  # the first 40 requests get a 500: about 10 events, 4 attempts each
        cfg = config(tmp_path, rec.url, JSONL, extra='    stop_if: "error_ratio > 0.05 after 10"\n',
                     concurrency=2)
        r = opsbook("replay", "run", "hooks", "--json", "-c", str(cfg))
        assert r.code == 1, r.text
        doc = r.json
        assert doc["run"]["status"] == "stopped" and "error_ratio > 0.05 after 10" in doc["run"]["error"]
        assert doc["counts"]["failed"] >= 5 and doc["counts"]["delivered"] < 300
        first = doc["failures"][0]
        assert first["attempts"] == 4 and first["http_status"] == 500  # 1 + retries.times (3)
        assert "receiver down" in first["response"]
        sent_before = rec.requests
        assert sent_before < 300 * 4  # it stopped: it did not try them all
        failed_keys = {f["key"] for f in doc["failures"]}
        r2 = opsbook("replay", "resume", str(doc["run"]["id"]), "--json", "-c", str(cfg))
        # the receiver is healthy now: everything after the cursor is delivered; the failed ones stay failed
        doc2 = r2.json
        assert r2.code == 1 and doc2["run"]["status"] == "failed", r2.text
        assert doc2["counts"]["delivered"] + doc2["counts"]["failed"] == 300
        assert rec.unique == doc2["counts"]["delivered"]
        assert not failed_keys & set(rec.by_key)


def test_retry_after_is_honoured_each_throttled_event_is_sent_again_once(tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 12)
    with receiver(throttle_once=True, retry_after="1") as rec:
        r = opsbook("replay", "run", "hooks", "--json", "-c",
                    str(config(tmp_path, rec.url, JSONL, concurrency=12)))
        assert r.code == 0, r.text
    assert set(rec.attempts.values()) == {2} and rec.unique == 12
    assert r.json["run"]["attempts"] == 24


def test_a_retry_after_header_sets_the_wait_and_is_capped() -> None:
    from opsbook.config.replay import Retries

    retries = Retries(times=5, backoff=0.5, max_backoff=4, max_retry_after=10)
    assert retry_after("3") == 3.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    assert retry_after("soon") is None
    assert delay(1, retries, 3.0) == 3.0
    assert delay(1, retries, 3600.0) == 10.0  # capped
    assert [delay(n, retries, None) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_the_stop_rule_is_parsed_without_eval() -> None:
    rule = parse_stop_rule("error_ratio > 0.05 after 100")
    assert not rule.fires(failed=50, done=99, in_a_row=0)
    assert rule.fires(failed=6, done=100, in_a_row=0) and not rule.fires(failed=5, done=100, in_a_row=0)
    assert parse_stop_rule("failed_in_a_row >= 3").fires(failed=3, done=3, in_a_row=3)
    for bad in ("__import__('os') > 1", "error_ratio > x", "error_ratio < 1", ""):
        with pytest.raises(ValueError):
            parse_stop_rule(bad)


def _signature(line: str) -> Callable[[str], str]:
    return lambda text: re.sub(r"    signature: .*\n", f"    signature: {line}\n", text)


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda t: t + '    stop_if: "error_ratio >> 0.05"\n', "replay.hooks.stop_if"),
    (lambda t: t + "    rate: -3\n", "replay.hooks.rate"),
    (lambda t: t.replace("key: id}", "key: 'id; drop'}"), "replay.hooks.source.jsonl.key"),
    (_signature("{stripe: {}}"), "replay.hooks.signature.stripe.secret"),
    (_signature("{hmac: {secret: {env: X}, format: 'sha256={nope}'}}"), "replay.hooks.signature.hmac.format"),
    (_signature("{stripe: {secret: {env: X}}, none: true}"), "replay.hooks.signature"),
], ids=["stop_if", "rate", "key", "stripe-secret", "hmac-format", "two-signatures"])
def test_a_malformed_replay_config_exits_2_naming_the_path(tmp_path: Path, mutate: Callable[[str], str],
                                                           path: str) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:9", JSONL)
    cfg.write_text(mutate(cfg.read_text()))
    r = opsbook("replay", "run", "hooks", "-c", str(cfg))
    assert r.code == 2, r.text
    assert path in r.stderr, r.stderr


def test_a_target_naming_an_unknown_resource_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:9", JSONL)
    cfg.write_text(cfg.read_text().replace("target: {resource: receiver", "target: {resource: reciever"))
    r = opsbook("replay", "run", "hooks", "-c", str(cfg))
    assert r.code == 2 and "replay.hooks.target.resource" in r.stderr and "receiver" in r.stderr


def test_an_unreachable_target_exits_3_and_records_nothing(tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 3)
    from tests.support.helpers import free_port

    cfg = config(tmp_path, f"http://127.0.0.1:{free_port()}", JSONL)
    r = opsbook("replay", "run", "hooks", "-c", str(cfg))
    assert r.code == 3 and "unreachable" in r.stderr
    assert opsbook("replay", "list", "--json", "-c", str(cfg)).json == {"runs": []}


def test_the_signing_secret_never_appears_in_output_store_or_report(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_events(events, 30)
    leak = json.dumps({"id": "evt_leak", "customer": "cus_x", "n": 1, "note": SECRET})  # its body holds the secret
    events.write_text(leak + "\n" + events.read_text())
    outputs = []
    # a receiver that echoes the secret back in its error answers, as a misconfigured one might
    with receiver(fail_first=400, fail_status=400, fail_body=f"bad key {SECRET}".encode()) as rec:
        cfg = config(tmp_path, rec.url, JSONL)
        for args in (("run", "hooks", "--dry-run"), ("run", "hooks", "--dry-run", "--json"), ("run", "hooks"),
                     ("show", "1"), ("show", "1", "--json"), ("status", "1"), ("list",), ("list", "--json")):
            r = _replay(cfg, *args)
            outputs.append(r.text)
        assert rec.requests > 0
    assert "withheld" in outputs[0]  # the dry-run did not print the body holding the secret
    assert [i for i, o in enumerate(outputs) if SECRET in o] == []  # which commands leaked it
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with store.read() as tx:
            run = rows.get_run(tx, 1)
            events = rows.events(tx, 1, limit=1000)
        assert run is not None and run.failed == 31
        dumped = repr(run) + repr(events)
        assert "bad key ***" in dumped and SECRET not in dumped
    finally:
        store.close()
    assert (tmp_path / "store.db").read_bytes().find(SECRET.encode()) == -1


def test_resume_refuses_a_run_that_succeeded(tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 5)
    with receiver() as rec:
        cfg = config(tmp_path, rec.url, JSONL)
        assert _replay(cfg, "run", "hooks").code == 0
        r = _replay(cfg, "resume", "1")
    assert r.code == 1 and "succeeded" in r.stderr
    assert _replay(cfg, "resume", "99").code == 2


def test_an_event_without_its_key_is_skipped_and_reported(tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 4)
    with (tmp_path / "events.jsonl").open("a") as f:
        f.write('{"customer": "cus_1"}\nnot json\n')
    with receiver() as rec:
        r = opsbook("replay", "run", "hooks", "--json", "-c", str(config(tmp_path, rec.url, JSONL)))
    assert r.code == 1 and r.json["counts"] == {"delivered": 4, "failed": 0, "skipped": 2}
    assert {f["error"].split(": ", 1)[1] for f in r.json["failures"]} == {"no 'id' field", "not JSON"}


def test_a_generic_hmac_signature_follows_its_format_over_timestamp_and_body() -> None:
    import base64
    import hashlib
    import hmac

    from opsbook.config.replay import Signature
    from opsbook.replay.signing import signer

    sig = Signature.model_validate({"hmac": {"secret": "k3y-for-hmac", "header": "X-Hub-Signature-256",
                                             "format": "v1={base64};t={t}", "over": "timestamp.body",
                                             "timestamp_header": "X-Timestamp"}})
    got = signer(sig, "replay.x.signature")(b'{"id": 1}', 1700000000)
    mac = base64.b64encode(hmac.new(b"k3y-for-hmac", b'1700000000.{"id": 1}', hashlib.sha256).digest()).decode()
    assert got == {"X-Hub-Signature-256": f"v1={mac};t=1700000000", "X-Timestamp": "1700000000"}
    assert signer(Signature(none=True), "x")(b"{}", 1) == {}


def test_on_a_terminal_a_progress_line_counts_deliveries(tmp_path: Path) -> None:
    write_events(tmp_path / "events.jsonl", 200)
    with receiver() as rec:
        cfg = config(tmp_path, rec.url, JSONL, extra="    rate: 200\n")  # a second: the bar draws a few times
        r = in_a_terminal("replay", "run", "hooks", "-c", str(cfg), cwd=tmp_path, at_most=0)
        assert r.code == 0, r.stdout
    assert "delivered 200  failed 0" in r.stdout and "replay run 1 (hooks): succeeded" in r.stdout


def test_an_idempotency_key_that_would_split_the_request_is_never_sent(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(
        json.dumps({"id": "evt_ok", "customer": "c"}) + "\n"
        + json.dumps({"id": "evt_bad\r\nX-Injected: 1", "customer": "c"}) + "\n"
        + json.dumps({"id": "evt_ü_\u2603", "customer": "d"}) + "\n")
    with receiver() as rec:
        r = opsbook("replay", "run", "hooks", "--json", "-c", str(config(tmp_path, rec.url, JSONL)))
    assert r.code == 1 and r.json["counts"] == {"delivered": 1, "failed": 2, "skipped": 0}
    assert {f["attempts"] for f in r.json["failures"]} == {1}  # refused, not retried
    assert rec.requests == 1 and not any("X-Injected" in h for h in rec.headers_seen)
