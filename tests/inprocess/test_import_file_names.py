"""``packyard import`` of a folder with hostile names: each refusal is one line showing the
path as it is, and the rest is imported."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from packyard.cli.main import main
from tests.inprocess.harness import InProcessPackyard
from tests.integration.helpers import DistFactory, DistSpec


def test_regression_hostile_file_names_are_refused_and_shown_as_they_are(
        packyard: InProcessPackyard, dists: DistFactory, tmp_path: Path) -> None:
    """A folder named ``[/b]`` (rich's markup for 'end bold') stopped the import half-way with
    a MarkupError traceback at the first refusal in it; a file name with an escape sequence
    was written to the terminal as it is, and acted on."""
    repo = packyard.pypi_repo()
    wheel = dists.wheel(DistSpec(name="good", version="1.0"))
    folder = tmp_path / "drop"
    markup = folder / "[" / "b]"
    markup.mkdir(parents=True)
    shutil.copy(wheel.path, markup / "other-1.0-py3-none-any.whl")  # another project's name
    shutil.copy(wheel.path, folder / "esc\x1b[31mred-1.0-py3-none-any.whl")
    shutil.copy(wheel.path, folder / wheel.filename)

    result = CliRunner().invoke(main, ["import", "--data-dir", str(packyard.settings.data_dir),
                                       "--domain", repo.domain, "--repository",
                                       repo.repository, str(folder)])

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    said = " ".join(result.output.split())
    assert "1 imported, 0 already present, 2 refused" in said
    assert f"refused {markup}/other-1.0-py3-none-any.whl: " in said
    assert f"refused {folder}/esc\\x1b[31mred-1.0-py3-none-any.whl: Cannot upload " in said
    assert "\x1b" not in result.output
    assert repo.get("simple/good/").status_code == 200
