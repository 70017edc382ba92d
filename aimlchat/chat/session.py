"""One conversation with the model: running a turn (with its tool steps, chat.toolloop)
within the model's context window. The messages and their history rows: chat.transcript.

Used by `ask` and by the REPL alike. The transport yields deltas; the sink shows them;
this module keeps the text, so a reply cut short by Ctrl-C, SIGTERM, a dropped
connection or a closed pipe is still saved, marked for what happened to it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from aimlchat.api.adapters import ChatRequest
from aimlchat.api.aimlapi import request_id, run_id
from aimlchat.api.client import Client
from aimlchat.api.events import ChatEvent, ReasoningDelta, TextDelta, Usage
from aimlchat.api.response import Response
from aimlchat.chat.context import ContextWindow, Plan, Window, resolve_window
from aimlchat.chat.transcript import Transcript, TurnSettings
from aimlchat.errors import AimlchatError, ApiError
from aimlchat.messages import API, ASSISTANT, ESTIMATE, USER, Cost, Message, ToolCall, assistant
from aimlchat.money import MICRO, micro
from aimlchat.record import record, replace
from aimlchat.storage.store import Store
from aimlchat.terminal.output import ReasoningSink, Sink

if TYPE_CHECKING:  # the tool loop and runner load only when a tool is offered
    from aimlchat.chat.budget import Budget
    from aimlchat.chat.toolloop import ToolBox
    from aimlchat.tools.run import ToolResult

CHOICE_SEPARATOR = "\n\n---\n\n"


@record()
class TurnResult:
    response: Response  # the raw reply: every choice, its JSON
    text: str  # choice 0, the conversation's reply
    usage: Usage | None = None
    finish_reason: str | None = None
    status: str = "ok"
    calls: list[ToolCall] = field(default_factory=list)  # what the reply asks to run
    # The API's charge for the reply, else the catalogue's estimate (marked); None: neither.
    cost: Cost | None = None
    inference_id: str | None = None  # the server's id for the request (x-inference-id)
    client_request_id: str | None = None  # the X-Client-Request-Id it was sent under


class ReplyFiltered(ApiError):
    """`finish_reason: content_filter`: an error, though the text so far is shown and kept."""

    def __init__(self, result: TurnResult) -> None:
        kept = "; the partial reply is kept" if result.text else " before any text"
        super().__init__(f"the provider's content filter stopped the reply{kept}")
        self.result = result


@record()
class Totals:
    """A session's replies (each step of a tool loop is one): tokens and cost so far."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    # USD in millionths, each reply's rounded as it is added: sums a budget compares stay
    # exact (ten $0.10 replies are $1.00). None: no reply's cost is known.
    micro_usd: int | None = None
    turns: int = 0
    estimated: bool = False  # some of the cost is the catalogue's estimate, not a charge
    unknown: int = 0  # replies paid for whose cost is not known at all (no charge, no price)
    # Requests paid for (whole replies and ones cut short), and those of them estimated:
    # what one turn spent is the difference of two snapshots (commands.ask.TurnMeter).
    paid: int = 0
    estimates: int = 0

    def add(self, usage: Usage | None, cost: Cost | None) -> None:
        self.turns += 1
        if usage is not None:
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens
        self.spend(cost)

    def spend(self, cost: Cost | None) -> None:
        """One reply's cost (a whole one, or one cut short or failed once it began);
        None: it is not known."""
        self.paid += 1
        if cost is None:
            self.unknown += 1
            return
        self.micro_usd = (self.micro_usd or 0) + micro(cost.usd)
        self.estimated = self.estimated or cost.estimated
        self.estimates += cost.estimated

    @property
    def cost(self) -> float | None:
        return None if self.micro_usd is None else self.micro_usd / MICRO

    @property
    def total(self) -> Cost | None:
        cost = self.cost
        return None if cost is None else Cost(cost, ESTIMATE if self.estimated else API)


