"""The first hour of a new user: the README's walkthrough as written, and ``scripts/serve``.

The walkthrough's commands are read from the README's fenced blocks marked
``<!-- walkthrough -->`` (so the README and this test cannot drift apart) and run by bash, one
script, in a fresh home directory: the real ``scripts/serve``, AWS CLI, pip (with
``aws codeartifact login --tool pip``), ``python -m build``, twine and uv. Only the port is
changed. ``public:pypi`` is a static index served here with setuptools rebuilt from the test
environment, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import (
    BIN,
    Dist,
    DistSpec,
    free_port,
    run,
    tool,
    wheel_from_installed,
)
from tests.integration.test_upstreams import StaticIndex

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
_BLOCK = re.compile(r"^<!-- walkthrough(?:: (?P<part>[\w-]+))? -->\n```bash\n(?P<code>.*?)^```$",
                    re.MULTILINE | re.DOTALL)


def walkthrough(part: str = "") -> str:
    """The README's walkthrough blocks of one part ("" for the main one), in order."""
    blocks = [m["code"] for m in _BLOCK.finditer(README.read_text())
              if (m["part"] or "") == part]
    assert blocks, f"README.md has no <!-- walkthrough{': ' + part if part else ''} --> block"
    return "\n".join(blocks)


def _wait_for_health(url: str, proc: subprocess.Popen[bytes], log: Path,
                     timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url}/health did not answer within {timeout} s:\n{log.read_text()}")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End the process group a test started (bash, and the server it left running)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the server may outlive bash, its parent
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


@dataclass
class NewUser:
    """A fresh home (with a Python virtual environment once asked), and a Packyard checkout.

    The venv is made by ``python -m venv`` (its own pip, as a user's has) and sees the test
    environment's packages (build) through a .pth file; the AWS CLI, twine and uv are the test
    environment's. The checkout holds ``scripts/serve`` and a ``.venv`` it finds ready (its
    ``packyard`` is the test environment's), so the script starts without setting up.
    """

    home: Path
    checkout: Path

    @property
    def venv(self) -> Path:
        return self.home / "venv"

    def make_venv(self) -> None:
        run([sys.executable, "-m", "venv", self.venv], self.env(), timeout=120)
        site_packages = next((self.venv / "lib").glob("python3*/site-packages"))
        (site_packages / "packyard-test-env.pth").write_text(
            sysconfig.get_paths()["purelib"] + "\n")

    @property
    def pip_conf(self) -> Path:
        return self.home / ".config" / "pip" / "pip.conf"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in {"LANG", "LC_ALL", "TZ", "TERM"}}
        env.update({
            "HOME": str(self.home),
            "PATH": os.pathsep.join([str(self.venv / "bin"), str(BIN), "/usr/local/bin",
                                     "/usr/bin", "/bin"]),
            "VIRTUAL_ENV": str(self.venv),  # as `source ~/venv/bin/activate` sets it
            # This machine's /etc/xdg/pip/pip.conf is not a new user's.
            "XDG_CONFIG_DIRS": str(self.home / ".xdg-system"),
            "NO_PROXY": "*",
            "no_proxy": "*",
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "PYTHONNOUSERSITE": "1",
        })
        env.update(extra)
        return env


def _project(path: Path) -> None:
    """The user's project of the walkthrough: my-package 1.0.0, built by setuptools."""
    (path / "src" / "my_package").mkdir(parents=True)
    (path / "src" / "my_package" / "__init__.py").write_text('GREETING = "hello from 1.0.0"\n')
    (path / "README.md").write_text("# my-package\n\nThe walkthrough's package.\n")
    (path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n'
        '\n[project]\nname = "my-package"\nversion = "1.0.0"\n'
        'description = "The walkthrough\'s package"\nreadme = "README.md"\n'
        'requires-python = ">=3.8"\n')


@pytest.fixture
def new_user(tmp_path: Path) -> NewUser:
    home = tmp_path / "home"
    (home / ".xdg-system").mkdir(parents=True)
    user = NewUser(home, tmp_path / "packyard")
    (user.checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "serve", user.checkout / "scripts" / "serve")
    shutil.copy2(REPO / "pyproject.toml", user.checkout / "pyproject.toml")
    (user.checkout / ".venv" / "bin").mkdir(parents=True)
    (user.checkout / ".venv" / "bin" / "packyard").symlink_to(tool("packyard"))
    (user.checkout / ".venv" / ".installed").write_text("editable\n")
    return user


@pytest.fixture
def public_pypi(tmp_path: Path) -> Iterator[StaticIndex]:
    """What public:pypi reaches: setuptools (for `python -m build`) and wheel, no internet."""
    wheels = tmp_path / "public-wheels"
    wheels.mkdir()
    index = StaticIndex()
    for name in ("setuptools", "wheel"):
        path = wheel_from_installed(name, wheels)
        version = path.name.split("-")[1]
        index.add(Dist(DistSpec(name=name, version=version), path))
    index.start()
    yield index
    index.stop()


