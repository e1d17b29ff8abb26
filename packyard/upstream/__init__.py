"""Upstream repositories and external connections: resolving a package across a chain of
repositories and public indexes, and pulling files through into Packyard.

The pure rules (search order, origin controls, page parsing and merging) live in their own
modules with no I/O; ``client`` speaks HTTP to the upstream index, ``pages`` caches its project
pages, ``pullthrough`` downloads and keeps files, and ``resolver`` puts them together for the
package endpoints. See docs/upstreams.md.
"""
