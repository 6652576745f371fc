"""docs/deploy.md stays true where it can be checked mechanically: the context keys it names are the ones
infra/stack.py reads, the secrets' names and JSON fields are resources.SECRETS', the configuration
document's settings are resources.CONFIG_DOCUMENT's (and its example is read as koe reads it), the make
variables are the deploy target's, and the CLI version, tables and outputs are the code's."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from chalicelib import resources, settings

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "deploy.md").read_text()
STACK = (ROOT / "infra" / "stack.py").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def section(number: int) -> str:
    """The text of the guide's `## <number>.` section."""
    start = GUIDE.index(f"\n## {number}. ")
    end = GUIDE.find("\n## ", start + 1)
    return GUIDE[start:end if end != -1 else len(GUIDE)]


def context_keys_the_stack_reads() -> set[str]:
    body = STACK[STACK.index("    def from_context("):STACK.index("\nclass KoeStack(")]
    helpers = STACK[STACK.index("\ndef _email_context("):]
    return set(re.findall(r'get\("([a-z_]+)"\)', body + helpers))


def test_every_context_key_the_guide_names_is_one_the_stack_reads_and_every_one_is_in_the_guide() -> None:
    read = context_keys_the_stack_reads()
    assert {"stage", "public_base_url", "email_identity", "ops_email", "api_reserved_concurrency"} <= read
    named = set(re.findall(r"-c ([a-z_]+)=", GUIDE))
    table = section(7).split("**The context keys**", 1)[1].split("**The outputs**", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    assert named <= read, named - read
    assert listed <= read, listed - read
    assert read - {"app_dir"} <= listed, (read - {"app_dir"}) - listed     # app_dir: tests only


def test_the_secrets_are_named_and_shaped_as_resources_declares_them() -> None:
    by_name = {s.name: s for s in resources.SECRETS}
    named = set(re.findall(r"koe-<stage>-([a-z-]+)`", GUIDE)) & (set(by_name) | {"twilio", "api-keys", "contact-keys"})
    assert named == set(by_name)
    table = section(3)
    for secret in resources.SECRETS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `koe-<stage>-{secret.name}`"))
        assert set(re.findall(r'"([a-z_]+)"', row)) <= set(secret.fields), row
    # The create-secret commands: each secret once, its JSON's keys exactly its required fields.
    commands = [" ".join(part.strip().rstrip("\\") for part in block.splitlines())
                for block in re.findall(r"aws secretsmanager create-secret(?:[^\n]*\\\n)*[^\n]*", GUIDE)]
    created = {}
    for command in commands:
        words = shlex.split(command)
        name = words[words.index("--name") + 1]
        assert name.startswith("koe-$STAGE-"), name
        created[name.removeprefix("koe-$STAGE-")] = json.loads(words[words.index("--secret-string") + 1])
    assert set(created) == set(by_name)
    optional = {"previous_auth_token"}           # only during a Twilio token rotation
    for name, value in created.items():
        assert set(value) == set(by_name[name].fields) - optional, name


def test_the_configuration_settings_listed_are_exactly_the_documents_fields() -> None:
    listed = re.findall(r"^\| `(KOE_[A-Z_]+)` \|", section(6), re.MULTILINE)
    assert sorted(listed) == sorted(resources.CONFIG_DOCUMENT.fields)
    assert f"`{resources.CONFIG_DOCUMENT.key}`" in section(6)


def test_the_example_configuration_document_is_read_by_koe_without_error() -> None:
    example = json.loads(section(6).split("```json\n", 1)[1].split("```", 1)[0])
    assert set(example) <= set(resources.CONFIG_DOCUMENT.fields)
    wiring = {**resources.queue_env(local=False), **resources.topic_env(local=False)}   # what infra/ sets
    env = {"KOE_PUBLIC_BASE_URL": "https://koe.example.com/api", **{var: f"set-by-infra-{var}" for var in wiring}}
    read = settings.from_env(env, example)
    assert set(read.case_routing.branches) == {"tokyo-chuo", "new-york-01"}     # the two-branch table
    assert read.sampling_by_procedure == {"call_center": 0.2}


def test_the_make_variables_the_guide_uses_are_the_deploy_targets() -> None:
    target = MAKEFILE[MAKEFILE.index("\ndeploy:"):]
    target = target[:target.index("\n\n")]
    variables = set(re.findall(r"\$\(([A-Z_]+)\)", target)) - {"INFRA", "CHART"}
    used = {name for line in GUIDE.splitlines() if "make deploy" in line
            for name in re.findall(r"\b([A-Z_]+)=", line)}
    assert used, "the guide shows no make deploy command"
    assert used <= variables, used - variables
    assert variables <= used, variables - used


def test_the_cdk_cli_version_is_the_one_infra_deploy_pins() -> None:
    pinned = re.search(r'CDK = \("npx", "aws-cdk@([0-9.]+)"\)', (ROOT / "infra" / "deploy.py").read_text())
    assert pinned is not None
    assert set(re.findall(r"aws-cdk@([0-9.]+)", GUIDE)) == {pinned[1]}


def test_the_tables_and_outputs_the_guide_names_exist() -> None:
    tables = section(1).split("DynamoDB tables", 1)[1].splitlines()[0]
    assert set(re.findall(r"`([a-z-]+)`", tables)) == {t.name for t in resources.TABLES}
    outputs = section(7).split("**The outputs**", 1)[1].split("\n\n", 2)[1]
    named = {name for row in outputs.splitlines()[2:] for name in re.findall(r"`([A-Za-z<>]+)`", row.split("|")[1])}
    chalice = {"EndpointURL", "RestAPIId", "APIHandlerName", "APIHandlerArn"}      # chalice package's own
    declared = set(re.findall(r'CfnOutput\(self, "([A-Za-z]+)"', STACK))
    for name in named - chalice:
        if name == "QueueUrl<Queue>":
            assert 'CfnOutput(self, _cid("QueueUrl", name)' in STACK
        elif name.startswith("TopicArn"):
            assert 'CfnOutput(self, _cid("TopicArn", name)' in STACK
        else:
            assert name in declared, name
