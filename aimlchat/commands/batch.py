"""`aimlchat batch`: wire IN, OUT, the workers and the progress line together, and turn
the way a run ended into an exit status and one line that says what to do next.

The main thread runs the batch loop itself (`Runner.run`), so Ctrl-C and SIGTERM reach
it: Ctrl-C, SIGTERM and SIGHUP only set a flag here, and the loop stops taking items,
gives the requests in flight a few seconds, writes what came back, and ends with 130,
143 or 129.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from aimlchat.api.retry import RetryPolicy
from aimlchat.batch.budget import Daily, daily_limit
from aimlchat.batch.gate import RateGate
from aimlchat.batch.outfile import Existing, OutFile, StdoutFile
from aimlchat.batch.progress import Progress, Stats, summary
from aimlchat.batch.records import Reader, Record, Shard, Unknown, UnknownParams, count
from aimlchat.batch.request import Connection, Defaults, Requester
from aimlchat.batch.runner import Ending, Runner, StopFlag
from aimlchat.batch.scheduler import Done, run_item
from aimlchat.chat.files import FileContext
from aimlchat.commands.batch_prices import has_price, load_prices
from aimlchat.commands.message import gather_files, working_dir
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError, ExitCode, StoreError, UsageError
from aimlchat.messages import ESTIMATE, Cost, assistant, user
from aimlchat.money import usd
from aimlchat.record import record, replace
from aimlchat.words import plural

if TYPE_CHECKING:
    from aimlchat.api.client import Client
    from aimlchat.errors import ApiError
    from aimlchat.storage.store import Store
    from aimlchat.terminal.environment import Environment
    from aimlchat.terminal.output import Output

PATIENCE = 600.0  # seconds of nothing but rate limits before the batch gives up
_SIGNALLED = {
    "interrupt": (ExitCode.INTERRUPTED, "interrupted"),
    "terminate": (ExitCode.TERMINATED, "terminated"),
    "hangup": (ExitCode.HANGUP, "hung up"),
}


@record()
class BatchOptions:
    input: str
    output: Path | None = None
    concurrency: int = 4
    ordered: bool = False
    retry_errors: bool = False
    max_cost: float | None = None
    shard: str | None = None
    history: bool = False


class Stopped(AimlchatError):
    """The batch ended early (or with failed items): the exit status says how."""

    def __init__(self, message: str, exit_code: ExitCode, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


# -- IN and OUT ---------------------------------------------------------------------------


def _input_path(spec: str) -> Path | None:
    return None if spec == "-" else Path(spec)


@contextlib.contextmanager
def _lines(stdin: IO[str], path: Path | None) -> Iterator[Iterable[bytes]]:
    """IN's lines as bytes: the file at `path`, else `stdin`."""
    if path is None:
        buffer: Any = getattr(stdin, "buffer", None)
        yield buffer if buffer is not None else (s.encode("utf-8") for s in stdin)
        return
    with _open_in(path) as fh:
        yield fh


