"""The conda environments in envs/ pin the same versions as the package (pyproject.toml)."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from conftest import REPO

# conda-forge name -> PyPI name, where they differ
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}


def package_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    # the dependencies, and the optional landmark aligner that the features env carries
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["align"]]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)", requirement)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def env_pins(path) -> dict[str, str]:
    pins = {}
    for dependency in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(dependency, dict):
            for requirement in dependency.get("pip", []):
                name, _, version = requirement.partition("==")
                if version:
                    pins[name.lower()] = version
        elif "=" in dependency:
            name, version = dependency.split("=", 1)
            pins[CONDA_TO_PYPI.get(name, name).lower()] = version
    return pins


ENVS = sorted((REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env", ENVS, ids=[p.stem for p in ENVS])
def test_env_pins_agree_with_the_package(env):
    package = package_pins()
    pins = env_pins(env)
    pins.pop("python")
    assert pins, f"{env.name} pins nothing"
    for name, version in pins.items():
        assert name in package, f"{env.name} pins {name}, which pyproject.toml does not"
        assert version == package[name], f"{env.name}: {name} {version} != {package[name]}"


def test_every_rule_uses_an_existing_env():
    rules = (REPO / "rules").glob("*.smk")
    named = {m for path in rules for m in re.findall(r'"\.\./envs/(\w+)\.yaml"', path.read_text())}
    assert named == {p.stem for p in ENVS}
