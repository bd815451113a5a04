"""Every ```python block in README.md, docs/ and the public docstrings (which mkdocstrings
renders into the API reference) is a program that runs and prints what it says; every ```text
block shows what a real run prints.

The convention (see docs/devdocs/docs-examples.md):

- A ```python block is a complete program. It is run in a fresh interpreter, in an empty
  temporary directory, and must exit with status 0 and write nothing to stderr.
- The comment lines at the very end of the block are its expected output: each `# text` line
  is one printed line `text` (a bare `#` is an empty line). A block that ends in code must
  print nothing.
- A block with the line `<!-- fragment -->` among the HTML comments right above its fence is
  a fragment of syntax (it may use `...`, a `yield` outside a function, undefined names): it
  is only compiled, never run.
- A ```text block is the output -- stdout and stderr together, as a terminal shows them -- of
  the program in the fenced block before it: a ```python block (then with no trailing `#`
  lines, and it may fail: a traceback is output too), or a ```bash block of one `python ...`
  command. In it, `...` stands for any text (as doctest's ELLIPSIS); before comparing, the
  temporary directory is cut from paths (`example.py`), tinyio's own files read
  `.../tinyio/<file>.py` with `...` for their line numbers, and traceback lines of only `^`
  and `~` are dropped (they differ between Python versions). A ```text block that is not
  output (a diagram) has `<!-- not-output -->` above it.
- A ```python block with `<!-- untraced -->` above it runs without coverage.py's tracer under
  `pytest --cov`: its output depends on when a cancelled thread call stuck in a C call ends,
  which a tracer delays on CPython 3.11 (see the threads page, "Under a debugger or a
  tracer"). Its code is measured by the other examples and tests.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import tinyio
import tinyio.testing

ROOT = Path(__file__).resolve().parent.parent
FRAGMENT_MARKER = "<!-- fragment -->"
NOT_OUTPUT_MARKER = "<!-- not-output -->"
UNTRACED_MARKER = "<!-- untraced -->"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")
_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Example:
    path: str  # relative to the repository root, with forward slashes
    line: int  # of the opening fence, 1-based
    source: str
    fragment: bool
    language: str = "python"  # or "bash": a command, taken only when its output is shown
    output: str | None = None  # the ```text block that shows what running it prints
    output_line: int | None = None
    untraced: bool = False  # run without coverage.py's tracer (`<!-- untraced -->`)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


@dataclasses.dataclass(frozen=True)
class Problem:
    """A ```text block that cannot be checked: the block before it does not run."""

    where: str
    message: str


def extract_examples(text: str, path: str) -> list[Example]:
    """The ```python blocks of a Markdown text, dedented to their fence's indentation, each with
    the ```text block that shows its output, if any; and the ```bash commands that have one.

    Other fenced blocks are skipped whole, so a ```python line shown inside a ````markdown
    block (as in the devdocs) is not taken for an example.
    """
    return _extract(text, path)[0]


def _extract(text: str, path: str) -> tuple[list[Example], list[Problem]]:
    lines = text.splitlines()
    examples: list[Example] = []
    problems: list[Problem] = []
    previous: Example | None = None  # the fenced block before this one, if it may have output
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"]
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
        source = "\n".join(body) + "\n"
        block = None
        if fence == "```" and info == "python":
            block = Example(
                path,
                start + 1,
                source,
                fragment=FRAGMENT_MARKER in comments_above,
                untraced=UNTRACED_MARKER in comments_above,
            )
            examples.append(block)
        elif fence == "```" and info == "bash":
            block = Example(path, start + 1, source, fragment=False, language="bash")
        elif fence == "```" and info == "text" and NOT_OUTPUT_MARKER not in comments_above:
            problem = _output_problem(previous)
            if problem is not None:
                problems.append(Problem(f"{path}:{start + 1}", problem))
            else:
                assert previous is not None
                shown = dataclasses.replace(previous, output=source, output_line=start + 1)
                if previous.language == "python":
                    examples[-1] = shown
                else:
                    examples.append(shown)
        previous = block
    return examples, problems


