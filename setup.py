"""Package discovery for the built-in plugins; all metadata lives in pyproject.toml.

Each built-in plugin lives in ``plugins/<name>/`` (a folder with an ``__init__.py``) and installs as
the top-level package ``connector_<name>``. A folder with its own ``pyproject.toml`` (such as
``plugins/example-greeter``) is a separate distribution and is not part of this one.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
package_dir = {"connector": "connector"}
packages = find_packages(include=["connector", "connector.*"])
for folder in sorted((ROOT / "plugins").iterdir()):
    if not (folder / "__init__.py").is_file() or (folder / "pyproject.toml").exists():
        continue
    name = f"connector_{folder.name}"
    package_dir[name] = f"plugins/{folder.name}"
    packages.append(name)
    packages.extend(f"{name}.{sub}" for sub in find_packages(str(folder)))

setup(packages=packages, package_dir=package_dir)