class Chat(Transcript):
    def __init__(
        self,
        client: Client,
        settings: TurnSettings,
        *,
        store: Store | None,
        warn: Callable[[str], None],
        conversation_id: int | None = None,
        name: str | None = None,
        price: Callable[[str, Usage], float | None] | None = None,
        tools: ToolBox | None = None,
        window: Callable[[str], Window] | None = None,
        note: Callable[[str], None] | None = None,
        learn: Callable[[Window], None] | None = None,
        budget: Budget | None = None,
    ) -> None:
        super().__init__(
            settings, store=store, warn=warn, conversation_id=conversation_id, name=name
        )
        self.client = client
        self._price = price
        self._note = note or warn
        if self.load_notice:
            self._note(self.load_notice)
        self.tools = tools  # None: calls in a reply are not run (nor saved)
        self._window_for = window or resolve_window
        self._learn = learn  # remembers a window a server's error stated
        self._context: ContextWindow | None = None
        self.last_plan: Plan | None = None  # what the last request sent
        self.totals = Totals()
        # Told each reply as it is kept, with its usage and cost (ask --ndjson's usage event).
        self.on_reply: Callable[[TurnResult], None] | None = None
        self._run = run_id()  # names requests when there is no history to name them by
        self._sent: dict[str, int] = {}  # request id -> requests made under it
        self.request_id: str | None = None  # the X-Client-Request-Id of the last request
        self.budget = budget  # checked before every request (chat.budget)
        if budget is not None:  # a conversation not saving counts on top of history
            budget.watch(self.totals, saving=lambda: self.store is not None)

    def renew(self, settings: TurnSettings, conversation_id: int | None = None) -> Chat:
        """Another conversation (new, or loaded) with this one's client, store, tools and
        context windows: `/clear` and `/load`."""
        return Chat(
            self.client,
            settings,
            store=self.store,
            warn=self._warn,
            conversation_id=conversation_id,
            price=self._price,
            tools=self.tools,
            window=self._window_for,
            note=self._note,
            learn=self._learn,
            budget=self.budget,
        )

    # -- turns -------------------------------------------------------------------------

    def send(
        self, message: Message, sink: Sink, observe: Callable[[ChatEvent], None] | None = None
    ) -> TurnResult:
        self.plan([message])  # a message that cannot fit: UsageError, nothing saved or sent
        self.check_budget()  # a spent budget: refused, nothing saved or sent
        self._append(message)
        return self._turn(sink, observe)

    def retry(self, sink: Sink) -> TurnResult:
        """Regenerate the last turn's reply, tool calls and all (history keeps the old
        messages, marked replaced)."""
        start = _last_user(self.messages)
        if start is None:
            raise AimlchatError("nothing to retry")
        self.check_budget()  # before the old reply is marked replaced
        while len(self.messages) > start + 1:
            self._drop_last("replaced")
        return self._turn(sink, None)

    def undo(self) -> bool:
        """Drop the last exchange, back to and with the last message sent (history keeps
        it, marked undone)."""
        if not self.messages:
            return False
        start = _last_user(self.messages)
        keep = len(self.messages) - 1 if start is None else start
        while len(self.messages) > keep:
            self._drop_last("undone")
        return True

    def _turn(self, sink: Sink, observe: Callable[[ChatEvent], None] | None) -> TurnResult:
        if self.tools is None:
            return self.reply_step(sink, observe)
        from aimlchat.chat.toolloop import run_turn

        return run_turn(
            self.tools,
            lambda: self.reply_step(sink, observe),
            self.add_tool_result,
            gate=self.check_budget,
            room=self.tool_room,
        )

    def check_budget(self) -> None:
        """BudgetReached when a limit is reached: before each request (chat.budget)."""
        if self.budget is not None:
            self.budget.check()

    # -- the context window ------------------------------------------------------------

    def context(self) -> ContextWindow:
        """The model's window (rebuilt when the model changes: its tokenizer differs)."""
        model = self.settings.model
        if self._context is None or self._context.window.model != model:
            self._context = ContextWindow(self._window_for(model), learned=self._learn)
        ctx, params = self._context, self.settings.params
        ctx.max_tokens = params.get("max_tokens") or params.get("max_completion_tokens")
        ctx.tools = self.tools.schemas() if self.tools else None
        return ctx

    def plan(self, new: Sequence[Message] | None = None, *, refuse: bool = True) -> Plan:
        """What the next request sends: this turn's messages (or `new`, about to be sent)
        and as many earlier whole turns as fit. UsageError when the new part cannot
        (`refuse=False`: a plan over the window instead, for `/context` to show)."""
        start = len(self.messages) if new is not None else _last_user(self.messages)
        start = len(self.messages) if start is None else start
        news = list(new) if new is not None else self.messages[start:]
        system, history = self.settings.system, self.messages[:start]
        return self.context().fit(system, history, news, refuse=refuse)

    def request(self, plan: Plan | None = None) -> ChatRequest:
        """What the next request asks, in no API's shape (the client's adapter builds it)."""
        s = self.settings
        plan = plan or self.plan()
        return ChatRequest(
            model=s.model,
            messages=tuple(plan.messages),
            system=s.system,
            params=dict(s.params),
            format=s.format,
            tools=self.tools.schemas() if self.tools else (),
            stream=s.stream and int(s.params.get("n") or 1) == 1,
            web_search=s.web_search,
        )

    def _send(self, plan: Plan) -> Response:
        self.check_budget()  # every request: a tool step's, the context retry
        self.request_id = self._request_id()
        request = replace(self.request(plan), client_request_id=self.request_id)
        # None: the client's router picks the API per model, and falls back (api.route).
        return self.client.chat(request, api=self.settings.api)

    def _request_id(self) -> str:
        """`aimlchat:c42:m317:k3f9`: the conversation and the message replied to, and this
        process's tag (api.aimlapi.run_tag: a /retry in a new process is a new id); with
        no history, `aimlchat:t3:<this chat's run>`; `:s1` for a tool loop's later steps,
        `:r2` when the same step is asked again (/retry, a context trimmed): so the API's
        usage logs lead back to the reply in history."""
        start = _last_user(self.messages)
        mid = self.message_ids[start] if start is not None else None
        run: str | None = None  # the process's tag
        if mid is not None and self.conversation_id is not None:
            pieces = ["aimlchat", f"c{self.conversation_id}", f"m{mid}"]
        else:
            pieces = ["aimlchat", f"t{len(self.messages) if start is None else start}"]
            run = self._run
        steps = sum(m.role == ASSISTANT for m in self.messages[(start or 0) + 1 :])
        if steps:
            pieces.append(f"s{steps}")
        base = request_id(*pieces, run=run)
        n = self._sent[base] = self._sent.get(base, 0) + 1
        return base if n == 1 else f"{base}:r{n}"

    def _open(self, plan: Plan) -> tuple[Response, Iterator[ChatEvent]]:
        """Send; on the server's "context length exceeded", trim harder and send once more."""
        self.last_plan = plan
        response = self._send(plan)
        events = iter(response)
        try:
            first = next(events, None)
        except ApiError as exc:
            from aimlchat.chat.context_errors import is_context_error

            said = f"{exc.message} {exc.code or ''}"
            if not is_context_error(exc.status, said):
                raise
            # UsageError (exit 2) when there is nothing left to leave out.
            self.last_plan = plan = self.context().trim_harder(plan, said)
            self._note(f"the server says the context is too long; retrying once: {plan.notice}")
            response = self._send(plan)
            events = iter(response)
            first = next(events, None)
        return response, itertools.chain([] if first is None else [first], events)

    # -- one reply ---------------------------------------------------------------------

    def reply_step(
        self, sink: Sink, observe: Callable[[ChatEvent], None] | None = None
    ) -> TurnResult:
        """One request and its reply, saved; the calls it asks for are the caller's."""
        plan = self.plan()
        last = self.last_plan
        if plan.notice and (last is None or last.notice != plan.notice):  # once per tool loop
            self._note(plan.notice)
        self.unsent = None
        response: Response | None = None
        shown = False
        thinking = sink if isinstance(sink, ReasoningSink) else None  # a pipe's is not
        try:
            response, events = self._open(plan)
            for event in events:
                if observe is not None:
                    observe(event)
                # `shown` is set before the sink is fed: a feed that raises (SIGTERM, a
                # Ctrl-C during the first screen update) may already have taken the
                # terminal (echo off, cursor hidden), and only `finish` gives it back.
                if isinstance(event, TextDelta) and event.index == 0:
                    shown = True
                    sink.feed(event.text)
                elif thinking is not None:
                    shown = shown or _is_thinking(event)
                    _show_thinking(thinking, event)
            # Choice 0 is the reply, shown as it comes; with -n, the others follow it.
            others = "".join(CHOICE_SEPARATOR + response.text(i) for i in response.indexes() if i)
            if others:
                shown = True
                sink.feed(others)
        except BaseException as exc:
            status = "incomplete" if isinstance(exc, AimlchatError) else "interrupted"
            self._keep_partial(response, sink if shown else None, status)
            raise
        return self._keep_reply(response, sink)

    def _keep_reply(self, response: Response, sink: Sink) -> TurnResult:
        reason = response.finish_reason(0)
        status = "incomplete" if reason == "content_filter" else "ok"
        calls = response.calls(0) if self.tools is not None else []
        cost = self.reply_cost(response)
        result = TurnResult(
            response,
            response.text(0),
            response.usage,
            reason,
            status,
            calls,
            cost=cost,
            inference_id=response.inference_id,
            # The server's echo names the very HTTP request (a re-sent one's `.2`).
            client_request_id=response.client_request_id or self.request_id,
        )
        usage = (
            (result.usage.prompt_tokens, result.usage.completion_tokens) if result.usage else None
        )
        if calls or result.text or status == "ok":
            self._append(
                self._reply(response, 0, calls), status=status, usage=usage, **self._trace(result)
            )
        else:  # filtered before a word: no reply, as if the request had failed
            self._fail_turn(response, cost)
        self._keep_choices(response)
        self.totals.add(result.usage, cost)  # counted here, once
        if self.on_reply is not None:
            self.on_reply(result)
        if result.usage is not None and self.last_plan is not None:
            self.context().estimator.observe(self.last_plan.raw_prompt, result.usage.prompt_tokens)
        sink.finish(status=None if status == "ok" else status)  # after saving: it may fail
        if reason == "content_filter":
            raise ReplyFiltered(result)
        return result

    def _keep_partial(self, response: Response | None, sink: Sink | None, status: str) -> None:
        if response is not None:
            response.close()  # stop reading; what arrived is what is kept
        if sink is not None:
            with contextlib.suppress(OSError, AimlchatError):  # a gone pipe; text saved below
                sink.finish(status=status)
        if response is None:  # refused before a reply began: nothing known to be paid for
            self._fail_turn(None, None)
            return
        # Begun, so maybe paid for: counted as a whole reply is (an unknown cost too, so
        # --max-cost stops), and kept with it.
        cost = self._partial_cost(response)
        self.totals.spend(cost)
        if response.text(0):
            self._append(
                self._reply(response, 0),
                status=status,
                cost=cost,
                inference_id=response.inference_id,
                client_request_id=response.client_request_id or self.request_id,
            )
            self._keep_choices(response)
        else:
            self._fail_turn(response, cost)

    def _fail_turn(self, response: Response | None, cost: Cost | None) -> None:
        """No answer: the message leaves the context; thinking that came is kept in
        history, and so is its cost (the caller counts it in the totals), so the day's
        spend sees it."""
        if response is not None and (response.reasoning(0) or cost is not None):
            self._record(
                assistant(reasoning=response.reasoning(0)),
                status="failed",
                cost=cost,
                inference_id=response.inference_id,
                client_request_id=response.client_request_id or self.request_id,
            )
        self._fail_last_user()

    def _trace(self, result: TurnResult) -> dict[str, Any]:
        return {
            "cost": result.cost,
            "inference_id": result.inference_id,
            "client_request_id": result.client_request_id,
        }

    def _charged(self, response: Response) -> Cost | None:
        """The API's own charge for a reply, if it sent one (never an estimate)."""
        with contextlib.suppress(AimlchatError):  # a reply abandoned midway reads as is
            charge = response.charge
            if charge is not None and charge.usd is not None:
                return Cost(charge.usd, API)
        return None

    def _partial_cost(self, response: Response) -> Cost | None:
        """A reply cut short or failed once it began: the API's charge; else the catalogue
        price of its tokens (the usage, or when it never came, the prompt as sent and what
        arrived of the reply, estimated); None when neither is known."""
        charge = self._charged(response)
        if charge is not None:
            return charge
        usage: Usage | None = None
        with contextlib.suppress(AimlchatError):
            usage = response.usage
        if usage is None and self.last_plan is not None:
            from aimlchat.chat.tokens import text_tokens

            came = "".join(response.text(i) + response.reasoning(i) for i in response.indexes())
            out = round(text_tokens(came))
            prompt = self.last_plan.prompt_tokens
            usage = Usage(prompt, out, prompt + out)
        usd = self.cost_of(usage)
        return None if usd is None else Cost(usd, ESTIMATE)

    def reply_cost(self, response: Response) -> Cost | None:
        """The API's charge; else the catalogue price of the tokens, marked an estimate."""
        charge = self._charged(response)
        if charge is not None:
            return charge
        usd = self.cost_of(response.usage)
        return None if usd is None else Cost(usd, ESTIMATE)

    def _this_turn(self) -> list[Message]:
        """The messages since the last one the user sent, that one included."""
        return self.messages[_last_user(self.messages) or 0 :]

    def tool_room(self) -> int | None:
        """Tokens the next tool result may take (None: the window is unknown): a tool's
        output is read up to about that, and cut to it exactly when saved."""
        from aimlchat.chat import fit

        return fit.budget(self.context(), self.settings.system, self._this_turn())

    def add_tool_result(self, result: ToolResult) -> None:
        """Saved as the model gets it: cut to what the window has left (chat.fit)."""
        from aimlchat.chat import fit

        label = self.tools.label(result.call.name) if self.tools is not None else None
        turn = self._this_turn()
        message, notice = fit.fitted(self.context(), self.settings.system, turn, result, label)
        if notice:
            self._note(notice)
        self._append(message)

    def _keep_choices(self, response: Response) -> None:
        # -n N: choices 1.. go to history as "choice" rows, kept out of the next context.
        for i in response.indexes():
            text = response.text(i)
            if i and text:
                self._record(self._reply(response, i), status="choice")

    def _fail_last_user(self) -> None:
        # No reply at all: keep the message in history but out of the context, so the
        # next turn does not send two user messages in a row.
        if self.messages and self.messages[-1].role == USER:
            self.unsent = self._drop_last("failed")

    def _reply(self, response: Response, index: int, calls: Sequence[ToolCall] = ()) -> Message:
        """Choice `index` as the conversation keeps it: its thinking (stored and shown,
        never sent back as text: DeepSeek refuses it), its text, the sources it cites, the
        calls it asks. The adapter's opaque state is tagged with the model that made it:
        it goes back only to that API and that model (another cannot read it)."""
        opaque = response.opaque_reasoning(index)
        if opaque is not None:
            opaque = {**opaque, "model": self.settings.model}
        return assistant(
            response.text(index),
            calls=calls,
            reasoning=response.reasoning(index),
            citations=response.citations(index),
            opaque_reasoning=opaque,
        )

    def last_reply(self) -> str | None:
        for message in reversed(self.messages):
            if message.role == ASSISTANT and (message.text or not message.calls):
                return message.text
        return None

    def cost_of(self, usage: Usage | None) -> float | None:
        if usage is None or self._price is None:
            return None
        return self._price(self.settings.model, usage)


def _last_user(messages: Sequence[Message]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == USER:
            return i
    return None


def _is_thinking(event: ChatEvent) -> bool:
    return isinstance(event, ReasoningDelta) and event.index == 0


def _show_thinking(sink: ReasoningSink, event: ChatEvent) -> None:
    """The reply's thinking to a sink that shows it."""
    if isinstance(event, ReasoningDelta):
        if event.index == 0:
            sink.reason(event.text)
    elif isinstance(event, Usage) and event.reasoning_tokens is not None:
        sink.reasoning_tokens(event.reasoning_tokens)