def _output_problem(previous: Example | None) -> str | None:
    """Why a ```text block after `previous` cannot be checked as its output, or None."""
    mark = f"(if it is not the output of a run, put {NOT_OUTPUT_MARKER} above it)"
    if previous is None:
        return (
            f"a ```text block must follow the ```python or ```bash block it is the output of {mark}"
        )
    if previous.output is not None:
        return f"the block at line {previous.line} already has its output shown {mark}"
    if previous.language == "bash":
        if len(previous.source.strip().splitlines()) != 1 or not previous.source.startswith(
            "python "
        ):
            return f"the ```bash block before it is not one `python ...` command {mark}"
        return None
    if previous.fragment:
        return f"the ```python block before it is a fragment, which does not run {mark}"
    if expected_output(previous.source):
        return (
            "the ```python block before it also ends in `# ...` output lines: show its output "
            "in one place"
        )
    return None


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


def _all_examples() -> tuple[list[Example], list[Problem]]:
    examples: list[Example] = []
    problems: list[Problem] = []
    for file in _markdown_files():
        relative = file.relative_to(ROOT).as_posix()
        found, wrong = _extract(file.read_text(encoding="utf-8"), relative)
        examples += found
        problems += wrong
    return examples, problems


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


def _docstring_examples() -> tuple[list[Example], list[Problem]]:
    examples: list[Example] = []
    problems: list[Problem] = []
    for name, obj in _public_objects():
        if isinstance(obj, property):
            obj = obj.fget
        docstring = getattr(obj, "__doc__", None)
        if not isinstance(docstring, str) or not getattr(obj, "__module__", "").startswith(
            "tinyio"
        ):
            continue  # e.g. `tinyio.Coro`, an alias whose __doc__ is typing's
        found, wrong = _extract(inspect.cleandoc(docstring), f"{name} docstring")
        examples += found
        problems += wrong
    return examples, problems


_IN_PAGES, _PAGE_PROBLEMS = _all_examples()
_IN_DOCSTRINGS, _DOCSTRING_PROBLEMS = _docstring_examples()
EXAMPLES = _IN_PAGES + _IN_DOCSTRINGS
OUTPUT_PROBLEMS = _PAGE_PROBLEMS + _DOCSTRING_PROBLEMS


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if not e.fragment and e.output is None], ids=lambda e: e.id
)
def test_example_runs_and_prints_its_documented_output(example: Example, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(example.source, encoding="utf-8")
    environment = None
    if example.untraced:
        environment = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"}
    completed = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment,
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


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.output is not None], ids=lambda e: e.id
)
def test_shown_output_is_what_a_run_prints(example: Example, tmp_path: Path) -> None:
    assert example.output is not None
    if example.language == "python":
        (tmp_path / "example.py").write_text(example.source, encoding="utf-8")
        command = [sys.executable, "example.py"]
    else:
        command = [sys.executable, *shlex.split(example.source)[1:]]
    # Not measured by coverage.py (`pytest --cov` measures subprocesses through
    # COVERAGE_PROCESS_CONFIG): what a terminal shows is what a plain run prints, and on
    # CPython 3.11 a tracer delays what a stuck thread call prints (see the threads page,
    # "Under a debugger or a tracer"). The examples' code is measured by the test above.
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TINYIO_") and k != "COVERAGE_PROCESS_CONFIG"
    }
    # Unbuffered, so that stdout and stderr interleave as in a terminal; no colours.
    environment.update(PYTHONUNBUFFERED="1", PYTHON_COLORS="0", NO_COLOR="1")
    completed = subprocess.run(
        command,
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        check=False,
    )
    actual = normalise_output(completed.stdout, tmp_path)
    expected = normalise_output(example.output)
    assert output_matches(expected, actual), (
        f"the output shown at {example.path}:{example.output_line} is not what the block at "
        f"{example.id} prints (- shown, + printed; `...` in the shown text matches anything):\n"
        + "\n".join(difflib.unified_diff(expected.splitlines(), actual.splitlines(), lineterm=""))
    )


