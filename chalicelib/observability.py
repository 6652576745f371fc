"""The one owner of logging and metrics. Log named fields, never phone numbers, emails or bodies."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service="koe")
metrics = Metrics(namespace="koe", service="koe")


def count(name: str, value: int = 1, **dimensions: str) -> None:
    """One metric per outcome: SurveySent, SurveySkipped{reason}, ReplyUnparsed, CaseOpened..."""
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace="koe") as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def flush() -> None:
    if metrics.metric_set:
        metrics.flush_metrics()
