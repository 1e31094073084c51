"""The Dockerfiles: hadolint-clean, pinned bases, and the operator image's Python set-up.

No Docker engine here: the images are linted and read, not built.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy import helpers
from tests.deploy.helpers import DOCKER, HOOK, REPO

DOCKERFILES = sorted(DOCKER.rglob("Dockerfile"))
OPERATOR = DOCKER / "operator" / "Dockerfile"
CONNECT = DOCKER / "connect" / "Dockerfile"
SEMVER = r"\d+\.\d+\.\d+"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result = []
    for text in logical:
        keyword, _, arguments = text.strip().partition(" ")
        result.append((keyword.upper(), " ".join(arguments.split())))
    return result


def of(dockerfile: Path, keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions(dockerfile) if name == keyword]


def test_there_are_the_two_dockerfiles() -> None:
    assert OPERATOR in DOCKERFILES and CONNECT in DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_reports_nothing_at_all(dockerfile: Path) -> None:
    done = subprocess.run(
        [
            helpers.hadolint(),
            "--format",
            "json",
            "--failure-threshold",
            "style",
            "--disable-ignore-pragma",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(done.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_base_image_is_pinned_to_a_release(dockerfile: Path) -> None:
    stages: set[str] = set()
    for arguments in of(dockerfile, "FROM"):
        words = [w for w in arguments.split() if not w.startswith("--")]
        image = words[0]
        if image in stages:
            continue
        assert "$" not in image, f"{image}: a variable base cannot be checked"
        assert not image.endswith(":latest")
        assert re.search(rf":v?{SEMVER}(@sha256:[0-9a-f]{{64}})?$", image), f"{image} is not pinned"
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_image_ends_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    users = of(dockerfile, "USER")
    assert users, "no USER: the image would run as its base's user"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, users[-1]


def test_the_operator_image_is_shell_operator_plus_python3_in_a_virtualenv() -> None:
    (base, *_) = of(OPERATOR, "FROM")
    assert re.match(rf"flant/shell-operator:v{SEMVER}\b", base), base
    runs = " ".join(of(OPERATOR, "RUN"))
    assert re.search(r"apk add --no-cache python3\b", runs)
    assert "-m venv /opt/venv" in runs
    assert "pip install" in runs and "--break-system-packages" not in runs
    env = " ".join(of(OPERATOR, "ENV"))
    assert re.search(r"PATH=/opt/venv/bin:\$\{?PATH\}?", env), "the venv's python3 is not first"
    copies = " ".join(of(OPERATOR, "COPY"))
    assert "--chmod=0755 hooks/connect-operator /hooks/connect-operator" in copies
    # The base's entrypoint (tini + shell-operator start) is kept.
    assert of(OPERATOR, "ENTRYPOINT") == [] and of(OPERATOR, "CMD") == []
    assert "9115" in " ".join(of(OPERATOR, "EXPOSE"))


def test_the_operator_image_runs_the_shell_operator_version_the_e2e_suite_tests() -> None:
    (base, *_) = of(OPERATOR, "FROM")
    tested = re.search(r"^SHELL_OPERATOR_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert tested, "the Makefile pins no SHELL_OPERATOR_VERSION"
    assert base.split()[0] == f"flant/shell-operator:{tested.group(1)}"


def test_the_operator_image_copies_files_that_exist_in_the_build_context() -> None:
    for arguments in of(OPERATOR, "COPY"):
        words = [w for w in arguments.split() if not w.startswith("--")]
        if "--from=" in arguments:
            continue
        for source in words[:-1]:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository root"


def test_the_hook_runs_with_the_images_python() -> None:
    assert HOOK.read_text().startswith("#!/usr/bin/env python3\n")
    assert HOOK.stat().st_mode & 0o111, "hooks/connect-operator is not executable"


def test_the_connect_image_installs_pinned_plugins_and_the_mysql_driver() -> None:
    (base,) = of(CONNECT, "FROM")
    assert re.fullmatch(rf"confluentinc/cp-(server|kafka)-connect:{SEMVER}", base), base
    arguments = dict(arg.split("=", 1) for arg in of(CONNECT, "ARG"))
    runs = " ".join(of(CONNECT, "RUN"))
    for plugin, version_arg in (
        ("confluentinc/kafka-connect-jdbc", "JDBC_CONNECTOR_VERSION"),
        ("confluentinc/kafka-connect-elasticsearch", "ELASTICSEARCH_CONNECTOR_VERSION"),
    ):
        assert f'confluent-hub install --no-prompt "{plugin}:${{{version_arg}}}"' in runs
        assert re.fullmatch(SEMVER, arguments[version_arg]), arguments[version_arg]
    assert re.fullmatch(SEMVER, arguments["MYSQL_DRIVER_VERSION"])
    (driver,) = of(CONNECT, "ADD")
    assert re.search(r"--checksum=sha256:[0-9a-f]{64}", driver)
    assert "mysql-connector-j-${MYSQL_DRIVER_VERSION}.jar" in driver
    assert of(CONNECT, "ENTRYPOINT") == ['["/opt/connect/start.sh"]']
    assert (CONNECT.parent / "start.sh").is_file()


def test_the_hadolint_check_finds_a_bad_dockerfile(tmp_path: Path) -> None:
    """The control for the lint test: the same command does report problems."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM alpine:latest\nRUN apk add curl\n")
    done = subprocess.run(
        [helpers.hadolint(), "--format", "json", "--failure-threshold", "style", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    codes = {finding["code"] for finding in json.loads(done.stdout)}
    assert {"DL3007", "DL3018"} <= codes
    assert done.returncode != 0


def test_the_operator_build_context_lets_through_exactly_what_the_image_copies() -> None:
    ignore = (OPERATOR.parent / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "the context should start from nothing"
    copied = set()
    for arguments in of(OPERATOR, "COPY"):
        if "--from=" in arguments:
            continue
        words = [w for w in arguments.split() if not w.startswith("--")]
        copied |= {source.rstrip("/") for source in words[:-1]}
    assert copied == allowed
