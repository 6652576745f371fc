"""The browser tier's install step in the Makefile, run by make itself with Debian's tools replaced by
recorders on PATH: what a fresh machine (neither Chromium nor the CJK fonts) gets, what a machine that
has both gets, and what happens when a package was removed after the install was stamped."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script(path: Path, text: str) -> None:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Path]:
    """A pretend Debian machine: fake `apt-get` (records its calls; `install` lays down a chromium
    and a CJK font where the Makefile is told to look), `id`, `fc-list` (knows no fonts)."""
    bin_dir, fonts, venv = tmp_path / "bin", tmp_path / "fonts", tmp_path / "venv"
    for folder in (bin_dir, fonts, venv):
        folder.mkdir()
    chromium, calls = tmp_path / "chromium", tmp_path / "apt-calls"
    _script(bin_dir / "apt-get", f"""echo "$*" >> {calls}
case "$*" in *install*)
  printf '#!/bin/sh\\n' > {chromium}; chmod +x {chromium}; : > {fonts}/NotoSansCJK-Regular.ttc;;
esac
""")
    _script(bin_dir / "id", 'echo "${FAKE_UID:-0}"\n')
    _script(bin_dir / "fc-list", "exit 0\n")
    (venv / ".installed-stamp").touch()
    return {"bin": bin_dir, "fonts": fonts, "venv": venv, "chromium": chromium, "calls": calls}


def _make(machine: dict[str, Path], uid: int = 0) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PATH": f"{machine['bin']}:{os.environ['PATH']}", "FAKE_UID": str(uid)}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), f"VENV={machine['venv']}",
         f"CHROMIUM={machine['chromium']}", f"CJK_FONTS={machine['fonts']}", "install-browser"],
        capture_output=True, text=True, env=env, timeout=60)


def _apt_calls(machine: dict[str, Path]) -> list[str]:
    return machine["calls"].read_text().splitlines() if machine["calls"].exists() else []


def test_a_fresh_machine_as_root_gets_both_packages_installed(machine: dict[str, Path]) -> None:
    done = _make(machine)

    assert done.returncode == 0, done.stdout + done.stderr
    assert _apt_calls(machine) == ["update", "install -y chromium fonts-noto-cjk"]
    assert (machine["venv"] / ".browser-stamp").exists()


def test_a_fresh_machine_without_root_is_told_the_command_and_stops(machine: dict[str, Path]) -> None:
    done = _make(machine, uid=1000)

    assert done.returncode != 0
    assert "sudo apt-get update && sudo apt-get install -y chromium fonts-noto-cjk" in done.stdout
    assert _apt_calls(machine) == []


def test_a_machine_with_both_installs_nothing(machine: dict[str, Path]) -> None:
    _script(machine["chromium"], "exit 0\n")
    (machine["fonts"] / "NotoSansCJK-Regular.ttc").touch()

    done = _make(machine)

    assert done.returncode == 0, done.stdout + done.stderr
    assert _apt_calls(machine) == []


def test_a_package_removed_after_the_stamp_is_installed_again(machine: dict[str, Path]) -> None:
    assert _make(machine).returncode == 0
    machine["chromium"].unlink()                     # apt-get remove -y chromium

    done = _make(machine)

    assert done.returncode == 0, done.stdout + done.stderr
    assert _apt_calls(machine) == ["update", "install -y chromium fonts-noto-cjk"] * 2
