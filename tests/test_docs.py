"""The docs stay honest: every `dataledger` command line in a ```sh block of docs/*.md and the
README names a real command with real options, every relative link and anchor resolves, every
`DATALEDGER_*` variable is one the code reads, and every Python example compiles and calls only
methods the SDK has."""

from __future__ import annotations

import ast
import re
import shlex
import textwrap
from pathlib import Path

import click
import pytest

from api.cli import main
from api.client import Client

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
# Fenced blocks, also indented ones inside list items.
SH_BLOCK = re.compile(r"^[ \t]*```sh\n(.*?)^[ \t]*```", re.S | re.M)
PY_BLOCK = re.compile(r"^[ \t]*```python\n(.*?)^[ \t]*```", re.S | re.M)
TEXT_BLOCK = re.compile(r"^[ \t]*```text\n(.*?)^[ \t]*```", re.S | re.M)
INLINE_COMMAND = re.compile(r"`((?:\.venv/bin/)?dataledger [^`]+)`")
FD_REDIRECT = re.compile(r"(?<=\s)\d+(?=[<>])")  # the 2 of 2>/dev/null
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
SEPARATORS = {"(", ")", ";", "&&", "||", "|", "&", ";;"}
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")


def mentions(markdown: str) -> list[str]:
    """Inline `dataledger ...` code in the prose: names a command, perhaps not all it needs."""
    prose = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", markdown, flags=re.S | re.M)
    return INLINE_COMMAND.findall(prose)


def shell_commands(markdown: str) -> list[str]:
    """The command lines of the docs: every line of a ```sh block (continuations joined,
    heredoc bodies dropped) and `$ ` prompts in ```text blocks."""
    commands = [
        line[2:]
        for block in TEXT_BLOCK.findall(markdown)
        for line in textwrap.dedent(block).splitlines()
        if line.startswith("$ ")
    ]
    for block in SH_BLOCK.findall(markdown):
        lines = block.replace("\\\n", " ").splitlines()
        terminator = None
        for line in lines:
            if terminator is not None:
                if line.strip() == terminator:
                    terminator = None
                continue
            heredoc = HEREDOC.search(line)
            if heredoc:
                terminator = heredoc.group(1)
            commands.append(line)
    return commands


def invocations(line: str) -> list[list[str]]:
    """The argument lists of every `dataledger` run on a shell line (in pipes, `&&`, `$(...)`)."""
    lexer = shlex.shlex(FD_REDIRECT.sub("", line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    simple: list[list[str]] = [[]]
    tokens = list(lexer)
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token in SEPARATORS or set(token) <= set("();&|"):
            simple.append([])
        elif set(token) <= set("<>&"):
            skip_next = True  # the redirection's target
        else:
            simple[-1].append(token)
    found = []
    for words in simple:
        while words and ASSIGNMENT.match(words[0]):
            words = words[1:]
        if words[:1] == ["sudo"]:
            words = words[1:]
            while words and words[0].startswith("-"):
                words = words[2:] if words[0] in ("-u", "-g") else words[1:]
        if words and (words[0] == "dataledger" or words[0].endswith("/dataledger")):
            found.append(words[1:])
    return found


def _option(command: click.Command, name: str) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def _placeholder(value: str) -> bool:
    return value.startswith(("$", "<")) or "…" in value


def problems_of(args: list[str], complete: bool = True) -> list[str]:
    """What is wrong with `dataledger ARGS`, checked against the click command tree; if
    `complete`, also whether it names a command with all its required options and arguments."""
    command: click.Command = main
    path = ["dataledger"]
    given: set[str | None] = set()
    positional = 0
    problems: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--help":
            return problems
        if token.startswith("-") and token != "-":
            name, has_value, value = token.partition("=")
            option = _option(command, name)
            if option is None:
                problems.append(f"`{' '.join(path)}` has no option {name}")
                i += 1
                continue
            given.add(option.name)
            if not option.is_flag and not has_value:
                i += 1
                value = args[i] if i < len(args) else ""
            if not option.is_flag and not _placeholder(value):
                problems += _bad_value(path, name, option, value)
        elif isinstance(command, click.Group):
            sub = command.commands.get(token)
            if sub is None:
                problems.append(f"`{' '.join(path)}` has no command {token!r}")
                return problems
            command, path, given, positional = sub, [*path, token], set(), 0
        else:
            positional += 1
        i += 1
    where = " ".join(path)
    if not complete:
        return problems
    if isinstance(command, click.Group) and not command.invoke_without_command:
        return [*problems, f"`{where}` is a group: name one of its commands"]
    for param in command.params:
        required = isinstance(param, click.Option) and param.required and not param.envvar
        if required and param.name not in given:
            problems.append(f"`{where}` needs {param.opts[0]}")
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    unlimited = any(p.nargs == -1 for p in arguments)
    if not unlimited and positional > len(arguments):
        problems.append(f"`{where}` takes {len(arguments)} arguments, got {positional}")
    required = sum(1 for p in arguments if p.required)
    if positional < required:
        problems.append(f"`{where}` needs {required} arguments, got {positional}")
    return problems


def _bad_value(path: list[str], name: str, option: click.Option, value: str) -> list[str]:
    kinds = (click.Choice, click.types.IntParamType, click.types.FloatParamType)
    if not isinstance(option.type, kinds):
        return []  # paths and free text: nothing to check without the files
    try:
        option.type.convert(value, option, None)
    except click.BadParameter as exc:
        return [f"`{' '.join(path)} {name} {value}`: {exc.message}"]
    return []


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_command_line_names_real_commands_and_options(doc: Path) -> None:
    problems = [
        f"{line.strip()!r}: {problem}"
        for line in shell_commands(doc.read_text())
        for args in invocations(line)
        for problem in problems_of(args)
    ]
    problems += [
        f"`{mention}`: {problem}"
        for mention in mentions(doc.read_text())
        for args in invocations(mention)
        for problem in problems_of(args, complete=False)
    ]
    assert not problems, "\n".join(problems)


def test_the_docs_show_commands_at_all() -> None:
    # A parser that silently found nothing would pass every doc.
    operations = (ROOT / "docs" / "operations.md").read_text()
    found = [args for line in shell_commands(operations) for args in invocations(line)]
    assert ["keygen", "--out", "/etc/dataledger/log-key.json"] in found
    assert len(found) >= 10


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("dataledger assets list", "has no command 'assets'"),
        ("dataledger asset list --colour red", "has no option --colour"),
        (
            'X=$(dataledger --key k asset register --file f --title "t" --category c '
            "--classification secret --personal-info none)",
            "'secret' is not one of",
        ),
        (
            "dataledger offer publish $A --action use --purpose r --term-days ninety --price 1",
            "'ninety' is not a valid integer",
        ),
        ("dataledger asset freeze $A", "needs --reason"),
        ("dataledger log receipt", "needs 1 arguments"),
        ("dataledger log", "is a group"),
        (
            "sudo -u dataledger .venv/bin/dataledger verify --vkey v --databse-url x 2>/dev/null",
            "has no option --databse-url",
        ),
    ],
)
def test_the_checker_catches_made_up_commands(line: str, expected: str) -> None:
    problems = [p for args in invocations(line) for p in problems_of(args)]
    assert any(expected in p for p in problems), problems


