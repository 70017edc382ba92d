"""Tool calls: tools declared in config.toml (and two built-ins) that the model may ask to run.

Modules (nothing here imports the API, the session or the terminal renderer):
  spec      `[tools.NAME]` tables -> ToolSpec; built-ins read_file, list_dir; `-T` selection;
            the request's `tools` array (openai_tools)
  assemble  streamed `delta.tool_calls` pieces (or a whole `message.tool_calls`) -> ToolCall
  consent   shows each call and asks (injected `ask`), `--yes`, `confirm = false`, `a`lways
  run       one call -> ToolResult (status + content for the model); Ctrl-C -> ToolInterrupted
  process   the subprocess: own process group, stdin JSON, stdout cap, stderr tail, deadline
  builtins  read_file / list_dir, confined to the current directory (symlinks resolved)
  turn      run_calls: every call of one reply, in order
  messages  the assistant message with `tool_calls`, the `tool` messages, NDJSON events

How the session loop should use them (design note; not wired yet):

    available = spec.parse_tools(config.raw.get("tools"))     # ConfigError -> exit 3
    offered = spec.select(opts.tools, available)              # -T NAME / -T all; UsageError -> 2
    body["tools"] = spec.openai_tools(offered)                # only when `offered` is non-empty
    consent = Consent(ask=..., warn=notifier.warn, show=<stderr line>, assume_yes=opts.yes)
      # ask: the REPL's prompt_toolkit prompt; `ask` on a terminal: FdAsk.open_tty(); else None
    for step in range(max_steps + 1):                         # --max-steps, default 8
        stream a turn, feeding each delta's `tool_calls` to a ToolCallAssembler
          (non-streamed: assemble.from_message(choice["message"]))
        calls = assembler.calls()
        if not calls: save the reply; done     # even if finish_reason said "tool_calls"
        if step == max_steps: save what there is; raise an ApiError (exit 1, one line,
            "stopped after 8 tool steps; raise --max-steps to allow more")
        history += [assistant_message(text, calls)]           # before running: never lose the ask
        try:
            results = run_calls(calls, {s.name: s for s in offered}, consent, cwd=Path.cwd())
        except ToolInterrupted as exc:                        # Ctrl-C: the group is already stopped
            history += tool_messages(exc.results); save; re-raise (REPL -> prompt, ask -> 130)
          # SIGTERM (Terminated) also stops the group, but carries no results: give every
          # call still without one run.interrupted_result(call) before saving.
        history += tool_messages(results); save; loop (the next request carries the results)

Only offered tools may run: pass the offered ones as `available`, so a call to a declared
but unoffered tool is an "unknown tool" result. Every assistant message with `tool_calls` is
followed by one `tool` message per call id, whatever happened, so `--continue` and `/retry`
send a context the API accepts; trimming keeps that group whole. With `--ndjson`, emit
messages.call_event / result_event. A call's `→ name {args}` line and the question go to
stderr (or the REPL's screen): stdout carries the model's text only.
"""
