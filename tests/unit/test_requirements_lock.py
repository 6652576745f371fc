"""requirements.lock is what the Lambda package ships (infra/stack.py hands it to `chalice package`):
every range of requirements.txt must be pinned there, to a version inside the range, with hashes.

Given requirements.txt and requirements.lock, when one is edited without regenerating the other,
then this test names what disagrees (and how to regenerate: the lock's header).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _logical_lines(text: str) -> list[str]:
    """pip's requirement lines: comments dropped, backslash continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.split(" #", 1)[0].strip() for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _locked(lock_text: str) -> dict[str, tuple[str, int]]:
    """name -> (pinned version, number of hashes)."""
    locked: dict[str, tuple[str, int]] = {}
    for line in _logical_lines(lock_text):
        found = PIN.match(line)
        if found is None:
            raise ValueError(f"requirements.lock: not a hashed pin: {line[:80]!r}")
        locked[canonicalize_name(found.group(1))] = (found.group(2), line.count("--hash=sha256:"))
    return locked


def disagreements(requirements_text: str, lock_text: str) -> list[str]:
    """What makes the lock not a pinning of requirements.txt (empty when it is one)."""
    locked = _locked(lock_text)
    problems = [f"{name}=={version} has no --hash" for name, (version, hashes) in locked.items() if not hashes]
    for line in _logical_lines(requirements_text):
        if line.startswith("-"):
            problems.append(f"requirements.txt: option {line!r} cannot be locked")
            continue
        wanted = Requirement(line)
        name = canonicalize_name(wanted.name)
        if name not in locked:
            problems.append(f"{wanted.name} is in requirements.txt but not pinned in requirements.lock")
        elif not wanted.specifier.contains(locked[name][0], prereleases=True):
            problems.append(f"{wanted.name}: requirements.txt wants {wanted.specifier}, "
                            f"requirements.lock pins {locked[name][0]}")
    return problems


def test_the_lock_pins_every_requirement_inside_its_range_with_hashes() -> None:
    problems = disagreements((REPO / "requirements.txt").read_text(), (REPO / "requirements.lock").read_text())
    assert not problems, "regenerate requirements.lock (its header says how):\n" + "\n".join(problems)


def test_the_lock_ships_the_zone_database() -> None:
    # zoneinfo falls back to the tzdata package when the image has no /usr/share/zoneinfo.
    assert "tzdata" in _locked((REPO / "requirements.lock").read_text())


LOCK = "boto3==1.44.8 \\\n    --hash=sha256:aa\njinja2==3.1.6 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n"


@pytest.mark.parametrize(("requirements", "lock", "expected"), [
    ("boto3>=1.40,<2\nJinja2>=3.1\n", LOCK, []),
    ("boto3>=1.40,<2\ntwilio>=9\n", LOCK, ["twilio is in requirements.txt but not pinned in requirements.lock"]),
    ("boto3>=1.45\n", LOCK, ["boto3: requirements.txt wants >=1.45, requirements.lock pins 1.44.8"]),
    ("boto3\n", "boto3==1.44.8\n", ["boto3==1.44.8 has no --hash"]),
    ("-r other.txt\n", LOCK, ["requirements.txt: option '-r other.txt' cannot be locked"]),
])
def test_a_requirement_missing_from_the_lock_or_outside_its_range_is_named(
        requirements: str, lock: str, expected: list[str]) -> None:
    assert disagreements(requirements, lock) == expected


def test_a_lock_line_that_is_no_pin_is_refused() -> None:
    with pytest.raises(ValueError, match="not a hashed pin"):
        disagreements("boto3\n", "boto3>=1.40\n")
