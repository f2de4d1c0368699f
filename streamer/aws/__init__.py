"""The AWS adapter: the only package that imports aiobotocore and botocore.

`client.AwsKinesis` is the `KinesisClient` over AWS; `startup.startup_error` turns what AWS
libraries raise at start-up into one sentence and an exit code.
"""

from streamer.aws.client import AwsKinesis
from streamer.aws.startup import startup_error

__all__ = ["AwsKinesis", "startup_error"]
