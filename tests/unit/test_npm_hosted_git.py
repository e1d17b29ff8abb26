"""``hosted_git``: a git URL read as npm's hosted-git-info (v9) reads it. Each row is what the
real library answered (npm 11's copy, run under node): ``https()``, ``toString()``,
``docs()`` and ``bugs()``, or None where it names no known host."""

from __future__ import annotations

import pytest

from packyard.formats.npm.hosted_git import from_url

ANSWERS = [
    ('zeit/ms',
     ('git+https://github.com/zeit/ms.git', 'github:zeit/ms', 'https://github.com/zeit/ms#readme', 'https://github.com/zeit/ms/issues')),
    ('github:npm/cli#v1.2.3',
     ('git+https://github.com/npm/cli.git#v1.2.3', 'github:npm/cli#v1.2.3', 'https://github.com/npm/cli/tree/v1.2.3#readme', 'https://github.com/npm/cli/issues')),
    ('gitlab:group/sub/proj',
     ('git+https://gitlab.com/group/sub/proj.git', 'gitlab:group/sub/proj', 'https://gitlab.com/group/sub/proj#readme', 'https://gitlab.com/group/sub/proj/issues')),
    ('bitbucket:team/repo',
     ('git+https://bitbucket.org/team/repo.git', 'bitbucket:team/repo', 'https://bitbucket.org/team/repo#readme', 'https://bitbucket.org/team/repo/issues')),
    ('gist:11081aaa281',
     ('git+https://gist.github.com/11081aaa281.git', 'gist:11081aaa281', 'https://gist.github.com/11081aaa281', 'https://gist.github.com/11081aaa281')),
    ('sourcehut:~user/repo',
     ('https://git.sr.ht/~user/repo', 'sourcehut:~user/repo', 'https://git.sr.ht/~user/repo#readme', None)),
    ('https://github.com/npm/cli',
     ('git+https://github.com/npm/cli.git', 'git+https://github.com/npm/cli.git', 'https://github.com/npm/cli#readme', 'https://github.com/npm/cli/issues')),
    ('git://github.com/npm/cli.git',
     ('git+https://github.com/npm/cli.git', 'git://github.com/npm/cli.git', 'https://github.com/npm/cli#readme', 'https://github.com/npm/cli/issues')),
    ('git@github.com:npm/cli.git',
     ('git+https://github.com/npm/cli.git', 'git+ssh://git@github.com/npm/cli.git', 'https://github.com/npm/cli#readme', 'https://github.com/npm/cli/issues')),
    ('http://github.com/npm/cli',
     ('git+https://github.com/npm/cli.git', 'git+ssh://git@github.com/npm/cli.git', 'https://github.com/npm/cli#readme', 'https://github.com/npm/cli/issues')),
    ('git+ssh://git@GitHub.com/npm/cli.git',
     None),
    ('https://github.com/npm/cli/tree/main',
     ('git+https://github.com/npm/cli.git#main', 'git+https://github.com/npm/cli.git#main', 'https://github.com/npm/cli/tree/main#readme', 'https://github.com/npm/cli/issues')),
    ('https://github.com/npm/cli/blob/main/x',
     None),
    ('https://user:pass@github.com/npm/cli.git',
     ('git+https://user:pass@github.com/npm/cli.git', 'git+https://user:pass@github.com/npm/cli.git', 'https://github.com/npm/cli#readme', 'https://github.com/npm/cli/issues')),
    ('https://gitlab.com/group/sub/proj.git',
     ('git+https://gitlab.com/group/sub/proj.git', 'git+https://gitlab.com/group/sub/proj.git', 'https://gitlab.com/group/sub/proj#readme', 'https://gitlab.com/group/sub/proj/issues')),
    ('https://gist.github.com/user/11081aaa281.git',
     ('git+https://gist.github.com/11081aaa281.git', 'git+https://gist.github.com/11081aaa281.git', 'https://gist.github.com/11081aaa281', 'https://gist.github.com/11081aaa281')),
    ('https://git.sr.ht/~user/repo',
     ('https://git.sr.ht/~user/repo', 'https://git.sr.ht/~user/repo', 'https://git.sr.ht/~user/repo#readme', None)),
    ('https://example.com/a/b.git',
     None),
    ('^1.2.3',
     None),
    ('file:../foo',
     None),
    ('https://github.com/a/b#%zz',
     None),
    ('GitHub:npm/cli',
     ('git+https://github.com/null/cli.git', 'github:null/cli', 'https://github.com/null/cli#readme', 'https://github.com/null/cli/issues')),
]


@pytest.mark.parametrize(("url", "expected"), ANSWERS)
def test_a_url_is_read_as_hosted_git_info_reads_it(
        url: str, expected: tuple[str, str, str, str | None] | None) -> None:
    hosted = from_url(url)
    found = None if hosted is None else (hosted.https(), hosted.text(), hosted.docs(),
                                         hosted.bugs())
    assert found == expected
