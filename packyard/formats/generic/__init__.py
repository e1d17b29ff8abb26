"""The generic format: any files, published asset by asset through the CodeArtifact API
(PublishPackageVersion), read back with GetPackageVersionAsset. It has no package endpoint for
a client to speak to and never comes from upstreams (CodeArtifact User Guide, "Generic packages
overview")."""
