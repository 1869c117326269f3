"""What a pipeline summary must look like at 80 columns, shared by the unit and CLI tests."""

from __future__ import annotations

import itertools

PATH_LINES = ("tables: ", "airflow home: ")


def whole_lines(lines: list[str]) -> list[str]:
    """The summary's paths and the commands under "next:": kept whole on one line however long (a path or
    command wrapped at 80 columns is broken when copied or cut by a shell tool)."""
    paths = [ln for ln in lines if ln.startswith(PATH_LINES)]
    after = lines[lines.index("next:") + 1 :] if "next:" in lines else []
    return paths + list(itertools.takewhile(lambda ln: ln.startswith("  "), after))


def over_80(text: str) -> list[str]:
    """The lines over 80 columns other than whole_lines: what would wrap in an 80-column terminal."""
    lines = text.splitlines()
    whole = set(whole_lines(lines))
    return [ln for ln in lines if len(ln) > 80 and ln not in whole]
