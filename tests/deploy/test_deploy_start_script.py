"""docker/connect/start.sh: mounted *.properties files -> the worker's CONNECT_* settings.

Run with bash in its --render-only mode, which writes the settings it would export to a file
instead of starting the worker. A canary secret must never reach stdout or stderr, even under
`bash -x`; values keep every `=` after the first separator; Java properties syntax is honoured.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers import DOCKER

START = DOCKER / "connect" / "start.sh"
CANARY = "CANARY-d0-not-print=me=="
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    f'username="api-key" password="{CANARY}";'
)


def bash() -> str:
    found = shutil.which("bash")
    if not found:
        pytest.fail("bash is not installed")
    return found


def render(
    config_dir: Path, out: Path, *, trace: bool = False, env: dict[str, str] | None = None
) -> tuple[dict[str, str], str]:
    """Run the script; return (settings it wrote, everything it printed)."""
    command = [bash(), *(["-x"] if trace else []), str(START), "--render-only", str(out)]
    done = subprocess.run(
        command,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "POD_IP": "10.1.2.3",
            "WORKER_PROPERTIES_DIR": str(config_dir),
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed
    records = (out / "worker.env").read_bytes().split(b"\0")
    settings = dict(record.decode().split("=", 1) for record in records if record)
    return settings, printed


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def mounted(tmp_path: Path) -> Path:
    """A folder laid out like mounted Secrets: files, a sub-folder and a ..data dot-folder."""
    config = tmp_path / "config"
    write(
        config / "kafka.properties",
        "# Kafka client\nbootstrap.servers=broker-1:9092,broker-2:9092\n"
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
        f"sasl.jaas.config={JAAS}\n",
    )
    write(
        config / "sr" / "schema-registry.properties",
        "schema.registry.url=https://sr.example:8081\n"
        f"basic.auth.credentials.source=USER_INFO\nschema.registry.basic.auth.user.info=sr:{CANARY}\n",
    )
    write(config / "..data" / "stale.properties", "bootstrap.servers=from-a-dot-folder:9092\n")
    return config


def test_a_canary_secret_never_reaches_the_output(mounted: Path, tmp_path: Path) -> None:
    settings, printed = render(mounted, tmp_path / "out")
    assert CANARY not in printed
    assert "sasl.jaas.config" in printed, "the script should name the keys it uses"
    assert CANARY in settings["CONNECT_SASL_JAAS_CONFIG"]


def test_not_even_bash_x_prints_a_secret(mounted: Path, tmp_path: Path) -> None:
    _, printed = render(mounted, tmp_path / "out", trace=True)
    assert CANARY not in printed


def test_the_script_never_turns_tracing_on() -> None:
    text = START.read_text()
    assert "set +x" in text
    assert "set -x" not in text and "xtrace" not in text


def test_values_keep_every_equals_sign(mounted: Path, tmp_path: Path) -> None:
    settings, _ = render(mounted, tmp_path / "out")
    assert settings["CONNECT_SASL_JAAS_CONFIG"] == JAAS
    for prefix in ("PRODUCER_", "CONSUMER_", "ADMIN_"):
        assert settings[f"CONNECT_{prefix}SASL_JAAS_CONFIG"] == JAAS
    assert settings["CONNECT_VALUE_CONVERTER_BASIC_AUTH_USER_INFO"] == f"sr:{CANARY}"


def test_client_schema_registry_and_default_settings_are_mapped(
    mounted: Path, tmp_path: Path
) -> None:
    settings, _ = render(mounted, tmp_path / "out")
    assert settings["CONNECT_BOOTSTRAP_SERVERS"] == "broker-1:9092,broker-2:9092"
    assert settings["CONNECT_CONSUMER_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert settings["CONNECT_KEY_CONVERTER_SCHEMA_REGISTRY_URL"] == "https://sr.example:8081"
    assert settings["CONNECT_VALUE_CONVERTER_BASIC_AUTH_CREDENTIALS_SOURCE"] == "USER_INFO"
    assert settings["CONNECT_VALUE_CONVERTER"] == "io.confluent.connect.avro.AvroConverter"
    assert settings["CONNECT_REST_ADVERTISED_HOST_NAME"] == "10.1.2.3"
    assert settings["CONNECT_REST_PORT"] == "8083"


def test_dot_folders_such_as_a_secrets_data_link_are_skipped(mounted: Path, tmp_path: Path) -> None:
    settings, printed = render(mounted, tmp_path / "out")
    assert "from-a-dot-folder" not in settings["CONNECT_BOOTSTRAP_SERVERS"]
    assert "stale.properties" not in printed


def test_it_works_with_no_files_mounted(tmp_path: Path) -> None:
    settings, printed = render(tmp_path / "nothing-here", tmp_path / "out")
    assert settings["CONNECT_KEY_CONVERTER"] == "org.apache.kafka.connect.json.JsonConverter"
    assert "CONNECT_BOOTSTRAP_SERVERS" not in settings
    assert "no bootstrap.servers" in printed


def test_the_environment_wins_over_the_files(mounted: Path, tmp_path: Path) -> None:
    settings, printed = render(
        mounted,
        tmp_path / "out",
        env={"CONNECT_BOOTSTRAP_SERVERS": "override:9092", "CONNECT_GROUP_ID": "mine"},
    )
    assert settings["CONNECT_BOOTSTRAP_SERVERS"] == "override:9092"
    assert settings["CONNECT_GROUP_ID"] == "mine"
    assert "kept from the environment" in printed


def test_the_rendered_file_is_private(mounted: Path, tmp_path: Path) -> None:
    render(mounted, tmp_path / "out")
    mode = stat.S_IMODE((tmp_path / "out" / "worker.env").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("worker.a.b=x=y", "x=y"),
        ("worker.a.b = spaced = value", "spaced = value"),
        ("worker.a.b: colon", "colon"),
        ("worker.a.b   whitespace separated", "whitespace separated"),
        ("worker.a.b=first \\\n    second", "first second"),
        ("worker.a.b=ends in an escaped backslash\\\\", "ends in an escaped backslash\\"),
        ("# worker.a.b=comment\n! worker.a.b=bang\nworker.a.b=real", "real"),
        ("worker.a.b=tab\\tand\\u00e9", "tab\tand\u00e9"),
        ("  worker.a.b=leading blanks", "leading blanks"),
        ("worker.a.b=\r\n", ""),
        ("worker.a.b=no final newline", "no final newline"),
    ],
)
def test_java_properties_syntax_is_honoured(text: str, expected: str, tmp_path: Path) -> None:
    write(tmp_path / "config" / "worker.properties", text)
    settings, _ = render(tmp_path / "config", tmp_path / "out")
    assert settings["CONNECT_A_B"] == expected


def test_worker_keys_with_underscores_and_dashes_use_the_cp_escapes(tmp_path: Path) -> None:
    write(tmp_path / "config" / "w.properties", "worker.my_key-name=1\nworker.a\\=b=2\n")
    settings, printed = render(tmp_path / "config", tmp_path / "out")
    assert settings["CONNECT_MY__KEY___NAME"] == "1"
    # `a=b` cannot be an environment variable name: skipped and said so, not a crash.
    assert "ignoring property 'a=b'" in printed
