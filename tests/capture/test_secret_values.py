"""Secrets found by their value as well as their name, and every literal secret scrubbed wherever it is captured."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
from tests.capture.conftest import git, needs_git
from tests.conftest import everything_stored

import recordkit as rk
from recordkit.capture import REDACTED, capture_environment, capture_git, redact_env, scrub_config
from recordkit.capture.redaction import redact_argv, redact_diff
from recordkit.capture.secrets import known_secrets

AZURE = ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==;"
         "EndpointSuffix=core.windows.net")


@pytest.mark.parametrize(
    ("value", "secret", "kept"),
    [
        pytest.param("host=db user=bob password=pg-pass-771 dbname=runs", "pg-pass-771", "dbname=runs", id="dsn"),
        pytest.param(AZURE, "Zm9vYmFy", "AccountName=acct", id="azure-account-key"),
        pytest.param("https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx", "abcdefghijkl",
                     "https://hooks.slack.com/", id="slack-webhook"),
        pytest.param("https://discord.com/api/webhooks/123456/tok-en_value", "tok-en_value", "discord.com",
                     id="discord-webhook"),
        pytest.param("Authorization: Bearer eyJhbGciOi.abc123", "eyJhbGciOi", "Authorization:", id="header"),
        pytest.param("curl -H 'X-Api-Key: k-live-2291' https://api", "k-live-2291", "https://api", id="api-key-header"),
        pytest.param("bearer abcdef0123456789", "abcdef0123456789", "bearer", id="bearer"),
        pytest.param("mysql://root:rootpw99@db:3306/x", "rootpw99", "mysql://root@db:3306/x", id="url-user-pass"),
        pytest.param("https://acct.blob.core.windows.net/c?sv=2020&sig=SiGnAtUrE%3D", "SiGnAtUrE", "sv=2020",
                     id="sas-signature"),
        pytest.param("s3 key AKIAABCDEFGHIJKLMNOP in text", "AKIAABCDEFGHIJKLMNOP", "", id="aws-access-key"),
        pytest.param("https://x/y?access_token=tok999zzz&page=2", "tok999zzz", "page=2", id="query-token"),
    ],
)
def test_secrets_under_innocent_names_are_found_by_their_value(value: str, secret: str, kept: str) -> None:
    out = redact_env({"INNOCENT_SETTING": value})["INNOCENT_SETTING"]
    assert secret not in out and (REDACTED in out or out == kept)  # a URL's password just goes
    assert kept in out  # only the secret part goes, where the format allows


@pytest.mark.parametrize(
    "value",
    ["ubuntu:22.04", "Basic training", "key_fn = get_key()", "monkey=banana", "/usr/bin:/bin", "0.001", "token limit"],
)
def test_innocent_values_are_kept(value: str) -> None:
    environ = {"IMAGE": value, "XDG_SESSION_DESKTOP": "ubuntu", "DESKTOP_SESSION": "ubuntu", "KEY_TIMEOUT": "30"}
    assert redact_env(environ)["IMAGE"] == value  # short secret-named values are not scrubbed elsewhere


def test_known_secrets_are_the_values_of_secret_variables_and_secret_parts() -> None:
    environ = {"MY_PASSWORD": "pw-literal-5531", "DB_URL": "postgresql://u:urlpw-8812@h/db", "KEY_TIMEOUT": "30",
               "SSH_AUTH_SOCK": "/tmp/ssh-x/agent.1", "HOME": "/root", "ALLOWED_TOKEN": "allowed-value-1"}
    from recordkit.capture.secrets import Policy

    assert known_secrets(environ, Policy(allow=["ALLOWED_TOKEN"])) == {"pw-literal-5531", "urlpw-8812"}


def test_command_lines_lose_their_secrets() -> None:
    argv = ["train.py", "-p", "sshpass-pw-1", "--password", "pw-2", "-u", "bob:curl-pw-3",
            "--header", "Authorization: Bearer bearer-tok-4444", "-H", "Cookie: session=cookie-5555",
            "--header=Authorization: Basic dXNlcjpwYXNzd29yZA==", "--dsn", "host=db password=dsn-pw-6",
            "--echo", "the-env-secret-77", "-p", "8080", "--lr", "0.1"]
    out = redact_argv(argv, secrets={"the-env-secret-77"})
    text = " ".join(out)
    for secret in ("sshpass-pw-1", "pw-2", "curl-pw-3", "bearer-tok-4444", "cookie-5555", "dXNlcjpwYXNzd29yZA",
                   "dsn-pw-6", "the-env-secret-77"):
        assert secret not in text
    assert out[:7] == ["train.py", "-p", REDACTED, "--password", REDACTED, "-u", f"bob:{REDACTED}"]
    assert out[-4:] == ["-p", "8080", "--lr", "0.1"]  # a number after -p is a port as often as a password


def test_diff_lines_that_set_secrets_are_redacted() -> None:
    diff = (
        b'+os.environ["MY_PASSWORD"] = "environ-pw-1"\n'
        b"+os.environ['API_TOKEN']='environ-tok-2'\n"
        b'+keyring.set_password("service", "bob", "keyring-pw-3")\n'
        b'+client.login_with_api_key("apikey-4")\n'
        b'+monkeypatch.setenv("DB_PASSWORD", "setenv-pw-5")\n'
        b'+os.environ.setdefault("HF_TOKEN", "setdefault-6")\n'
        b'+print("pasted the-env-secret-77 here")\n'
        b'+batch = tokenizer("hello world")\n'
        b"+key_fn = get_key()\n"
    )
    out, changed = redact_diff(diff, secrets={"the-env-secret-77"})
    for secret in (b"environ-pw-1", b"environ-tok-2", b"keyring-pw-3", b"apikey-4", b"setenv-pw-5", b"setdefault-6",
                   b"the-env-secret-77"):
        assert secret not in out
    assert changed == 7
    assert b'+os.environ["MY_PASSWORD"] = "<redacted>"' in out
    assert b'+batch = tokenizer("hello world")\n+key_fn = get_key()\n' in out  # code is kept


def test_config_strings_are_scrubbed_of_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "cfg-secret-9981")
    config = {"dsn": "host=db password=cfg-secret-9981", "lr": 0.1, "nested": ["x cfg-secret-9981"]}
    assert scrub_config(config) == {"dsn": f"host=db password={REDACTED}", "lr": 0.1, "nested": [f"x {REDACTED}"]}
    assert scrub_config(config, allow=["DB_PASSWORD"]) == config  # an allowed variable is no secret


@needs_git
def test_the_literal_value_of_a_secret_variable_is_scrubbed_from_the_diff(
    clean_repo: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "diff-secret-4242")
    (clean_repo / "train.py").write_text("print('hello')\nconnect('db', 'diff-secret-4242')\n")
    env, files = capture_environment(parts=["git", "env_vars"], cwd=str(clean_repo))
    assert b"diff-secret-4242" not in files["git.diff"] and b"connect('db', '<redacted>')" in files["git.diff"]
    assert env["git"]["diff"]["redacted_lines"] == 1
    assert capture_git(str(clean_repo))[1]["git.diff"].count(b"diff-secret-4242") == 1  # without secrets given


CHILD = """
import os, sys
import recordkit as rk
store = rk.open(sys.argv[1], **({"files": sys.argv[2]} if sys.argv[1].startswith("postgres") else {}))
config = {"dsn": os.environ["APP_DSN"], "copy": "uses " + os.environ["MY_API_PASSWORD"], "lr": 0.1}
with store.collection("study").start_run(config=config) as run:
    run.log(x=1.0)
    run.update_config(later="again " + os.environ["MY_API_PASSWORD"])
