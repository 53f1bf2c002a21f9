"""The OpenAPI spec, fuzzed with schemathesis against the app itself (WSGI, no server), as every role and as
no one: no answer is a 5xx, and every answer matches the documented status codes, content types and
schemas (review item 21). Bounded: FUZZ_EXAMPLES cases per operation, role and mode (default 3)."""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from tests.channel_helpers import send_sms

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def actors(app, client, helpline, admin, supervisor, counsellor, manager):
    send_sms(client, body="hello")  # something to find
    return {"anonymous": {}, "admin": admin.headers, "supervisor": supervisor.headers,
            "counsellor": counsellor.headers, "manager": manager.headers}


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_as_every_role_gives_no_5xx_and_matches_the_spec(app, actors):
    operations = _operations(app)
    assert len(operations) >= 50
    failures = []
    for operation in operations:
        for role, headers in actors.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case):
                    response = case.call(headers=headers)
                    case.validate_response(response, checks=CHECKS)

                try:
                    run()
                except Unsatisfiable:
                    pass  # nothing invalid can be sent to an operation without parameters
                except Exception as error:  # collect them all, then report
                    failures.append(f"{operation.label} as {role} ({mode}): {str(error)[:600]}")
    assert failures == [], "\n\n".join(failures[:20])
