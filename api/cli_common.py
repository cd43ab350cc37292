"""What every `dataledger` command shares, in one place: the --url/--key/--json options and the
context they fill, output (`emit`, notes, progress bars), local validation of ids and key files
before any request, and how every failure is reported (one line, or JSON on stderr with --json;
never a traceback).

The command modules (api/cli*.py) import from here, never from each other for these.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar, get_args
from urllib.parse import urlsplit, urlunsplit

import click
import httpx
import msgspec
import nacl.signing
from click.core import ParameterSource

from api.client import DEFAULT_URL, ApiError, Client
from api.keyfiles import read_key
from ledger.errors import EncodingError, LedgerError, SignatureError, VerificationError
from ledger.statements import Id, Sha256Hex

F = TypeVar("F", bound=Callable[..., Any])

DEBUG_ENV = "DATALEDGER_DEBUG"  # set to 1: unexpected errors show their traceback


# --- failures -----------------------------------------------------------------------------------


class CliError(click.ClickException):
    """A failure reported the one way: `error: DETAIL` on stderr, or with --json
    `{"error": {"type", "title", "detail", "status"}}` on stderr; exit `exit_code` (non-zero).

    `type` is a stable code (the server's problem code for its refusals, e.g. `not-found`,
    `unknown-key`; `usage` for bad arguments; ...), `status` the HTTP status of the server's
    answer, or null when the failure is local."""

    def __init__(
        self,
        detail: str,
        *,
        type: str = "error",
        title: str = "Failed",
        status: int | None = None,
        exit_code: int = 1,
        extra: dict[str, Any] | None = None,
        human: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.type = type
        self.title = title
        self.detail = detail
        self.status = status
        self.exit_code = exit_code  # type: ignore[misc]  # click's default is a ClassVar
        self.extra = extra or {}
        self.human = human  # the whole human-readable text, when not `error: DETAIL`
        self.as_json = False  # set by the group that reports it

    def as_dict(self) -> dict[str, Any]:
        body = {"type": self.type, "title": self.title, "detail": self.detail}
        return {"error": {**body, "status": self.status, **self.extra}}

    def show(self, file: Any = None) -> None:
        if self.as_json:
            text = msgspec.json.encode(self.as_dict()).decode()
        else:
            text = self.human if self.human is not None else f"error: {self.detail}"
        # Shown after the command's printable streams are gone: escape here too.
        click.echo(text.translate(_UNPRINTABLE), err=True)


def _fail(message: str, code: int = 1, *, type: str = "error", title: str = "Failed") -> NoReturn:
    """Stop the command with `message` (one line) and exit status `code`."""
    raise CliError(message, type=type, title=title, exit_code=code)


NOT_REGISTERED = (
    "this key is not registered on this ledger: run "
    "`dataledger party register --key FILE --name ...` first"
)
NO_SUCH_ENDPOINT = (
    "the server has no such endpoint: give --url the server's base URL, e.g. http://host:8000 "
    "(and check it runs this version of dataledger)"
)


def _is_unregistered(exc: ApiError) -> bool:
    """The server refused a signature or login because the key is not registered: problem code
    `unknown-key`, or `bad-signature` saying "signed by unknown key" (the envelope check)."""
    detail = str(exc.problem.get("detail", ""))
    return exc.code == "unknown-key" or (exc.code == "bad-signature" and "unknown key" in detail)


def api_failure(exc: ApiError) -> CliError:
    """A server's refusal (an RFC 9457 problem) as a CLI failure."""
    title = str(exc.problem.get("title") or "Refused")
    detail = str(exc.problem.get("detail") or title)
    code = exc.code or f"http-{exc.status}"
    if _is_unregistered(exc):
        return CliError(
            f"{NOT_REGISTERED} (server: {detail})",
            type="unknown-key",
            title="Key not registered",
            status=exc.status,
        )
    if exc.status == 404 and detail == "Not Found" and title == "Not Found":
        # The router's own 404 (no route), not the ledger's "no asset ...".
        code, detail = "no-such-endpoint", NO_SUCH_ENDPOINT
    return CliError(
        detail,
        type=code,
        title=title,
        status=exc.status,
        human=f"error: server refused ({code}): {exc.status} {title}: {detail}",
    )


def _ledger_title(exc: LedgerError) -> str:
    if isinstance(exc, SignatureError):
        return "Signature not accepted"
    if isinstance(exc, EncodingError):
        return "Malformed input"
    if isinstance(exc, VerificationError):
        return "Verification failed"
    return "Refused"


def _run_api(action: Callable[[], None]) -> None:
    """Turn server problems and verification failures into a clear message and exit status."""
    try:
        action()
    except ApiError as exc:
        raise api_failure(exc) from None
    except LedgerError as exc:
        raise CliError(exc.message, type=exc.code, title=_ledger_title(exc)) from None
    except httpx.HTTPError as exc:
        where = exc.request.url if isinstance(exc, httpx.RequestError) else "the server"
        raise CliError(
            f"cannot reach {where}: {exc}", type="unreachable", title="Cannot reach the server"
        ) from None
    except OSError as exc:
        raise CliError(
            f"cannot reach the server: {exc}", type="unreachable", title="Cannot reach the server"
        ) from None


