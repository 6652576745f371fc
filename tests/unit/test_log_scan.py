"""The log scan finds what must never be logged, masks what it finds, and reads past the developer's
banner only."""

from __future__ import annotations

from pathlib import Path

from devstack import log_scan


def test_each_kind_is_found_and_shown_masked(tmp_path: Path) -> None:
    log = tmp_path / "koe.log"
    log.write_text("\n".join([
        "demo: curl ... +15550100123 hanako@example.jp",          # the banner: the terminal, not a log
        "Ctrl-C stops everything (batches in flight finish first).",
        '{"level":"INFO","message":"survey sent","phone":"+1******0123"}',          # masked: fine
        '{"level":"INFO","message":"survey sent","to":"+15550100123"}',
        '{"level":"WARNING","message":"bounce","address":"hanako@example.jp"}',
        "127.0.0.1 \"GET /s/k1~c3VydmV5LTAwMDEuc2lnbmF0dXJl HTTP/1.1\" 200",
        "authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.sig",
        '{"message":"reply","text":"nobody called me back"}',
        "key=0123456789abcdef0123456789abcdef",
        '{"message":"line event","user":"3f2a9c01be77","to":"U4b6f654b6f654b6f654b6f654b6f6500"}',
    ]), encoding="utf-8")
    found = log_scan.scan([log, tmp_path / "missing.log"], secrets=["0123456789abcdef0123456789abcdef", "short"],
                          messages=["nobody called me back", "2"])
    assert [(f.kind, f.where) for f in found] == [
        ("phone number", "koe.log:4"), ("email address", "koe.log:5"), ("link token", "koe.log:6"),
        ("bearer token", "koe.log:7"), ("message body", "koe.log:8"), ("secret", "koe.log:9"),
        ("LINE user id", "koe.log:10")]
    shown = "\n".join(map(str, found))
    for value in ("+15550100123", "hanako@example.jp", "nobody called me back", "0123456789abcdef0123",
                  "U4b6f654b6f654b6f654b6f654b6f6500"):
        assert value not in shown


def test_a_clean_log_has_no_findings(tmp_path: Path) -> None:
    log = tmp_path / "stack.log"
    log.write_text('carrier: GET /emails?to=a***@example.jp -> 200\n{"survey_id":"ev-1","phone":"+81******5678"}\n',
                   encoding="utf-8")
    assert log_scan.scan([log], secrets=[""], messages=[""]) == []