def test_the_readme_walkthrough_runs_as_written_with_the_pip_login(
        new_user: NewUser, public_pypi: StaticIndex, tmp_path: Path) -> None:
    new_user.make_venv()
    _project(new_user.home / "my-package")
    port = free_port()
    script = walkthrough()
    for command in ("scripts/serve", "associate-external-connection",
                    "login --tool pip", "python -m build", "twine upload", "pip install",
                    "uv pip install"):
        assert command in script, f"the walkthrough no longer runs `{command}`"
    log = tmp_path / "walkthrough.log"
    (tmp_path / "walkthrough.sh").write_text(
        "PS4='+ $SECONDS '\nset -euo pipefail -x\n" + script.replace("8080", str(port)))
    env = new_user.env(PACKYARD_PYPI_UPSTREAM_URL=public_pypi.url)
    with log.open("wb") as out:
        bash = subprocess.Popen(["bash", str(tmp_path / "walkthrough.sh")], cwd=new_user.checkout,
                                env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            code = bash.wait(300)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, f"the walkthrough failed ({code}):\n{log.read_text()[-12000:]}"
        output = log.read_text()

        # setuptools came from public:pypi through my-repo, into the build's own environment.
        setuptools = next(n for f in public_pypi.projects.values() for n in f
                          if n.startswith("setuptools-"))
        assert public_pypi.file_requests(setuptools) >= 1, output[-6000:]
        assert '"originType": "EXTERNAL"' in output
        assert "Successfully installed my-package-1.0.0" in output
        for python in (new_user.venv / "bin" / "python",
                       new_user.home / "uv-demo" / "bin" / "python"):
            greeting = run([python, "-c", "import my_package; print(my_package.GREETING)"],
                           env).stdout
            assert greeting.strip() == "hello from 1.0.0"
        assert (new_user.home / "my-package" / "out.whl").stat().st_size > 0
        assert f"127.0.0.1:{port}/my-domain-000000000000/pypi/my-repo/simple/" in (
            new_user.pip_conf.read_text())
    finally:
        _stop_group(bash)

    # With the login in place (pip's index is my-repo, now stopped), scripts/serve still starts.
    serve_port = free_port()
    serve_log = tmp_path / "serve.log"
    with serve_log.open("wb") as out:
        serve = subprocess.Popen([new_user.checkout / "scripts" / "serve", "--port",
                                  str(serve_port)], cwd=new_user.home, env=env,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        _wait_for_health(f"http://127.0.0.1:{serve_port}", serve, serve_log)
    finally:
        _stop_group(serve)
    assert f"scripts/serve: starting: packyard serve --port {serve_port}" in serve_log.read_text()

    # With the JSON server log, each line it writes is JSON: scripts/serve adds none of its own.
    json_log = tmp_path / "serve-json.log"
    with json_log.open("wb") as out:
        serve = subprocess.Popen([new_user.checkout / "scripts" / "serve", "--port",
                                  str(serve_port), "--log-format", "json"], cwd=new_user.home,
                                 env=env, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_health(f"http://127.0.0.1:{serve_port}", serve, json_log)
    finally:
        _stop_group(serve)
    lines = json_log.read_text().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines), lines

    # The README's way back to PyPI.
    run(["bash", "-euo", "pipefail", "-c", walkthrough("undo")], env, cwd=new_user.home)
    assert "index-url" not in new_user.pip_conf.read_text()


def _stand_in_checkout(checkout: Path) -> Path:
    """A checkout holding scripts/serve and a project whose `packyard` command is the module
    ``packyard_stand_in`` (the caller writes it): set up with setuptools alone, offline."""
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "serve", checkout / "scripts" / "serve")
    (checkout / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n'
        '\n[project]\nname = "packyard-stand-in"\nversion = "0"\n'
        '\n[project.scripts]\npackyard = "packyard_stand_in:main"\n'
        '\n[tool.setuptools]\npy-modules = ["packyard_stand_in"]\n')
    return checkout


def test_serve_sets_up_its_venv_step_by_step_whatever_the_users_pip_configuration(
        new_user: NewUser, tmp_path: Path) -> None:
    # A Packyard checkout whose project is a stand-in: a `packyard` command that runs the test
    # environment's, so that setting it up needs only setuptools (and pip), found offline.
    checkout = _stand_in_checkout(tmp_path / "stand-in")
    (checkout / "packyard_stand_in.py").write_text(
        "import os\nimport sys\n\n\ndef main() -> None:\n"
        f"    os.execv({str(tool('packyard'))!r}, [{str(tool('packyard'))!r}, *sys.argv[1:]])\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("setuptools", "pip"):
        wheel_from_installed(name, wheels)
    # The user's pip configuration as `aws codeartifact login --tool pip` leaves it for a
    # server that is not running, plus a tripwire: a pip that reads this file fails at once.
    new_user.pip_conf.parent.mkdir(parents=True, exist_ok=True)
    new_user.pip_conf.write_text(
        "[global]\n"
        "index-url = http://aws:expired@127.0.0.1:9/my-domain-000000000000/pypi/my-repo/simple/\n"
        f"constraint = {tmp_path / 'no-such-constraints.txt'}\n")
    (tmp_path / "tmp").mkdir()
    env = new_user.env(PYTHON=getattr(sys, "_base_executable", sys.executable),
                       PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), TMPDIR=str(tmp_path / "tmp"))

    port = free_port()
    log = tmp_path / "serve.log"
    for start in ("first", "second"):
        with log.open("wb") as out:
            serve = subprocess.Popen([checkout / "scripts" / "serve", "--port", str(port)],
                                     cwd=new_user.home, env=env, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            _wait_for_health(f"http://127.0.0.1:{port}", serve, log)
        finally:
            _stop_group(serve)
        said = [line for line in log.read_text().splitlines()
                if line.startswith("scripts/serve: ")]
        if start == "first":
            assert said[0] == ("scripts/serve: setting up .venv (once; a few minutes, mostly "
                               "downloads from PyPI)")
            assert said[1].startswith("scripts/serve: creating .venv with Python 3.")
            assert said[2:5] == [
                "scripts/serve: upgrading pip in .venv",
                "scripts/serve: installing Packyard and its dependencies into .venv",
                said[4]]
            assert re.fullmatch(r"scripts/serve: \.venv is ready \(\d+ s\)", said[4])
        else:  # set up once: the second start says only that it starts
            assert said == [f"scripts/serve: starting: packyard serve --port {port}"]
    assert (checkout / ".venv" / ".installed").exists()
    assert list((tmp_path / "tmp").iterdir()) == [], "the set-up's log outlived a success"


def test_regression_serve_runs_the_checkouts_code_after_it_changes(new_user: NewUser,
                                                                  tmp_path: Path) -> None:
    # scripts/serve installed a copy of the checkout into .venv (`pip install .`) and set up
    # again only when pyproject.toml changed: after a `git pull` (or an edit) it went on
    # starting the old code. The stand-in's `packyard` prints which code it is.
    checkout = _stand_in_checkout(tmp_path / "stand-in")
    module = checkout / "packyard_stand_in.py"
    module.write_text('def main() -> None:\n    print("the code before the pull")\n')
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("setuptools", "pip"):
        wheel_from_installed(name, wheels)
    env = new_user.env(PYTHON=getattr(sys, "_base_executable", sys.executable),
                       PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))

    first = run([checkout / "scripts" / "serve"], env, timeout=300, cwd=new_user.home)
    assert first.stdout.strip() == "the code before the pull"
    module.write_text('def main() -> None:\n    print("the code after the pull")\n')
    second = run([checkout / "scripts" / "serve"], env, timeout=120, cwd=new_user.home)
    assert second.stdout.strip() == "the code after the pull"
    assert "setting up" not in second.stderr  # set up once, as before

    # A .venv an older scripts/serve made (a copy of the code) is set up again, once.
    (checkout / ".venv" / ".installed").write_text("")
    module.write_text('def main() -> None:\n    print("the code after the next pull")\n')
    third = run([checkout / "scripts" / "serve"], env, timeout=300, cwd=new_user.home)
    assert third.stdout.strip() == "the code after the next pull"
    assert "scripts/serve: setting up .venv" in third.stderr


def test_serve_shows_the_end_of_the_log_when_its_set_up_fails(new_user: NewUser,
                                                              tmp_path: Path) -> None:
    checkout = tmp_path / "broken"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "serve", checkout / "scripts" / "serve")
    (checkout / "pyproject.toml").write_text("[project]\nname = \"x\"\nversion = \"0\"\n")
    (tmp_path / "tmp").mkdir()
    env = new_user.env(PYTHON=getattr(sys, "_base_executable", sys.executable),
                       PIP_NO_INDEX="1", PIP_FIND_LINKS=str(tmp_path / "nothing"),
                       TMPDIR=str(tmp_path / "tmp"))
    proc = run([checkout / "scripts" / "serve"], env, check=False, timeout=120,
               cwd=new_user.home)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    failed = next(i for i, line in enumerate(lines) if "failed:" in line)
    match = re.fullmatch(r"scripts/serve: failed: installing Packyard and its dependencies into "
                         r"\.venv; the end of its log \((.*)\):", lines[failed])
    assert match, proc.stderr
    assert Path(match[1]).parent == tmp_path / "tmp" and Path(match[1]).is_file()
    # What pip said, where the user sees it: no setuptools to build with.
    assert any("No matching distribution found for setuptools" in line
               for line in lines[failed + 1:]), proc.stderr
    assert not (checkout / ".venv" / ".installed").exists()
