"""The npm format: packuments, tarballs and npm's publish protocol, for npm, pnpm and yarn.

The modules here are pure (no web, SQL or storage imports) so that the core can wire them:
``names`` (package names and request paths), ``semver`` (versions and their order),
``dist_tags`` (tags and the ``latest`` rule), ``packument`` + ``negotiation`` (the documents
clients install from), ``tarball`` + ``tar_stream`` (safe inspection of an uploaded .tgz),
``publish_body`` + ``base64_stream`` (streaming npm's JSON publish body, the tarball decoded
into a sink), ``publish_checks`` (what a publish, deprecate or unpublish PUT asks for),
``dependencies`` (CodeArtifact's view of a manifest) and ``search``.

Wired on the core (``plugin``'s ``build(core)``): ``routes`` (the endpoint), ``publish``,
``package_edits`` (dist-tags, deprecate, unpublish), ``packuments`` (rendered once per change),
``upstream`` (``public:npmjs``), ``attributes``, ``search_index``, ``hot_reads`` and ``errors``.
"""
