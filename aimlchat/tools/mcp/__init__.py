"""A small synchronous client of the Model Context Protocol: tools from MCP servers.

Imported only when an MCP server is used (a plain `ask` never loads it). Modules:
  errors     what goes wrong with a server, named by the server: it could not start, it
             died, it broke the protocol (ServerFailed), it refused our credentials
             (ServerRefused)
  jsonrpc    JSON-RPC 2.0 messages: build, parse, tell requests, responses and
             notifications apart (pure)
  inbox      what a transport hands the session: messages as they arrive, or why no more
             will, waited on with a timeout
  stdio      a server run as a command: its own process group, stderr to a log file,
             JSON lines on stdin/stdout; stopped whole (stdin closed, TERM, KILL)
  http       a server over Streamable HTTP (requests): answers as JSON or SSE, the
             Mcp-Session-Id kept, MCP-Protocol-Version sent, DELETE at the end
  session    the protocol: initialize (version negotiation), tools/list (pages),
             tools/call with a timeout, notifications/cancelled on timeout or Ctrl-C
  content    a tools/call result as text for the model: text passed on, other content
             summarised in a line each, isError kept
  expand     `${VAR}` in configured header and env values, from the environment
  config     `[mcp.NAME]` tables of config.toml as ServerSpec records (pure; `${VAR}`
             kept as written until the server starts)
  names      the names the model knows tools by: SERVER__TOOL, valid for every API,
             cut at 64 with a hash, unique in the run (pure)
  server     one Server per [mcp.NAME] and per process: started on first use, its
             tools listed once (minus `deny`), failed with a one-line error, stopped at
             exit (aimlchat.exit_hooks); Servers, the registry of a run
  provider   ServerTool: one server's tool as a tools.protocol.Tool

Why our own client and not the official SDK: the SDK brings 28 packages (45 MB) and takes
0.6-0.7 s to import its client; this one is a few hundred lines on requests, which
aimlchat already has. The tests still talk to servers built with the SDK.
"""
