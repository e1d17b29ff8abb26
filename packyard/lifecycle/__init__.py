"""The package version lifecycle: DeletePackageVersions, DisposePackageVersions,
UpdatePackageVersionsStatus and CopyPackageVersions.

``version_changes`` decides, from each version's current state, which versions an operation
changes and which fail with which of CodeArtifact's per-version error codes; the service that
writes the changes (and sweeps the blobs nothing refers to any more) comes with the wiring.
"""
