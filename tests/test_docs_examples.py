"""Every ```python block in README.md, docs/ and the public docstrings (which mkdocstrings
renders into the API reference) is a program that runs and prints what it says.

The convention (see docs/devdocs/docs-examples.md):

- A ```python block is a complete program. It is run in a fresh interpreter, in an empty
  temporary directory, and must exit with status 0 and write nothing to stderr.
- The comment lines at the very end of the block are its expected output: each `# text` line
  is one printed line `text` (a bare `#` is an empty line). A block that ends in code must
  print nothing.
- A block with the line `<!-- fragment -->` among the HTML comments right above its fence is
  a fragment of syntax (it may use `...`, a `yield` outside a function, undefined names): it
  is only compiled, never run.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tinyio
import tinyio.testing

ROOT = Path(__file__).resolve().parent.parent
FRAGMENT_MARKER = "<!-- fragment -->"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")
_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Example:
    path: str  # relative to the repository root, with forward slashes
    line: int  # of the opening fence, 1-based
    source: str
    fragment: bool

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def extract_examples(text: str, path: str) -> list[Example]:
    """The ```python blocks of a Markdown text, dedented to their fence's indentation.

    Other fenced blocks are skipped whole, so a ```python line shown inside a ````markdown
    block (as in the devdocs) is not taken for an example.
    """
    lines = text.splitlines()
    examples: list[Example] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence = match["indent"], match["fence"]
        is_example = fence == "```" and match["info"] == "python"
        comments_above = _comments_above(lines, index)
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not _closes(lines[index], fence):
            body.append(lines[index].removeprefix(indent))
            index += 1
        if index == len(lines):
            raise ValueError(f"{path}:{start + 1}: a fenced block is never closed")
        index += 1
        if is_example:
            examples.append(
                Example(
                    path=path,
                    line=start + 1,
                    source="\n".join(body) + "\n",
                    fragment=FRAGMENT_MARKER in comments_above,
                )
            )
    return examples


def _comments_above(lines: list[str], index: int) -> list[str]:
    """The HTML comment lines (such as `<!-- fragment -->` or `<!-- fmt: off -->`) right above
    line `index`, blank lines skipped."""
    comments: list[str] = []
    for line in reversed(lines[:index]):
        stripped = line.strip()
        if stripped.startswith("<!--") and stripped.endswith("-->"):
            comments.append(stripped)
        elif stripped:
            break
    return comments


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def expected_output(source: str) -> str:
    """The trailing `# ...` comment lines of a program, as the text it should print."""
    lines = source.rstrip().splitlines()
    output: list[str] = []
    while lines and lines[-1].lstrip().startswith("#"):
        comment = lines.pop().strip()
        output.append(comment[2:] if comment.startswith("# ") else comment[1:])
    return "".join(line + "\n" for line in reversed(output))


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _all_examples() -> list[Example]:
    examples: list[Example] = []
    for file in _markdown_files():
        relative = file.relative_to(ROOT).as_posix()
        examples += extract_examples(file.read_text(encoding="utf-8"), relative)
    return examples


def _public_objects() -> list[tuple[str, object]]:
    """Every public object of tinyio with the name it is documented under, members included."""
    objects: list[tuple[str, object]] = []
    modules = [(tinyio, "tinyio", name) for name in tinyio.__all__]
    modules += [(tinyio.testing, "tinyio.testing", name) for name in tinyio.testing.__all__]
    for module, prefix, name in modules:
        obj = getattr(module, name)
        objects.append((f"{prefix}.{name}", obj))
        if inspect.isclass(obj):
            for member_name, member in vars(obj).items():
                if not member_name.startswith("_") or member_name in ("__init__", "__call__"):
                    objects.append((f"{prefix}.{name}.{member_name}", member))
    return objects


def _docstring_examples() -> list[Example]:
    examples: list[Example] = []
    for name, obj in _public_objects():
        if isinstance(obj, property):
            obj = obj.fget
        docstring = getattr(obj, "__doc__", None)
        if not isinstance(docstring, str) or not getattr(obj, "__module__", "").startswith(
            "tinyio"
        ):
            continue  # e.g. `tinyio.Coro`, an alias whose __doc__ is typing's
        examples += extract_examples(inspect.cleandoc(docstring), f"{name} docstring")
    return examples


EXAMPLES = _all_examples() + _docstring_examples()


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.fragment], ids=lambda e: e.id)
def test_example_runs_and_prints_its_documented_output(example: Example, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(example.source, encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        check=False,
    )
    where = f"example at {example.id}"
    assert completed.returncode == 0, (
        f"{where} exited with {completed.returncode}:\n{completed.stderr}"
    )
    assert completed.stderr == "", f"{where} wrote to stderr:\n{completed.stderr}"
    assert completed.stdout == expected_output(example.source), (
        f"{where} printed something other than its trailing `# ...` comment lines"
    )


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.fragment], ids=lambda e: e.id)
def test_fragment_is_valid_python(example: Example) -> None:
    # Compiled as the body of a generator function, so that a bare `yield` or `return` is
    # accepted; undefined names and `...` placeholders are fine since nothing runs.
    body = "".join(f"    {line}\n" for line in example.source.splitlines())
    compile(f"def __fragment__():\n{body}    yield\n", example.id, "exec")


# ---------------------------------------------------------------- the collector itself


def test_examples_are_found_in_the_readme_and_the_docs() -> None:
    paths = {example.path for example in EXAMPLES if not example.fragment}
    assert "README.md" in paths
    assert sum(path.startswith("docs/") for path in paths) >= 4
    assert "tinyio.Loop docstring" in paths


def test_trailing_comment_lines_are_the_expected_output() -> None:
    source = 'x = 1  # not output\nprint("a")\nprint()\n# a\n#\n#   indented\n'
    assert expected_output(source) == "a\n\n  indented\n"


def test_a_block_ending_in_code_must_print_nothing() -> None:
    assert expected_output("# a heading comment\nx = 1\n") == ""


def test_blocks_are_extracted_with_their_line_and_fragment_marker() -> None:
    text = "\n".join(
        [
            "# Title",  # 1
            "```python",  # 2
            "print(1)",
            "# 1",
            "```",
            "<!-- fragment -->",  # 6
            "<!-- fmt: off -->",
            "```python",  # 8
            "with (yield lock()):",
            "    ...",
            "```",
            "- item",
            "    ```python",  # 13
            "    print(2)",
            "    ```",
            "<!-- fmt: on -->",
            "```python",  # 17: the marker above applied to block 8 only
            "pass",
            "```",
            "````markdown",
            "```python",
            "print(3)",
            "```",
            "````",
        ]
    )
    examples = extract_examples(text, "page.md")
    assert [(e.line, e.fragment) for e in examples] == [
        (2, False),
        (8, True),
        (13, False),
        (17, False),
    ]
    assert examples[0].source == "print(1)\n# 1\n"
    assert examples[2].source == "print(2)\n"
