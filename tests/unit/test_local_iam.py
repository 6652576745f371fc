"""The local stack's IAM (devstack/iam.py): an SDK call is authorised as AWS would authorise it,
against the function's declaration in resources.FUNCTIONS."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from devstack import iam

PREFIX = "koe-local-"
QUEUE_URL = "http://127.0.0.1:5000/000000000000/koe-local-"


def test_a_transaction_is_authorised_item_by_item_on_each_table() -> None:
    params = {"TransactItems": [
        {"Update": {"TableName": "koe-local-surveys", "Key": {}}},
        {"ConditionCheck": {"TableName": "koe-local-surveys", "Key": {}}},
        {"Put": {"TableName": "koe-local-responses", "Item": {}}},
        {"Update": {"TableName": "koe-local-outcomes", "Key": {}}},
    ]}
    assert iam.required("dynamodb", "TransactWriteItems", params, PREFIX) == [
        ("dynamodb:UpdateItem", "table/surveys"), ("dynamodb:ConditionCheckItem", "table/surveys"),
        ("dynamodb:PutItem", "table/responses"), ("dynamodb:UpdateItem", "table/outcomes")]


def test_an_index_query_is_authorised_on_the_index_and_a_batch_on_each_table() -> None:
    assert iam.required("dynamodb", "Query", {"TableName": "koe-local-cases", "IndexName": "due-at"}, PREFIX) == [
        ("dynamodb:Query", "table/cases/index/due-at")]
    assert iam.required("dynamodb", "BatchGetItem", {"RequestItems": {"koe-local-comment-groups": {}}}, PREFIX) == [
        ("dynamodb:BatchGetItem", "table/comment-groups")]


def test_queues_topics_and_email_by_their_logical_names_and_batches_by_their_one_message_action() -> None:
    assert iam.required("sqs", "SendMessageBatch", {"QueueUrl": QUEUE_URL + "intake"}, PREFIX) == [
        ("sqs:SendMessage", "queue/intake")]
    arn = "arn:aws:sns:us-east-1:000000000000:koe-local-cx-alerts"
    assert iam.required("sns", "Publish", {"TopicArn": arn}, PREFIX) == [("sns:Publish", "topic/cx-alerts")]
    assert iam.required("sesv2", "SendEmail", {}, PREFIX) == [("ses:SendEmail", "email")]
    assert iam.required("cognito-idp", "GetUser", {"AccessToken": "t"}, PREFIX) == []   # the token authorises


def test_secrets_by_name_or_arn_and_only_the_configuration_documents_object() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:koe-local-twilio-AbC123"
    assert iam.required("secretsmanager", "GetSecretValue", {"SecretId": arn}, PREFIX) == [
        ("secretsmanager:GetSecretValue", "secret/twilio")]
    assert iam.required("secretsmanager", "GetSecretValue", {"SecretId": "koe-local-api-keys"}, PREFIX) == [
        ("secretsmanager:GetSecretValue", "secret/api-keys")]
    assert iam.required("s3", "GetObject", {"Bucket": "koe-local-config", "Key": "koe-config.json"}, PREFIX) == [
        ("s3:GetObject", "config")]
    (other,) = iam.required("s3", "GetObject", {"Bucket": "koe-local-config", "Key": "other.json"}, PREFIX)
    assert iam.denied("dispatch", [other]) == [other]
    assert iam.denied("analyse_comments", [("secretsmanager:GetSecretValue", "secret/twilio")])


def test_a_resource_of_another_stage_is_never_granted() -> None:
    (call,) = iam.required("dynamodb", "GetItem", {"TableName": "koe-prod-contacts"}, PREFIX)
    assert call == ("dynamodb:GetItem", "table/!koe-prod-contacts")
    assert iam.denied("on_ses_event", [call]) == [call]


def test_a_function_may_make_the_calls_it_declares_and_gets_access_denied_for_any_other() -> None:
    iam.install(PREFIX)
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing", endpoint_url="http://127.0.0.1:9")
    key = {"contact_key": {"S": "c1"}}
    with Stubber(client) as stub:
        stub.add_response("get_item", {}, {"TableName": "koe-local-contacts", "Key": key})
        with iam.acting_as("on_ses_event"):
            client.get_item(TableName="koe-local-contacts", Key=key)      # declared: allowed
            with pytest.raises(ClientError) as refused:
                client.put_item(TableName="koe-local-cases", Item={"case_id": {"S": "k1"}})
        stub.assert_no_pending_responses()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:PutItem on resource: table/cases" in str(refused.value)


def test_calls_made_outside_any_function_are_not_checked() -> None:
    iam.install(PREFIX)
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stub:
        stub.add_response("put_item", {}, {"TableName": "koe-local-cases", "Item": {"case_id": {"S": "k1"}}})
        client.put_item(TableName="koe-local-cases", Item={"case_id": {"S": "k1"}})    # provisioning, tests