def test_the_checker_accepts_real_command_lines() -> None:
    text = (
        "```sh\n"
        "ASSET=$(dataledger --key owner.key asset register --file a.csv --title T \\\n"
        "    --category transport --classification general --personal-info none)\n"
        "sudo -u postgres psql <<'SQL'\nCREATE DATABASE dataledger OWNER dataledger;\nSQL\n"
        'dataledger asset show "$ASSET" 2>/dev/null | head && dataledger --json log key\n'
        "dataledger log receipt 7 > receipt.json 2>&1\n"
        "```\n"
        "1. In a list:\n\n"
        "   ```sh\n   dataledger serve --port 8100 --certify-interval 0\n   ```\n"
    )
    runs = [args for line in shell_commands(text) for args in invocations(line)]
    assert [args[:3] for args in runs] == [
        ["--key", "owner.key", "asset"],
        ["asset", "show", "$ASSET"],
        ["--json", "log", "key"],
        ["log", "receipt", "7"],
        ["serve", "--port", "8100"],
    ]
    assert all(problems_of(args) == [] for args in runs)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    without_code = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return {_slug(h.replace("`", "")) for h in re.findall(r"^#+ (.+)$", without_code, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_relative_links_and_anchors_resolve(doc: Path) -> None:
    text = doc.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+://|^mailto:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text()):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, "\n".join(broken)


def _source_text() -> str:
    files = [p for d in ("api", "ledger", "tests", "scripts") for p in (ROOT / d).rglob("*.py")]
    return "\n".join(p.read_text() for p in files if p.name != "test_docs.py")


def test_every_environment_variable_named_is_read_by_the_code() -> None:
    source = _source_text()
    named = {v for doc in DOCS for v in re.findall(r"\bDATALEDGER_[A-Z_]+\b", doc.read_text())}
    assert named, "the docs name no DATALEDGER_* variable at all?"
    unknown = sorted(v for v in named if v not in source)
    assert not unknown, f"named in the docs but read nowhere: {unknown}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_python_examples_compile_and_use_real_sdk_methods(doc: Path) -> None:
    for block in PY_BLOCK.findall(doc.read_text()):
        tree = ast.parse(textwrap.dedent(block), filename=str(doc))
        calls = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "client"
        }
        missing = sorted(name for name in calls if not hasattr(Client, name))
        assert not missing, f"{doc.name}: Client has no {missing}"


def test_prose_mentions_and_prompts_are_checked_too() -> None:
    text = (
        "Run `dataledger vacuum` first, then `dataledger serve --workers 4`.\n\n"
        "```text\n$ dataledger verify --since --vkey v\nerror: ...\n```\n"
    )
    named = [p for m in mentions(text) for a in invocations(m) for p in problems_of(a, False)]
    assert named == ["`dataledger` has no command 'vacuum'"]
    prompted = [
        p for line in shell_commands(text) for a in invocations(line) for p in problems_of(a)
    ]
    assert prompted == ["`dataledger verify` has no option --since"]


@pytest.mark.parametrize(
    "doc", sorted((ROOT / "docs").glob("quickstart-*.md")), ids=lambda p: p.name
)
def test_quickstarts_set_the_variables_they_use(doc: Path) -> None:
    """Each shell variable a quickstart's ```sh blocks use is set in them first (issue 18)."""
    assigned: set[str] = {"PATH", "PWD", "HOME"}
    unset = []
    for line in shell_commands(doc.read_text()):
        code = line.split(" #", 1)[0]
        before_use = code.split("&&", 1)  # `X=$(...) && echo "$X"`: set, then used
        assigned |= set(re.findall(r"(?:^|[\s;&(])(?:export )?([A-Za-z_]\w*)=", before_use[0]))
        for name in re.findall(r"\$\{?([A-Za-z_]\w*)", code.split("python3 -c", 1)[0]):
            if name not in assigned:
                unset.append(f"{name} in: {line.strip()}")
        assigned |= set(re.findall(r"(?:^|[\s;&(])(?:export )?([A-Za-z_]\w*)=", code))
    assert not unset, "\n".join(unset)