def _json_asked(args: Sequence[str]) -> bool:
    """--json among the arguments (before a `--`)? Known before any option is processed, so
    even a failure to parse the command line is reported as JSON."""
    words = list(args)
    if "--" in words:
        words = words[: words.index("--")]
    return "--json" in words


def _as_failure(exc: Exception) -> CliError:
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, click.UsageError):
        title = "Invalid value" if isinstance(exc, click.BadParameter) else "Invalid usage"
        return CliError(exc.format_message(), type="usage", title=title, exit_code=exc.exit_code)
    if isinstance(exc, click.ClickException):
        return CliError(exc.format_message(), exit_code=exc.exit_code)
    if isinstance(exc, LedgerError):
        return CliError(exc.message, type=exc.code, title=_ledger_title(exc))
    return CliError(
        f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 to see where)",
        type="internal",
        title="Unexpected error",
    )


class LedgerGroup(click.Group):
    """The root group: reports every failure the one way (CliError), JSON with --json, and an
    unexpected exception as one line too (its traceback only with DATALEDGER_DEBUG=1)."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        self._json = _json_asked(words)
        return super().main(words, *rest, **kwargs)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.ClickException as exc:
            raise self._reported(exc, None) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            raise self._reported(exc, ctx) from None
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise self._reported(exc, ctx) from None

    def _reported(self, exc: Exception, ctx: click.Context | None) -> click.ClickException:
        obj = ctx.find_object(Context) if ctx is not None else None
        as_json = getattr(self, "_json", False) or bool(obj and obj.as_json)
        if not as_json and isinstance(exc, click.ClickException) and not isinstance(exc, CliError):
            return exc  # click's own text (usage and hint) for people
        failure = _as_failure(exc)
        failure.as_json = as_json
        return failure


# --- output -------------------------------------------------------------------------------------

# Every control character but newline and tab, DEL, and the C1 controls, shown as \\uNNNN:
# readable, and inside a JSON string the same character (--json output stays valid).
_UNPRINTABLE = {
    c: f"\\u{c:04x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in "\n\t"
}


class _Printable(io.TextIOBase):
    """A text stream that writes control characters as visible escapes."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(text.translate(_UNPRINTABLE))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    @property
    def buffer(self) -> Any:
        return self._inner.buffer  # bytes written on purpose (exports) pass as they are


