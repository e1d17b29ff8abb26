"""AWS KMS's JSON 1.1 API, a subset on the local keyring (``services/kms.py``), at the same
endpoint as CodeArtifact, IAM and STS: a signed ``POST /`` whose ``X-Amz-Target`` is
``TrentService.<Operation>``."""