def test_every_text_block_is_the_output_of_the_block_before_it() -> None:
    assert OUTPUT_PROBLEMS == []


_PACKAGE = Path(tinyio.__file__).resolve().parent
_LIBRARY_LINE = re.compile(r'(\.\.\./tinyio/[\w/]+\.py)(", line |:)\d+')
_CARETS = re.compile(r"^[ \t]*[\^~]+[ \t]*$")


def normalise_output(text: str, directory: Path | None = None) -> str:
    """`text` with what differs from run to run and from Python to Python taken out."""
    if directory is not None:
        for prefix in {str(directory), str(directory.resolve())}:
            text = text.replace(prefix + os.sep, "")
        text = text.replace(str(_PACKAGE), ".../tinyio")
        text = _LIBRARY_LINE.sub(r"\1\2...", text)
    lines = [line.rstrip() for line in text.splitlines() if not _CARETS.match(line)]
    return "\n".join(lines).strip("\n")


def output_matches(expected: str, actual: str) -> bool:
    """Whether `actual` is `expected`, where each `...` in `expected` stands for any text."""
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


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


def test_a_text_block_is_the_output_of_the_program_or_command_before_it() -> None:
    text = "\n".join(
        [
            "```python",  # 1
            "raise SystemExit('bye')",
            "```",
            "Some prose between them.",
            "```text",  # 5
            "bye",
            "```",
            "```bash",  # 8
            "python -m tinyio --demo-deadlock",
            "```",
            "```text",  # 11
            "Running ...",
            "```",
            "<!-- not-output -->",
            "```text",  # 15: a diagram
            "a -> b",
            "```",
        ]
    )
    examples, problems = _extract(text, "page.md")
    assert problems == []
    assert [(e.line, e.language, e.output, e.output_line) for e in examples] == [
        (1, "python", "bye\n", 5),
        (8, "bash", "Running ...\n", 11),
    ]


def test_a_text_block_that_cannot_be_checked_is_a_problem() -> None:
    text = "\n".join(
        [
            "```text",  # 1: nothing before it
            "out",
            "```",
            "<!-- fragment -->",
            "```python",
            "yield x",
            "```",
            "```text",  # 8: after a fragment
            "out",
            "```",
            "```python",
            "print(1)",
            "# 1",
            "```",
            "```text",  # 15: the program's output is in its comments already
            "1",
            "```",
            "```bash",
            "pip install tinyio",
            "```",
            "```text",  # 21: not a python command
            "Successfully installed",
            "```",
        ]
    )
    _, problems = _extract(text, "page.md")
    assert [problem.where for problem in problems] == [
        "page.md:1",
        "page.md:8",
        "page.md:15",
        "page.md:21",
    ]


def test_output_is_compared_strictly_but_for_ellipses_paths_and_carets(tmp_path: Path) -> None:
    printed = "\n".join(
        [
            "Traceback (most recent call last):",
            f'  File "{tmp_path / "example.py"}", line 12, in <module>',
            "    tinyio.Loop().run(main())",
            "    ^^^^^^^^^^^^^^^^^^^^^^^^^",
            f'  File "{_PACKAGE / "_thread.py"}", line 345, in run_in_thread',
            f"ValueError: at 0x7f0012345678 in {_PACKAGE / '__main__.py'}:99   ",
            "",
        ]
    )
    actual = normalise_output(printed, tmp_path)
    assert actual == "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "example.py", line 12, in <module>',
            "    tinyio.Loop().run(main())",
            '  File ".../tinyio/_thread.py", line ..., in run_in_thread',
            "ValueError: at 0x7f0012345678 in .../tinyio/__main__.py:...",
        ]
    )
    shown = actual.replace("0x7f0012345678", "0x...")
    assert output_matches(normalise_output(shown), actual)
    assert output_matches("Traceback ...\nValueError: ...", actual)
    # A line number of the program itself, or any other word, must be right.
    assert not output_matches(shown.replace("line 12", "line 13"), actual)
    assert not output_matches(shown.replace("ValueError", "KeyError"), actual)
    assert not output_matches(shown + "\nmore", actual)
