"""moto's server, with SageMaker's Describe* answers shaped as SageMaker's own: absent structures omitted.

moto answers DescribeModel with ``"VpcConfig": {}`` and DescribeEndpointConfig
with ``"DataCaptureConfig": {}`` where SageMaker omits a structure that was
never set. boto3 does not mind, but the SageMaker Python SDK v3 (sagemaker-core)
validates every answer with pydantic and refuses an empty structure whose
fields are required. This wrapper drops the empty top-level structures of those
answers, then runs ``moto.server`` with the same arguments as ``moto_server``.
With ``MOTO_SAGEMAKER_REQUESTS=FILE`` it also appends every SageMaker request
body to FILE, so a test can check exactly what SageMaker was sent.
"""

from __future__ import annotations

import os
import sys

from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

#: The answers whose empty structures sagemaker-core refuses (the deploy and transform paths read them).
DESCRIBES = ("describe_model", "describe_endpoint_config", "describe_endpoint", "describe_transform_job")


def _omitting_empty(method):
    def describe(self):
        result = method(self)
        if isinstance(result, ActionResult) and isinstance(result.result, dict):
            return ActionResult({key: value for key, value in result.result.items() if value != {}})
        return result
    return describe


for _name in DESCRIBES:
    setattr(SageMakerResponse, _name, _omitting_empty(getattr(SageMakerResponse, _name)))


def _recording(method):
    """SageMaker's requests, appended to the file ``MOTO_SAGEMAKER_REQUESTS`` names (one JSON body a line)."""
    def call_action(self):
        if os.environ.get("MOTO_SAGEMAKER_REQUESTS") and isinstance(self, SageMakerResponse):
            with open(os.environ["MOTO_SAGEMAKER_REQUESTS"], "a", encoding="utf-8") as log:
                body = self.body.decode("utf-8", "replace") if isinstance(self.body, bytes) else str(self.body)
                log.write(body.replace("\n", " ") + "\n")
        return method(self)
    return call_action


SageMakerResponse.call_action = _recording(SageMakerResponse.call_action)


if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
