"""Tags on domains, repositories and package groups: AWS's limits and what TagResource and
UntagResource do (``resource_tags``). The ``aws:ResourceTag``, ``aws:RequestTag`` and
``aws:TagKeys`` condition keys that policies test are built in ``packyard.policy.tags``.
"""
