"""What tests/test_install.py and tests/test_deploy_files.py share: the distributions and the Dockerfile's wheel install.

The Dockerfile's install step is the one source of the install command: the install test runs it against the
wheels it builds (only the two paths differ), so what the container gets is what the test exercised.
"""

from __future__ import annotations

import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
#: The built-in plugins, each a distribution of its own in plugins/<name>/ (chatshop-connector-<name>).
BUILT_IN_PLUGINS = ("shopify", "woocommerce", "shopware", "meta", "whatsapp", "messenger")
#: Every folder with a pyproject.toml that ships: the core and the built-in plugins.
DISTRIBUTIONS = (ROOT, *(ROOT / "plugins" / name for name in BUILT_IN_PLUGINS))
#: Where the Dockerfile keeps the wheels and the virtual environment.
IMAGE_WHEELS = "/wheels"
IMAGE_VENV = "/opt/connector"
INSTALL_MARKER = "# The wheel install"


def dockerfile_wheel_install() -> list[str]:
    """The ``pip install`` argv of the Dockerfile's wheel install step (the ``RUN`` after :data:`INSTALL_MARKER`)."""
    lines = DOCKERFILE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(INSTALL_MARKER))
    run = next(line for line in lines[start:] if not line.startswith("#"))
    assert run.startswith("RUN "), f"after {INSTALL_MARKER!r} comes no RUN instruction but {run!r}"
    steps = [shlex.split(step) for step in run[len("RUN ") :].split("&&")]
    [install] = [argv for argv in steps if argv[:2] == [f"{IMAGE_VENV}/bin/pip", "install"]]
    return install


def wheel_install_argv(venv: Path, wheels: Path) -> list[str]:
    """The Dockerfile's install command for the virtual environment ``venv`` and the wheels in ``wheels``.

    Only the two paths change; a glob (``/wheels/*.whl``) is expanded as the Dockerfile's shell does.
    """
    argv: list[str] = []
    for arg in dockerfile_wheel_install():
        if arg.startswith(f"{IMAGE_VENV}/"):
            argv.append(str(venv / arg[len(IMAGE_VENV) + 1 :]))
        elif arg.startswith(f"{IMAGE_WHEELS}/") and "*" in arg:
            argv.extend(str(path) for path in sorted(wheels.glob(arg[len(IMAGE_WHEELS) + 1 :])))
        elif arg.startswith(f"{IMAGE_WHEELS}/"):
            argv.append(str(wheels / arg[len(IMAGE_WHEELS) + 1 :]))
        else:
            argv.append(arg)
    return argv
