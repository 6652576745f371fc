"""cdk-nag's AwsSolutions and Serverless rule packs on koe's deployable template.

The stack's functions and API are SAM resources (chalice package), which cdk-nag's rules do not
read; so the template is checked as CloudFormation deploys it: expanded by aws-sam-translator (the
synth test does that), included into a CDK app of its own, and validated by both packs. Every finding
koe accepts is acknowledged below with its reason; anything else is a finding to fix.

    .venv-infra/bin/python infra/nag.py <expanded template.json> <outdir>

prints {"findings": [...], "acknowledged": [...], "unused_acknowledgements": [...]} as JSON; exit 1
when a finding is not acknowledged or an acknowledgement accepts nothing (it outlived its reason).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


ANY = "{any}"


@dataclass(frozen=True)
class Acknowledged:
    """A rule (or one finding of it, `Rule[Finding]`) koe accepts on the resources whose logical id
    matches `resources` (a regular expression), and why. cdk-nag's own acknowledgements need a
    finding's exact id, which names the stage and the region: koe matches them here instead."""

    rule: str           # the finding's id; `{any}` matches any text (a stage's name, a region)
    resources: str
    reason: str

    def accepts(self, rule: str, resource: str) -> bool:
        pattern = ".*".join(re.escape(part) for part in self.rule.split(ANY))
        return bool(re.fullmatch(pattern, rule) and re.fullmatch(self.resources, resource))


_ROLES = r"Role[A-Za-z]+[0-9A-F]{8}"
_FUNCTIONS = r"APIHandler|Dispatch|OnSesEvent|OnResponse|DeliverAlerts|AnalyseComments|Tick"
# The queues that are dead-letter queues or destinations of failures (of a queue's redrive, a stream's
# on-failure, SNS, EventBridge, Lambda's asynchronous invocations): cdk-nag recognises only the first.
_DEAD_LETTER_QUEUES = r"Queue[A-Za-z]*Dlq[0-9A-F]{8}"

