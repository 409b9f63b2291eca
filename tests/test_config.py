"""The configuration file: good files load; bad ones stop with the source and key named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.adapters.cloudbilling import CloudBillingSettings
from gateway.config import load_config, parse_config
from gateway.errors import ConfigError

GOOD = """
sources:
  - name: ap
    kind: makershub
    base_url: https://makershub.ai/server/external/api
    token: ${MAKERSHUB_TOKEN}
    currency: USD
    webhook_secret: ${MAKERSHUB_WEBHOOK_SECRET}
  - name: erp
    kind: makini
    base_url: https://api.makini.io
    token: ${MAKINI_TOKEN}
  - name: erp2
    kind: makini
    base_url: https://api.makini.io/
    token: other-token
  - name: billing
    kind: invoicematic
    base_url: https://invoicematic.com/api/v1
    token: ${INVOICEMATIC_KEY}
  - name: cloud
    kind: cloudbilling
    base_url: https://example.com/api/v1
    token: ${CLOUD_JWT}
    tenant_slug: acme
"""
ENV = {
    "MAKERSHUB_TOKEN": "mh-secret", "MAKERSHUB_WEBHOOK_SECRET": "whsec",
    "MAKINI_TOKEN": "mk-secret", "INVOICEMATIC_KEY": "is_key_secret", "CLOUD_JWT": "jwt-secret",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_contract_example_loads_with_env(tmp_path):
    config = load_config(write(tmp_path, GOOD), ENV)
    assert [s.name for s in config.sources] == ["ap", "erp", "erp2", "billing", "cloud"]
    assert config.source("ap").token.get_secret_value() == "mh-secret"
    assert config.source("erp2").base_url == "https://api.makini.io"  # trailing slash gone
    assert config.source("cloud").settings == CloudBillingSettings(tenant_slug="acme")
    assert "mh-secret" not in repr(config)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("    currency: USD", "    currency: USD\n    colour: blue"),
         "source 'ap': key 'colour': unknown key"),
        (("kind: makini\n    base_url: https://api.makini.io\n    token: ${MAKINI_TOKEN}",
          "kind: makini\n    base_url: https://api.makini.io"),
         "source 'erp': key 'token': required"),
        (("kind: invoicematic", "kind: quickbooks"), "source 'billing': key 'kind': unknown kind"),
        (("    tenant_slug: acme\n", ""), "source 'cloud': key 'tenant_slug': required"),
        (("name: erp2", "name: erp"), "source 'erp': key 'name': used twice"),
        (("token: ${CLOUD_JWT}", "token: ${NOT_SET_ANYWHERE}"),
         "source 'cloud': key 'token': environment variable NOT_SET_ANYWHERE is not set"),
        (("currency: USD", "currency: usd"), "source 'ap': key 'currency'"),
        (("    token: other-token", "    token: other-token\n    tenant_slug: x"),
         "source 'erp2': key 'tenant_slug': only a cloudbilling source takes it"),
    ],
)
def test_bad_file_names_source_and_key(tmp_path, edit, expected):
    old, new = edit
    assert old in GOOD
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD.replace(old, new, 1)), ENV)
    assert expected in str(caught.value)
    for secret in ENV.values():
        assert secret not in str(caught.value)


def test_bad_token_value_is_never_echoed(tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_config({"sources": [{"name": "x", "kind": "makini", "base_url": "ftp://nope",
                                   "token": "very-secret"}]}, {})
    assert "base_url" in str(caught.value)
    assert "very-secret" not in str(caught.value)


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(write(tmp_path, "sources: [\n  - name: a\n bad"), {})
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "missing.yaml", {})
    with pytest.raises(ConfigError, match="non-empty list"):
        load_config(write(tmp_path, "sources: []\n"), {})


def test_serve_with_bad_config_exits_with_message(tmp_path):
    path = write(tmp_path, GOOD.replace("kind: makini", "kind: nope", 1))
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(path)],
        capture_output=True, text=True, timeout=60, env={**ENV, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "source 'erp': key 'kind'" in result.stderr
    assert "Traceback" not in result.stderr


def test_early_reads_and_gc_pacing_are_off_unless_asked_for(tmp_path):
    config = load_config(write(tmp_path, GOOD), ENV)
    assert (config.early_reads, config.gc_pacing) == (False, False)
    on = load_config(write(tmp_path, GOOD + "early_reads: true\ngc_pacing: true\n"), ENV)
    assert (on.early_reads, on.gc_pacing) == (True, True)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD + "gc_pacing: sometimes\n"), ENV)
    assert "gc_pacing" in str(caught.value)
