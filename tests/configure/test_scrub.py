"""Secrets removed from artifacts (harness/configure/scrub.py)."""

from __future__ import annotations

import json

import pytest

from harness.configure.scrub import MASK, scrub, scrub_value

KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
       "QyNTUxOQAAACBn0b8H\n-----END OPENSSH PRIVATE KEY-----\n")


@pytest.mark.parametrize(("text", "expected"), [
    ("password=hunter2 host=db1", f"password={MASK} host=db1"),
    ("db_password: abc", f"db_password: {MASK}"),
    ('{"db_replication_password": "abc"}', f'{{"db_replication_password": "{MASK}"}}'),
    ('{\\"password\\": \\"abc\\"}', f'{{\\"password\\": \\"{MASK}\\"}}'),
    ("PGPASSWORD=xyz psql -h x", f"PGPASSWORD={MASK} psql -h x"),
    ("CREATE ROLE app LOGIN PASSWORD 'abc';", f"CREATE ROLE app LOGIN PASSWORD '{MASK}';"),
    ("pg_ctl --password abc", f"pg_ctl --password {MASK}"),
    ("postgresql://app:s3cret@10.0.0.5:5432/db", f"postgresql://app:{MASK}@10.0.0.5:5432/db"),
    ("token: abc123", f"token: {MASK}"),
], ids=["kv", "yaml", "json", "escaped-json", "env", "sql", "flag", "url", "token"])
def test_password_like_values_are_masked(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "FATAL: password authentication failed for user app",  # the evidence stays
    "ansible_ssh_private_key_file=/srv/run/id_ed25519",      # a path, not a key
    "bypass: true",
    "PLAY [Check the secrets] ****",
])
def test_evidence_and_paths_are_kept(text: str) -> None:
    assert scrub(text) == text


def test_private_keys_are_removed_raw_and_json_escaped() -> None:
    assert scrub(f"key:\n{KEY}done") == "key:\n[OPENSSH PRIVATE KEY removed]\ndone"
    escaped = json.dumps({"content": KEY})
    assert "b3BlbnNz" not in scrub(escaped) and "PRIVATE KEY removed" in scrub(escaped)
    truncated = KEY[:80]  # a block cut off by an output limit
    assert scrub("x " + truncated) == "x [PRIVATE KEY removed]"


def test_known_secret_values_are_removed_anywhere() -> None:
    text = "msg: could not connect with Zq3-secret_value9 to host"
    assert scrub(text, ["Zq3-secret_value9", ""]) == f"msg: could not connect with {MASK} to host"


def test_scrub_value_walks_nested_data_and_masks_secret_keys() -> None:
    data = {"event_data": {"res": {"db_password": "x1", "ansible_ssh_private_key_file": "/k",
                                   "cmd": ["psql", "postgres://u:p4ss@h/db"], "changed": True},
                           "msg": "saw Zq3-secret"}}
    out = scrub_value(data, ["Zq3-secret"])
    assert out["event_data"]["res"]["db_password"] == MASK
    assert out["event_data"]["res"]["ansible_ssh_private_key_file"] == "/k"
    assert out["event_data"]["res"]["cmd"][1] == f"postgres://u:{MASK}@h/db"
    assert out["event_data"]["res"]["changed"] is True
    assert out["event_data"]["msg"] == f"saw {MASK}"
