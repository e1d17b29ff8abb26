"""Package version events sent to webhooks, in CodeArtifact's EventBridge shape."""
