"""The layer rules, read from the source (no imports run):

- domain/ is pure: the standard library and itself only;
- services/ reach the outside world through ports only: never an adapter, the composition root,
  the HTTP edge, or an SDK;
- settings.py is the one reader of the environment in the deployed code (app.py, chalicelib/).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"
DEPLOYED = [ROOT / "app.py", *sorted(CHALICELIB.rglob("*.py"))]
SDKS = ("boto3", "botocore", "pynamodb", "twilio", "chalice", "jsonschema", "requests")
NOT_FOR_SERVICES = ("chalicelib.adapters", "chalicelib.bootstrap", "chalicelib.http", "chalicelib.auth",
                    "chalicelib.settings", "app")


def imports(path: Path) -> list[str]:
    """Every module a file imports, absolute, at any depth (lazy imports inside functions too)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", sorted((CHALICELIB / "domain").rglob("*.py")), ids=relative)
def test_the_domain_imports_only_the_standard_library_and_itself(path):
    foreign = [name for name in imports(path)
               if not under(name, "chalicelib.domain") and name.split(".")[0] not in sys.stdlib_module_names
               and name != "__future__" and not name.startswith("__future__.")]
    assert foreign == [], f"{relative(path)} imports {foreign}"


@pytest.mark.parametrize("path", sorted((CHALICELIB / "services").rglob("*.py")), ids=relative)
def test_services_never_import_adapters_the_edge_or_an_sdk(path):
    forbidden = [name for name in imports(path)
                 if any(under(name, p) for p in NOT_FOR_SERVICES + SDKS)]
    assert forbidden == [], f"{relative(path)} imports {forbidden}"


def reads_environment(path: Path) -> list[int]:
    """Lines that touch os.environ / os.getenv / os.putenv, however imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "environb"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                alias.name in ("environ", "getenv", "environb") for alias in node.names):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", DEPLOYED, ids=relative)
def test_only_settings_reads_the_environment(path):
    if path == CHALICELIB / "settings.py":
        assert reads_environment(path), "settings.py should be the reader of the environment"
        return
    assert reads_environment(path) == [], f"{relative(path)} reads the environment"


def test_the_rules_see_what_they_check():
    """Guard against a rule passing because it found nothing to read."""
    assert "chalicelib.domain.model" in imports(CHALICELIB / "domain" / "survey_lifecycle.py")
    assert "chalicelib.services.ports" in imports(CHALICELIB / "services" / "dispatch.py")
    assert len(DEPLOYED) > 20


@pytest.mark.parametrize("path", DEPLOYED, ids=relative)
def test_the_deployed_code_never_imports_the_local_stack(path: Path) -> None:
    """devstack/ (the local stack, its faults on purpose, its carrier) never reaches a Lambda package."""
    assert not [name for name in imports(path) if under(name, "devstack")]
