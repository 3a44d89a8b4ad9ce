"""``agentspec keys`` and ``agentspec serve``'s flags, through the real command group."""
from __future__ import annotations

import json

from click.testing import CliRunner

from agentspec.cli import cli


def test_keys_are_issued_once_listed_without_the_key_and_revoked():
    runner = CliRunner()
    issued = runner.invoke(cli, ["keys", "add", "shop", "--role", "integration"])
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip().splitlines()[0]
    assert key.startswith("as_i_")
    listed = runner.invoke(cli, ["keys", "list", "--json"])
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"]) for r in rows] == [("shop", "integration")] and key not in listed.stdout
    again = runner.invoke(cli, ["keys", "add", "shop"])
    assert again.exit_code == 2 and "exists" in again.output
    assert runner.invoke(cli, ["keys", "revoke", "shop"]).exit_code == 0
    missing = runner.invoke(cli, ["keys", "revoke", "shop"])
    assert missing.exit_code == 2 and "no key named 'shop'" in missing.output


def test_serve_refuses_bad_flags_before_loading_anything():
    runner = CliRunner()
    assert runner.invoke(cli, ["serve", "--workers", "0"]).exit_code == 2
    assert runner.invoke(cli, ["serve", "--port", "70000"]).exit_code == 2
    bad_db = runner.invoke(cli, ["serve", "--database", "mysql://x"])
    assert bad_db.exit_code == 2 and "postgresql://" in bad_db.output
    unknown = runner.invoke(cli, ["serve", "no-such-spec"])
    assert unknown.exit_code == 2 and "no-such-spec" in unknown.output
