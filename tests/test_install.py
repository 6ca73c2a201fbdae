"""pyproject.toml: a wheel built from the checkout installs into a fresh virtual environment.

Offline: the wheel is built without build isolation (setuptools and wheel of this
environment), installed without dependencies, and the fresh environment reuses this
environment's site-packages (TensorFlow etc.) through a .pth file, after its own.
tests/test_journeys.py runs the user journeys in such an installation.
"""

import dataclasses
import glob
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


@dataclasses.dataclass
class Installed:
    """A fresh venv with the wheel installed: its python, its bin/, its site-packages, a
    directory outside the checkout, and the environment for its processes."""
    python: str
    bin: str
    site: str
    outside: str
    env: dict

    def run(self, *cmd, env=None, timeout=600):
        """Runs `cmd` (a console script by name, or python arguments) from `outside`."""
        first = os.path.join(self.bin, cmd[0]) if cmd[0].startswith("resnet-rs-") else cmd[0]
        return subprocess.run([first, *map(str, cmd[1:])], capture_output=True, text=True, timeout=timeout,
                              cwd=self.outside, env={**self.env, **(env or {})})


def install_wheel(tmp_path):
    """Builds the wheel from a copy of the checkout and installs it into a fresh venv (offline)."""
    source = tmp_path / "source"       # a copy, so the build leaves the checkout clean
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    for package in ("official", "configs"):
        shutil.copytree(os.path.join(ROOT, package), source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                  "-w", str(tmp_path / "dist"), str(source)])
    assert built.returncode == 0, built.stderr[-3000:]
    wheel, = glob.glob(str(tmp_path / "dist" / "*.whl"))

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr[-3000:]
    python = str(venv / "bin" / "python")
    installed = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel])
    assert installed.returncode == 0, installed.stderr[-3000:]
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    with open(os.path.join(site, "host_site_packages.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    outside = tmp_path / "elsewhere"    # not the checkout: nothing importable by accident
    outside.mkdir()
    return Installed(python, str(venv / "bin"), site, str(outside), env)


@pytest.mark.slow  # builds a wheel, creates a virtual environment (~40 s)
def test_wheel_installs_into_a_fresh_venv_with_the_library_and_console_scripts(tmp_path):
    installed = install_wheel(tmp_path)
    imported = installed.run(installed.python, "-c",
                             "import official, official.configs.finetune, official.applications as a; "
                             "print(official.__file__); print(a.imagenet_checkpoint(50)); "
                             "from official.data import imagenet_classes; print(len(imagenet_classes.names()))")
    assert imported.returncode == 0, imported.stderr[-3000:]
    where, name, classes = imported.stdout.split()
    assert where.startswith(installed.site) and name == "resnet-rs-50-i160" and classes == "1000"
    script = installed.run("resnet-rs-make-tfrecords", "--help")
    assert script.returncode == 0 and "--output_dir" in script.stdout, script.stderr[-3000:]
    assert "Traceback" not in script.stderr, script.stderr[-3000:]
