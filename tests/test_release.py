"""What a user sees of the release: `tinyio.__version__`, the README's statement of which release
it describes, and the changelog."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import tinyio

ROOT = Path(__file__).resolve().parent.parent


def _project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["version"]


def test_version_is_the_installed_package_metadata() -> None:
    assert tinyio.__version__ == importlib.metadata.version("tinyio")
    assert tinyio.__version__ == _project_version()


def test_a_source_tree_that_was_never_installed_has_an_unknown_version(monkeypatch) -> None:
    # `import tinyio` from a checkout on sys.path, with no metadata: a version that says so,
    # not a PackageNotFoundError out of a plain attribute.
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    assert tinyio.__version__  # looked up once: the fixture below puts it back afterwards
    monkeypatch.delitem(vars(tinyio), "__version__")
    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert tinyio.__version__ == "0+unknown"


def test_importing_tinyio_does_not_import_package_metadata() -> None:
    # `__version__` is computed on first use, so that `import tinyio` stays cheap.
    code = "import sys, tinyio; print('importlib.metadata' in sys.modules, tinyio.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", _project_version()]


def test_unknown_attribute_of_the_package_is_still_an_attribute_error() -> None:
    code = "import tinyio\ntry:\n    tinyio.no_such_name\nexcept AttributeError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "module 'tinyio' has no attribute 'no_such_name'"


def test_readme_states_the_release_it_describes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"version {_project_version()}" in readme
    assert "0.4.0" in readme  # the release on the package index, which it is compared with


def test_changelog_has_an_unreleased_section_while_the_version_is_a_development_one() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[-1] == "0.4.0"
    if ".dev" in _project_version():
        assert headings[0] == "Unreleased"
    else:
        assert headings[0] == _project_version()
