"""The ``--database-url`` and ``--blob-store`` options every command on a server's data takes.

Each overrides its ``PACKYARD_*`` variable, as every flag does: ``serve``, ``import``,
``export``, ``encrypt``, ``verify``, ``keys rotate``, ``token`` and ``iam reset-secret-key`` then
work on the same metadata and blobs whether they are in the data directory (the default) or on
PostgreSQL and an S3-compatible store (docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

database_url_option = click.option(
    "--database-url", default=None, metavar="URL",
    help="The metadata database: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE "
         "(default: SQLite in the data directory, or PACKYARD_DATABASE_URL).")

blob_store_option = click.option(
    "--blob-store", default=None, metavar="WHERE",
    help="Where files are stored: a directory or s3://BUCKET/PREFIX (with "
         "PACKYARD_S3_ENDPOINT_URL and the AWS_* variables) (default: blobs/ in the data "
         "directory, or PACKYARD_BLOB_STORE).")

# Only a server can keep its files in its own memory (for tests); the commands that work on a
# server's files refuse memory:// (``common.blob_settings``), so their help does not offer it.
_serve_blob_store_option = click.option(
    "--blob-store", default=None, metavar="WHERE",
    help="Where files are stored: a directory, s3://BUCKET/PREFIX (with "
         "PACKYARD_S3_ENDPOINT_URL and the AWS_* variables) or memory:// (default: blobs/ in "
         "the data directory, or PACKYARD_BLOB_STORE).")


def storage_options(command: F) -> F:
    """Both options, for a command that opens the metadata and a server's blobs."""
    return database_url_option(blob_store_option(command))


def serve_storage_options(command: F) -> F:
    """Both options, for ``packyard serve`` (whose blobs may also be memory://)."""
    return database_url_option(_serve_blob_store_option(command))