ACKNOWLEDGED: tuple[Acknowledged, ...] = (
    Acknowledged("AwsSolutions-IAM5[Resource::*]", _ROLES,
                 "X-Ray's PutTraceSegments / PutTelemetryRecords and Comprehend's real-time DetectSentiment / "
                 "DetectKeyPhrases have no resource-level permissions (AWS service authorization reference): "
                 "Resource * is the only form; no other action of any role has it"),
    Acknowledged("Serverless-LambdaStarPermissions", _ROLES,
                 "the same statements as AwsSolutions-IAM5[Resource::*]: X-Ray and Comprehend take Resource * only"),
    Acknowledged("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:{any}]", _ROLES,
                 "a function's own log streams: CloudFormation names the function <stack>-<LogicalId>-<suffix> "
                 "and its streams are created at run time; the prefix is this one function's"),
    Acknowledged("AwsSolutions-IAM5[Resource::<TableResponsesE024D69E.Arn>/stream/*]", "RoleOnResponse[0-9A-F]{8}",
                 "dynamodb:ListStreams on the responses table's streams (a stream's label is its creation time): "
                 "Lambda's event source mapping lists them; the role reads no other table's stream"),
    Acknowledged("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:{any}]", "ApiGatewayLogsRole[0-9A-F]{8}",
                 "API Gateway names its execution log groups API-Gateway-Execution-Logs_<api id>/<stage>; the role "
                 "may write those groups only"),
    Acknowledged("AwsSolutions-L1", _FUNCTIONS,
                 "koe's stack is fixed on Python 3.11 (the runtime its dependencies are locked and tested on); "
                 "moving runtime is a deliberate change of its own, measured like any other"),
    Acknowledged("Serverless-LambdaLatestVersion", _FUNCTIONS, "the same as AwsSolutions-L1: Python 3.11 by design"),
    Acknowledged("Serverless-LambdaDLQ", _FUNCTIONS,
                 "no function is invoked asynchronously without a failure path: the queue consumers' records "
                 "dead-letter through their queue's redrive, the stream consumer's through its on-failure queue, "
                 "on_ses_event and tick have on-failure destinations (EventInvokeConfig), and the API is synchronous"),
    Acknowledged("Serverless-LambdaEventSourceMappingDestination", r"[A-Za-z]+SqsEventSource",
                 "an SQS event source mapping takes no on-failure destination: its queue's redrive policy "
                 "(maxReceiveCount) moves a failing record to the queue's dead-letter queue"),
    Acknowledged("AwsSolutions-SQS3", _DEAD_LETTER_QUEUES,
                 "a dead-letter queue or a failure destination (stream on-failure, SNS subscription and Lambda "
                 "DLQs, EventBridge target DLQ): it is where failures go, with an alarm when not empty"),
    Acknowledged("Serverless-SQSRedrivePolicy", _DEAD_LETTER_QUEUES,
                 "a dead-letter queue has no dead-letter queue of its own: nothing consumes it, an operator "
                 "redrives it (docs/operations.md)"),
    Acknowledged("AwsSolutions-APIG2", "RestAPI",
                 "koe validates every request body itself and answers a named 4xx in its one error shape (JSON "
                 "Schema for events, the form checks of the webhooks, the case API's checks): a gateway "
                 "validator would answer first, in another shape"),
    Acknowledged("AwsSolutions-APIG3", "RestAPIapiStage",
                 "no WAF by default: its managed rule groups would meet Twilio's webhooks and their form bodies "
                 "first, and a per-IP rate rule would throttle Twilio's few addresses on a busy morning; the "
                 "stage's throttling and the usage plan bound the traffic (docs/deploy.md says how to attach one)"),
    Acknowledged("AwsSolutions-S1", r"ConfigBucket[0-9A-F]{8}",
                 "the configuration document's bucket: written by the operator, read by koe's functions; who "
                 "changed it is in CloudTrail and every version is kept (versioning), which server access logs "
                 "(another bucket to secure and retain) would not add to"),
    Acknowledged("AwsSolutions-COG8", r"CxUsers[0-9A-F]{8}",
                 "the Plus feature plan (threat protection) is billed per monthly active user: a deployment "
                 "decision, not koe's (docs/deploy.md); MFA is required on the Essentials plan"),
)


def check(template_path: Path, outdir: Path) -> dict[str, Any]:
    """Both packs on the template; each finding with the acknowledgement that accepts it, if any."""
    import aws_cdk as cdk
    from aws_cdk import cloudformation_include as cfn_inc
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "koe", synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False))
    cfn_inc.CfnInclude(stack, "Template", template_file=str(template_path))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    try:
        app.synth()
    except RuntimeError as exc:         # jsii's ValidationFailed: the report says what
        if "ValidationFailed" not in str(exc):
            raise
    findings, acknowledged, used = [], [], set()
    for finding in _findings(outdir):
        match = next((n for n, ack in enumerate(ACKNOWLEDGED) if ack.accepts(finding["rule"], finding["resource"])),
                     None)
        if match is None:
            findings.append(finding)
        else:
            used.add(match)
            acknowledged.append({**finding, "reason": ACKNOWLEDGED[match].reason})
    return {"findings": findings, "acknowledged": acknowledged,
            "unused_acknowledgements": [a.rule for n, a in enumerate(ACKNOWLEDGED) if n not in used]}


def _findings(outdir: Path) -> list[dict[str, str]]:
    found = []
    report = outdir / "validation-report.json"
    if not report.exists():
        return found
    for plugin in json.loads(report.read_text()).get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for where in violation.get("violatingConstructs", []):
                found.append({"rule": violation["ruleName"], "resource": where["constructPath"].rsplit("/", 1)[-1],
                              "description": violation.get("description", "")})
    return found


if __name__ == "__main__":
    result = check(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(result, indent=1))
    sys.exit(1 if result["findings"] or result["unused_acknowledgements"] else 0)
