"""Packyard: a self-hosted artifact registry that speaks AWS CodeArtifact's API."""

__version__ = "0.1.0"
