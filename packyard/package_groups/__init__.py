"""Package groups: CodeArtifact's patterns over package coordinates, the group hierarchy they
form, and the origin controls a group sets for the packages associated with it.

Pure rules with no store or HTTP, as in ``upstream``'s own rule modules: ``patterns`` (the
definition syntax, validation and matching, strong and weak), ``hierarchy`` (the most specific
group of a package, a group's parent and direct children) and ``origin_controls`` (restriction
modes, inheritance up to the root group ``/*``, and the decision for one way into one
repository, combined with the package's own origin configuration). The CodeArtifact User Guide
pages they follow are "Package group definition syntax and matching behavior" and "Package group
origin controls".
"""
