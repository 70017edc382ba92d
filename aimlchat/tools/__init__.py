"""Tool calls: tools declared in config.toml (and two built-ins) that the model may ask to run.

Modules (nothing here imports the API, the session or the terminal renderer):
  spec      `[tools.NAME]` tables -> ToolSpec; built-ins read_file, list_dir; `-T` selection
  assemble  the pieces of a reply's tool calls (streamed or whole, with or without
            `index`) -> ToolCall
  consent   shows each call (whole when it asks) and asks (injected `ask`), `--yes`,
            `confirm = false`, `a`lways
  run       one call -> ToolResult (status + content for the model); Ctrl-C -> ToolInterrupted
  process   the subprocess: own process group, stdin JSON, stdout cap, stderr tail, deadline
  builtins  read_file / list_dir, confined to the current directory (symlinks resolved)
  turn      run_calls: every call of one reply, in order
  messages  a call's result as a tool-output message, the NDJSON events

Wired by commands.tooling (`make_toolbox`: `-T` selection, consent asked on the terminal or
in the REPL, `--yes`) into chat.toolloop (`run_turn`: one reply, its calls run in order,
their results sent back, until a reply asks for none or `--max-steps` is reached). The
calls of a reply come from api.response, which feeds each streamed or whole call's pieces
to one ToolCallAssembler.

Only offered tools may run: a call to a declared but unoffered tool is an "unknown tool"
result. Every assistant message with tool calls is followed by one tool output per
call id, whatever happened (declined, failed, Ctrl-C, SIGTERM, the step limit), so
`--continue` and `/retry` send a context the API accepts; trimming keeps that group whole.
A call's line, its question and each result's line go to stderr (or the REPL's screen):
stdout carries the model's text only.
"""
