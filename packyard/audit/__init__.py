"""The audit trail: CloudTrail-shaped records of every call and refusal, kept durably."""
