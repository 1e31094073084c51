"""The operator image's runtime dependencies exist as binary wheels for the image.

No image can be built here, so its Python layer is proven part by part: pip resolves the
package's runtime dependencies (``install_requires`` in setup.cfg) from PyPI as binary wheels
only, for the image's platforms (Alpine, so musllinux, on x86_64 and aarch64) and for the exact
Python minor version the Dockerfile installs (``apk add python3~X.Y``). A dependency without such
a wheel fails here rather than in the image build, where pip would need a compiler the image
does not have.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.helpers import DOCKER, REPO

OPERATOR_DOCKERFILE = DOCKER / "operator" / "Dockerfile"
ARCHITECTURES = ("x86_64", "aarch64")
# Alpine 3.22's musl is 1.2; wheels tagged for musl 1.1 run on it too.
MUSLLINUX = ("musllinux_1_2", "musllinux_1_1")


def image_python_minor() -> str:
    """The X.Y of every `python3~X.Y` the operator Dockerfile installs (one version)."""
    versions: set[str] = set(re.findall(r"\bpython3~(\d+\.\d+)\b", OPERATOR_DOCKERFILE.read_text()))
    assert len(versions) == 1, f"the Dockerfile pins python3 to {sorted(versions) or 'nothing'}"
    return versions.pop()


def runtime_requirements() -> list[str]:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    return [line.strip() for line in config["options"]["install_requires"].splitlines() if line]


def download_wheels(
    architecture: str, python_minor: str, requirements: list[str], destination: Path
) -> subprocess.CompletedProcess[str]:
    """pip download, binary wheels only, for one musllinux architecture and CPython minor."""
    abi = f"cp{python_minor.replace('.', '')}"
    platforms = [option for tag in MUSLLINUX for option in ("--platform", f"{tag}_{architecture}")]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            *platforms,
            "--python-version",
            python_minor,
            "--implementation",
            "cp",
            *("--abi", abi, "--abi", "abi3", "--abi", "none"),
            "--dest",
            str(destination),
            *requirements,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_image_installs_one_python_minor_version() -> None:
    assert re.fullmatch(r"3\.\d+", image_python_minor())


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_runtime_dependency_has_a_wheel_for_the_image(
    architecture: str, tmp_path: Path
) -> None:
    python_minor = image_python_minor()
    requirements = runtime_requirements()

    done = download_wheels(architecture, python_minor, requirements, tmp_path)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    wheels = sorted(path.name for path in tmp_path.iterdir())
    assert all(name.endswith(".whl") for name in wheels), wheels
    names = {re.sub(r"[-_.]+", "-", name.split("-")[0]).lower() for name in wheels}
    wanted = {re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0].lower() for line in requirements}
    assert wanted <= names, f"missing {wanted - names} in {wheels}"
    abi = f"cp{python_minor.replace('.', '')}"
    for name in wheels:
        _python_tag, abi_tag, platform_tag = name[: -len(".whl")].split("-")[-3:]
        if platform_tag == "any":
            continue
        assert platform_tag.startswith(MUSLLINUX) and platform_tag.endswith(architecture), name
        assert abi_tag in (abi, "abi3"), name


def test_the_wheel_check_fails_for_a_python_that_has_no_wheels(tmp_path: Path) -> None:
    """The control: the same command does fail when no wheel fits (jq has none for 3.5)."""
    done = download_wheels("x86_64", "3.5", ["jq>=1.6"], tmp_path)

    assert done.returncode != 0
    assert not list(tmp_path.glob("*.whl"))
