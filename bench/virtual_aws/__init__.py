"""AWS and Meta's Cloud API in process and in simulated time, for the drain's virtual-time bench
(bench/virtual_drain.py): requests timed and counted on the clock (`clock`), SQS (`sqs`),
DynamoDB's tables (`dynamodb`), the Cloud API (`cloud_api`), and all of it wired (`stack`)."""