def _open_in(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"no such input file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _is_regular(path: Path | None) -> bool:
    try:
        return path is not None and stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _open_out(
    out: Output, notice: Callable[[str], None], opts: BatchOptions
) -> tuple[OutFile | StdoutFile, Existing]:
    if opts.output is None or str(opts.output) == "-":
        if opts.retry_errors:
            raise UsageError("--retry-errors needs -o OUT: it asks again the errors there")
        return StdoutFile(out), Existing()
    source = _input_path(opts.input)
    with contextlib.suppress(OSError):
        if source is not None and opts.output.exists() and source.samefile(opts.output):
            raise UsageError("OUT is the input file", hint="give -o another file")
    try:
        return OutFile.open(opts.output, retry_errors=opts.retry_errors, notice=notice)
    except OSError as exc:
        raise UsageError(f"cannot open {opts.output}: {exc.strerror}") from None


def _shared_files(app: App) -> FileContext:
    """-f for every item: read once, every limit checked, before any request."""
    if "-" in app.opts.files:
        raise UsageError("batch cannot take -f -: stdin may be IN", hint="name the file instead")
    return gather_files(app, app.opts.files)


# -- history -------------------------------------------------------------------


def _history(
    store: Store | None,
    requester: Requester,
    warn: Callable[[str], None],
    daily: Daily | None = None,
) -> Callable[[Done], None] | None:
    """--history: each finished item as a conversation of its own, with its cost and
    ids (so max_cost_per_day, `history list` and `aimlchat usage` see batch spend);
    `daily` hears of each cost history now holds."""
    if store is None:
        return None
    broken = False

    def save(done: Done) -> None:
        nonlocal broken
        record, reply = done.job.record, done.reply
        if broken or reply is None:
            return
        model = requester.model_of(record)
        usage = reply.usage
        cost = None if reply.cost is None else Cost(reply.cost, reply.cost_source or ESTIMATE)
        counted = (
            daily.saving(cost.usd)
            if daily is not None and cost is not None
            else contextlib.nullcontext()
        )
        try:
            cid = store.create(model=model, system=requester.system_of(record))
            store.add(cid, user(record.prompt))
            with counted:
                store.add(
                    cid,
                    assistant(reply.text),
                    model=model,
                    usage=(usage["prompt_tokens"], usage["completion_tokens"]) if usage else None,
                    cost=cost,
                    inference_id=reply.inference_id,
                    client_request_id=reply.client_request_id,
                )
        except StoreError as exc:
            broken = True
            warn(f"{exc.message}; batch results are not being saved to history")

    return save


# -- the run ---------------------------------------------------------------------------


def _stop_on_signals(flag: StopFlag, env: Environment) -> contextlib.AbstractContextManager[None]:
    """Ctrl-C, SIGTERM and SIGHUP set a flag the batch loop reads: nothing half-written.
    On a hangup the terminal is gone, so the progress line and the last notice go
    nowhere rather than fail (aimlchat/signals.py silences it)."""
    from aimlchat.errors import Hangup
    from aimlchat.signals import ending_calls

    def stop(error: type[BaseException]) -> None:
        if issubclass(error, KeyboardInterrupt):
            flag.request("interrupt")
        else:
            flag.request("hangup" if issubclass(error, Hangup) else "terminate")

    return ending_calls(stop, env.terminal_outputs(), interrupt=True)


def run_batch(app: App, opts: BatchOptions) -> None:
    if opts.max_cost is not None and opts.max_cost <= 0:
        raise UsageError(f"--max-cost must be more than 0 (got {opts.max_cost})")
    shard = Shard.parse(opts.shard)
    s = app.settings
    debug_log = app.notifier.debug if app.opts.debug else None  # terminal-safe, as ask
    connection = Connection(
        s.base_url,
        app.api_key(),
        s.timeout,
        debug_log,
        connect_timeout=s.connect_timeout,
        idle_timeout=s.idle_timeout,
        router=app.router(),
        note=functools.partial(_worker_note, app),
        not_found=functools.partial(_explain_404, app),
    )
    defaults = Defaults(
        s.model,
        s.system,
        dict(s.params),
        format=app.output_format,
        api=s.api,
        web_search=s.web_search,
        files=_shared_files(app),
        cwd=working_dir(),
        image_detail=s.image_detail,
    )
    unknown = UnknownParams(app.notifier.warn)
    need = opts.max_cost is not None
    named = _models_named(shard, unknown, opts.input) if need else set()
    pricing = load_prices(app, {s.model, *named}, need=need)
    # The retirement feed (cached): -m withdrawn is exit 2 before OUT is created, and
    # deprecated a warning; a record's own model is checked as its item is taken.
    app.lifecycle()  # made here, once: the workers share it
    app.check_model(s.model)
    check = functools.partial(_check_record_model, app)
    requester = Requester(connection, defaults, pricing.price, pricing.most_out, check)
    with _lines(app.env.stdin, _input_path(opts.input)):
        pass  # a missing IN is an error before OUT is created
    daily = _daily(app)  # today's spent already: exit 1 before OUT is created
    writer, existing = _open_out(app.out, app.notifier.info, opts)
    stats = Stats(prices_known=pricing.known)
    try:
        ending = _run(
            app, opts, shard, requester, writer, existing, stats,
            unknown=unknown, priced=has_price(pricing.price), daily=daily,
        )  # fmt: skip
    except BaseException:
        with contextlib.suppress(AimlchatError):  # the error under way says more
            writer.close()
        raise
    writer.close()  # a failed fsync here is an error: the results may not be on disk
    _report(opts, stats, ending, writer)


def _daily(app: App) -> Daily | None:
    """max_cost_per_day (config.toml, or --max-cost-per-day), counted from history."""
    s = app.settings
    if s.max_cost_per_day is None:
        return None
    source = s.sources.get("max_cost_per_day", "config.toml")
    return daily_limit(s.max_cost_per_day, source, app.paths.db_file, app.notifier.warn)


def _worker_note(app: App, text: str, *, warning: bool = False) -> None:
    """A worker's line for the user, on a line of its own: a live progress line is taken
    away first (the runner draws it again)."""
    if app.env.stderr_tty and not app.env.dumb_terminal:  # as Progress.live
        with contextlib.suppress(OSError, ValueError):
            app.env.stderr.write("\r\x1b[K")
    (app.notifier.warn if warning else app.notifier.info)(text)


def _check_record_model(app: App, model: str) -> None:
    """A record's own model, in its worker, by the cached retirement feed: withdrawn is
    that item's error record (UsageError, the hint in the message: a record keeps no
    hint), nothing sent; deprecated, a warning once a day."""
    from aimlchat.api.deprecations import RECORD

    say = functools.partial(_worker_note, app)
    try:
        app.lifecycle().check(model, RECORD, warn=functools.partial(say, warning=True), note=say)
    except UsageError as exc:
        raise UsageError(f"{exc.message}; {exc.hint}" if exc.hint else exc.message) from None


def _explain_404(app: App, client: Client, model: str, exc: ApiError) -> None:
    """A 404 for a model in a worker: the retirement feed says why (as App.client wires
    it), in the message itself, which is what the item's error record keeps."""
    from aimlchat.api.deprecations import RECORD

    source = app.model_source(model) if model == app.model else RECORD
    hint = exc.hint
    app.lifecycle().explain(model, exc, client.quick_deprecations, source)
    if exc.hint and exc.hint != hint:
        exc.message = f"{exc.message}; {exc.hint}"


def _models_named(shard: Shard, unknown: Unknown, spec: str) -> set[str]:
    """The models IN's records name, for --max-cost to price up front (a file only: a
    stream is read once, and a model without a price met there ends the batch)."""
    path = _input_path(spec)
    if path is None or not _is_regular(path):
        return set()
    reader = Reader(shard, frozenset(), check_duplicates=False, unknown=unknown)
    with _open_in(path) as lines:
        return {record.model for record in reader.records(lines) if record.model}


def _run(
    app: App,
    opts: BatchOptions,
    shard: Shard,
    requester: Requester,
    writer: OutFile | StdoutFile,
    existing: Existing,
    stats: Stats,
    *,
    unknown: Unknown,
    priced: Callable[[str], bool],
    daily: Daily | None = None,
) -> Ending:
    path = _input_path(opts.input)
    reader = Reader(
        shard, existing.done, check_duplicates=True, failed=existing.failed, unknown=unknown
    )
    if _is_regular(path):
        # One quick pass first: the total for the progress line, and every line checked
        # before a single request is paid for.
        with _lines(app.env.stdin, path) as lines:
            stats.total = count(reader, lines)
        stats.skipped, stats.skipped_errors = reader.skipped, reader.skipped_errors
        reader = Reader(shard, existing.done, check_duplicates=False, unknown=unknown)
    elif app.env.stdin_tty and path is None:
        app.notifier.info("reading prompts from the terminal, one per line; Ctrl-D ends")
    clock = time.monotonic
    stats.started = clock()
    progress = Progress(app.env, stats, clock)
    # ask's policy, whole: what may be sent again, and the longest Retry-After waited for
    # (a longer one stops the batch, as it stops `ask`).
    policy = RetryPolicy(app.settings.retries)
    gate = RateGate(opts.concurrency, patience=PATIENCE, max_wait=policy.max_wait)
    work = functools.partial(
        run_item, send=requester.send, gate=gate, policy=policy, patience=PATIENCE
    )
    saved = _history(app.store(), requester, app.notifier.warn, daily) if opts.history else None
    flag = StopFlag()
    with _lines(app.env.stdin, path) as lines, _stop_on_signals(flag, app.env):
        runner = Runner(
            records=reader.records(lines),
            work=work,
            gate=gate,
            concurrency=opts.concurrency,
            ordered=opts.ordered,
            writer=writer,
            progress=progress,
            model_of=requester.model_of,
            flag=flag,
            max_cost=opts.max_cost,
            daily=daily,
            priced=priced,
            worst=functools.partial(_worst, requester),
            on_success=saved,
            notice=app.notifier.info,
        )
        ending = runner.run()
    if stats.total is None:
        stats.skipped, stats.skipped_errors = reader.skipped, reader.skipped_errors
    progress.clear()
    app.notifier.info(summary(stats, clock()))
    return ending


def _worst(requester: Requester, record: Record) -> float | None:
    """The most an item's request can cost, held against the budget while it runs: its
    prompt and -f files as sent, but not its own files (read when it is sent, once)."""
    return requester.worst_case(requester.request(replace(record, files=())))


def _resume_hint(writer: OutFile | StdoutFile) -> str:
    if writer.path is None:
        return "the results so far went to stdout; with -o FILE a rerun resumes where it stopped"
    return f"run the same command again to resume: the items in {writer.path} are skipped"


def _items(n: int, word: str = "item") -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def join_hints(*hints: str) -> str:
    """Hints as one line: after a sentence's end (`is the server running?`) the next one
    starts a sentence; otherwise `; ` between them."""
    joined = ""
    for hint in hints:
        if not joined:
            joined = hint
        elif joined[-1] in ".?!":
            joined += f" {hint[:1].upper()}{hint[1:]}"
        else:
            joined += f"; {hint}"
    return joined


def _unreachable(ending: Ending, written: str, writer: OutFile | StdoutFile) -> Stopped:
    """The requests never left: the items that failed so are left for a rerun."""
    error = ending.error
    why = error.message if isinstance(error, AimlchatError) else "no answer"
    message = f"cannot reach the server ({why}); nothing recorded for {_items(ending.unrecorded)}"
    if not written.startswith("0 "):
        message += f"; {written}"
    hints = [error.hint] if isinstance(error, AimlchatError) and error.hint else []
    return Stopped(message, ExitCode.NETWORK, join_hints(*hints, _resume_hint(writer)))


def _spent(stats: Stats) -> str:
    """What --max-cost counted: the replies' cost, and the worst case of those that may
    have been billed."""
    spent = f"{usd(stats.cost)} spent"
    if not stats.maybe_billed:
        return spent
    maybe = plural(stats.maybe_billed, "request")
    return (
        f"{spent}, up to {usd(stats.cost + stats.at_risk)} with {maybe} that may have been billed"
    )


def _failed(stats: Stats, writer: OutFile | StdoutFile) -> Stopped | None:
    """Exit 0 only when OUT holds a success for every item: errors from this run, or from
    an earlier one that this run skipped, are exit 1."""
    said = []
    if stats.errors:
        said.append(
            f"{stats.errors:,} of {plural(stats.done, 'item')} failed; their records hold the error"
        )
    if stats.maybe_billed:  # worth knowing before --retry-errors asks them again
        said.append(
            f"{stats.maybe_billed:,} of them got no answer after the request was sent "
            "and may have been billed"
        )
    if stats.skipped_errors:
        earlier = _items(stats.skipped_errors, "error record")
        said.append(f"{writer.path} holds {earlier} from an earlier run")
    if not said:
        return None
    hint = "rerun with --retry-errors to ask them again" if writer.path else None
    return Stopped("; ".join(said), ExitCode.API, hint)


def _report(opts: BatchOptions, stats: Stats, ending: Ending, writer: OutFile | StdoutFile) -> None:
    reason = ending.reason
    written = f"{plural(stats.done, 'result')} written" + (
        f" to {writer.path}" if writer.path is not None else ""
    )
    if ending.left_in_flight:
        written += f"; {plural(ending.left_in_flight, 'unfinished request')} dropped"
    if reason in _SIGNALLED:
        code, word = _SIGNALLED[reason]
        raise Stopped(f"{word}: {written}", code, _resume_hint(writer))
    if reason in ("input", "fatal") and ending.error is not None:
        raise ending.error
    if reason == "unreachable":
        raise _unreachable(ending, written, writer)
    if reason == "rate_limited" and isinstance(ending.error, AimlchatError):
        # A Retry-After longer than the retry policy waits: nothing more was sent.
        error = ending.error
        hint = join_hints("wait that long", _resume_hint(writer))
        raise Stopped(f"{error.message}; {written}", error.exit_code, hint)
    if reason == "unpriced" and isinstance(ending.error, AimlchatError):
        raise Stopped(
            f"{ending.error.message}; {written}; the other items were not asked",
            ExitCode.USAGE,
            f"give it a priced model, or drop --max-cost; then {_resume_hint(writer)}",
        )
    if reason == "budget":
        raise Stopped(
            f"--max-cost {usd(opts.max_cost or 0)} reached ({_spent(stats)}); "
            f"{written}; the other items were not asked",
            ExitCode.API,
            _resume_hint(writer),
        )
    if reason in ("unbounded", "daily") and isinstance(ending.error, AimlchatError):
        error = ending.error
        raise Stopped(
            f"{error.message}; {written}; the other items were not asked",
            ExitCode.API,
            join_hints(*([error.hint] if error.hint else []), _resume_hint(writer)),
        )
    failed = _failed(stats, writer)
    if failed is not None:
        raise failed