@contextlib.contextmanager
def printable_output() -> Iterator[None]:
    """stdout and stderr escape control characters while a command runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Printable(sys.stdout), _Printable(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


# --- the shared options and their context -------------------------------------------------------


def base_url(url: str) -> tuple[str, str | None]:
    """The server's base URL from --url, and a note if it was changed.

    `http://host:8000/v1` (or `/v1/`: the API's prefix, which every request adds itself) is
    taken as `http://host:8000`, with a note; a URL without http(s) scheme and host is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(
            f"--url {url!r}: give the server's base URL, e.g. http://host:8000",
            type="usage",
            title="Invalid usage",
            exit_code=2,
        )
    path = parts.path.rstrip("/")
    note = None
    if path == "/v1" or path.endswith("/v1"):
        path = path[: -len("/v1")]
        note = (
            f"note: --url is the server's base URL: using {urlunsplit(parts._replace(path=path))}"
        )
    return urlunsplit(parts._replace(path=path, query="", fragment="")), note


class Context:
    """Options shared by every command: server URL, signing key file, output format."""

    def __init__(self, url: str | None, key: str | None, as_json: bool) -> None:
        self.url = url or DEFAULT_URL
        self.key_path = key
        self.as_json = as_json

    def client(self, vkey: str | None = None) -> Client:
        """A client pinned to `vkey`, else to DATALEDGER_VKEY (a vkey line or file), else to
        the key the server announces on first use (say --vkey, or `verify --state`, to do
        better)."""
        pinned = vkey or read_vkey(os.environ.get("DATALEDGER_VKEY") or None)
        url, note = base_url(self.url)
        if note:
            self.note(note)
        return Client(url, vkey=pinned, trust_on_first_use=pinned is None)

    def signing_key(self) -> nacl.signing.SigningKey:
        if not self.key_path:
            raise click.UsageError(
                "this command signs a statement: give --key FILE or DATALEDGER_KEY"
            )
        return load_key(Path(self.key_path))

    def login(self, client: Client) -> dict[str, Any]:
        """Log `client` in with --key (for reads of private data); returns the login result."""
        return client.login(self.signing_key())

    def emit(self, data: Any, human: str) -> None:
        """The command's result on stdout: `data` as JSON with --json, else `human`."""
        if self.as_json:
            click.echo(msgspec.json.encode(data).decode())
        else:
            click.echo(human)

    def note(self, message: str) -> None:
        """A remark for people (progress, a changed --url), on stderr, --json or not; with
        --json a failure is then the last line of stderr, one JSON object."""
        click.echo(message, err=True)

    def progressbar(self, length: int, label: str) -> Any:
        """A progress bar on stderr (just its label when stderr is not a terminal)."""
        return click.progressbar(length=length, label=label, file=sys.stderr)


def current() -> Context:
    """The running command's Context (a default one when a group runs on its own, as tests do
    with `valuation`)."""
    ctx = click.get_current_context()
    obj = ctx.find_object(Context)
    if obj is None:
        obj = ctx.find_root().obj = Context(None, None, False)
    return obj


def _merge(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        obj = ctx.find_object(Context)
        if obj is None:
            obj = ctx.find_root().obj = Context(None, None, False)
        if value in (None, False):
            return value
        # A value from the environment must not override one given before the sub-command
        # (`dataledger --url B log checkpoint` with DATALEDGER_URL=A talks to B).
        typed = param.name is not None and (
            ctx.get_parameter_source(param.name) == ParameterSource.COMMANDLINE
        )
        if typed or getattr(obj, name) in (None, False):
            setattr(obj, name, value)
        return value

    return callback


def json_option(command: F) -> F:
    """--json, accepted before or after the sub-command name (every command takes it)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_merge("as_json"),
        help="Machine-readable JSON output (errors too, on stderr).",
    )(command)


def common_options(command: F) -> F:
    """--url, --key and --json, accepted before or after the sub-command name."""
    command = json_option(command)
    command = click.option(
        "--key",
        envvar="DATALEDGER_KEY",
        expose_value=False,
        callback=_merge("key_path"),
        help="Key file to sign with [env DATALEDGER_KEY].",
    )(command)
    command = click.option(
        "--url",
        envvar="DATALEDGER_URL",
        expose_value=False,
        callback=_merge("url"),
        help=f"Server base URL [env DATALEDGER_URL; default {DEFAULT_URL}].",
    )(command)
    return command


def read_vkey(value: str | None) -> str | None:
    """A vkey given inline or as a file holding it."""
    if value is None:
        return None
    return Path(value).read_text().strip() if os.path.isfile(value) else value.strip()


# --- key files ----------------------------------------------------------------------------------


def load_key(path: Path, what: str = "key file") -> nacl.signing.SigningKey:
    """The signing key in `path`, or a plain one-line reason why that file is not one: missing,
    a directory, empty, a verifier key, JSON that is not a key file (api.keyfiles says which)."""
    try:
        return read_key(path)
    except FileNotFoundError:
        raise CliError(
            f"no {what} at {path} (make one with `dataledger keygen --out FILE`)",
            type="key-file",
            title="Not a key file",
            exit_code=2,
        ) from None
    except IsADirectoryError:
        raise CliError(
            f"{path} is a directory, not a {what}",
            type="key-file",
            title="Not a key file",
            exit_code=2,
        ) from None
    except OSError as exc:
        raise CliError(
            f"cannot read {what} {path}: {exc.strerror or exc}",
            type="key-file",
            title="Not a key file",
            exit_code=2,
        ) from None
    except LedgerError as exc:
        raise CliError(exc.message, type="key-file", title="Not a key file", exit_code=2) from None


# --- ids: checked here, before any request ------------------------------------------------------


def _pattern(annotated: Any) -> str:
    return str(get_args(annotated)[1].pattern)


ID_PATTERN = _pattern(Id)  # ledger.statements.Id: assets, offers, licences, ...
HEX64_PATTERN = _pattern(Sha256Hex)  # party ids, keyids, fingerprints


class IdType(click.ParamType[str]):
    """An id of one kind, checked against the ledger's own pattern before any request:
    `asset id must be 32 hex characters (0-9, a-f), got ''`. Upper-case hex is accepted (and
    lower-cased): it is the same id."""

    def __init__(self, kind: str, pattern: str) -> None:
        self.kind = kind
        self.name = kind.replace(" ", "_")
        self.pattern = re.compile(pattern)
        self.length = 64 if pattern == HEX64_PATTERN else 32

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str | None:
        return None

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if self.pattern.fullmatch(text.lower()):
            return text.lower()
        shown = repr(text) if len(text) <= 72 else repr(text[:72]) + "..."
        message = f"{self.kind} must be {self.length} hex characters (0-9, a-f), got {shown}"
        if re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", text):
            other = "a party id, keyid or fingerprint" if len(text) == 64 else "an id of a record"
            message += f": {len(text)} hex characters is {other}"
        self.fail(message, param, ctx)


ASSET_ID = IdType("asset id", ID_PATTERN)
OFFER_ID = IdType("offer id", ID_PATTERN)
LICENCE_ID = IdType("licence id", ID_PATTERN)
OBJECTION_ID = IdType("objection id", ID_PATTERN)
TRANSFER_ID = IdType("transfer id", ID_PATTERN)
PAYMENT_ID = IdType("payment id", ID_PATTERN)
PARTY_ID = IdType("party id", HEX64_PATTERN)
KEYID = IdType("keyid", HEX64_PATTERN)
FINGERPRINT = IdType("fingerprint", HEX64_PATTERN)
