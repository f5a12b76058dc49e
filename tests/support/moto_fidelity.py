"""moto's server, with SageMaker's Describe* answers shaped as SageMaker's own: absent structures omitted.

moto answers DescribeModel with ``"VpcConfig": {}`` and DescribeEndpointConfig
with ``"DataCaptureConfig": {}`` where SageMaker omits a structure that was
never set. boto3 does not mind, but the SageMaker Python SDK v3 (sagemaker-core)
validates every answer with pydantic and refuses an empty structure whose
fields are required. This wrapper drops the empty top-level structures of those
answers, then runs ``moto.server`` with the same arguments as ``moto_server``.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
