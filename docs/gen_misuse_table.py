"""Write docs/misuse.md from the cases in tests/misuse_cases.py.

    python docs/gen_misuse_table.py          # regenerate the page
    python docs/gen_misuse_table.py --check  # exit 1 if the page is out of date

tests/test_misuse.py runs the same check, so the page cannot drift from the behaviour.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "misuse.md"


def main() -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    misuse_cases = importlib.import_module("misuse_cases")
    text = misuse_cases.render_table()
    if "--check" in sys.argv[1:]:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run `python docs/gen_misuse_table.py`")
            return 1
        print(f"{PAGE} is up to date ({len(misuse_cases.CASES)} cases)")
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE} ({len(misuse_cases.CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
