"""Parses Prometheus text from stdin with the official Python client's parser
(prometheus_client, PyPI) and prints every sample as one JSON object per line:
{"family", "type", "name", "labels", "value"}. Used by cli/tests/cli/metrics.rs."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        print(json.dumps({
            "family": family.name,
            "type": family.type,
            "name": sample.name,
            "labels": sample.labels,
            "value": sample.value,
        }))