print(run.id)
"""

SECRETS = ("proc-secret-3141", "dsn-pass-2718", "argv-pw-1618", "bearer-tok-1414", "azure-key-1732")


@pytest.mark.backends("sqlite", "postgres")
@needs_git
def test_no_secret_of_a_real_process_reaches_the_store(
    store_kind: str, store_url: str, store_path: Path, clean_repo: pathlib.Path
) -> None:
    (clean_repo / "train.py").write_text(CHILD)
    (clean_repo / "notes.py").write_text('API = "proc-secret-3141"\n')
    git(clean_repo, "add", "notes.py")
    git(clean_repo, "commit", "-q", "-m", "notes")
    (clean_repo / "notes.py").write_text('API = "proc-secret-3141"\nDSN = "host=db password=dsn-pass-2718"\n')
    env = {**os.environ, "MY_API_PASSWORD": "proc-secret-3141", "APP_DSN": "host=db password=dsn-pass-2718",
           "AZURE_CONN": "AccountName=a;AccountKey=azure-key-1732;", "HARMLESS": "visible-value"}
    done = subprocess.run(
        [sys.executable, "train.py", store_url, str(store_path), "-p", "argv-pw-1618",
         "--header", "Authorization: Bearer bearer-tok-1414", "--echo", "proc-secret-3141"],
        cwd=clean_repo, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    store = rk.open(store_url, files=store_path) if store_kind == "postgres" else rk.open(store_url)
    try:
        everything = everything_stored(store)
        for secret in SECRETS:
            assert secret.encode() not in everything, secret
        run = store.run(done.stdout.split()[-1])
        assert run.config["lr"] == 0.1 and run.config["dsn"] == f"host=db password={REDACTED}"
        assert run.config["later"] == f"again {REDACTED}"
        assert run.env["env_vars"]["HARMLESS"] == "visible-value"
        assert run.env["process"]["argv"][-6:] == ["-p", REDACTED, "--header", f"Authorization: {REDACTED}",
                                                   "--echo", REDACTED]
        assert run.env["git"]["diff"]["redacted_lines"] == 2 and len(list(run.records)) == 1
    finally:
        store.close()
