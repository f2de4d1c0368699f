"""The AWS adapter: the only package that imports aiobotocore and botocore, and only when a run
needs them (`route.py`).

`client.AwsKinesis` is the `KinesisClient` over AWS; `startup.startup_error` (which imports
botocore) turns what AWS libraries raise at start-up into one sentence and an exit code.
"""

from streamer.aws.client import AwsKinesis

__all__ = ["AwsKinesis"]
