"""Slash commands about what a request carries: the tools offered, and the context window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aimlchat.chat.context_view import describe
from aimlchat.commands.repl_core import ReplCore
from aimlchat.commands.tooling import describe_tools
from aimlchat.errors import AimlchatError
from aimlchat.tools.spec import ALL
from aimlchat.tools.toolset import StartInterrupted

if TYPE_CHECKING:
    from aimlchat.tools.protocol import Tool

NONE = "none"


def _merged(offered: list[Tool], more: list[Tool]) -> list[Tool]:
    names = {tool.name for tool in offered}
    return offered + [tool for tool in more if tool.name not in names]


class ToolCommands(ReplCore):
    def cmd_tools(self, rest: str) -> None:
        """`/tools` lists them; `/tools NAME…` turns each on or off (an MCP server: all
        its tools, started if need be; `server.tool`: one); `all`, `none`."""
        box = self.chat.tools
        if box is None:
            raise AimlchatError("tools are not available in this session")
        names = rest.split()
        if not names:
            listing = describe_tools(box)
            self.write(f"tools (offered to the model when on):\n{listing}\n")
            if not box.offered:
                self.write("  turn one on with /tools NAME (or start with -T NAME)\n")
            return
        # Check (and start: together, a failed or stopped server anew, as asked) them all
        # first: a typo, a server that cannot start, or a Ctrl-C changes nothing.
        toolset = box.toolset
        try:
            toolset.start([name for name in names if name != NONE], retry=True)
        except StartInterrupted as exc:
            for server in exc.servers:
                self.app.notifier.info(f"MCP server {server} was not started")
            return
        # A server started anew has new tools: its old ones go (one that failed again is
        # said to, before its error).
        box.offered = toolset.withdrawn(box.offered)
        picked = {name: toolset.pick([name]) for name in names if name != NONE}
        for name in names:
            if name == NONE:
                box.offered = []
            elif name == ALL:
                box.offered = _merged(box.offered, picked[name])
            else:
                tools = picked[name]
                offered = {tool.name for tool in box.offered}
                if all(tool.name in offered for tool in tools):  # all on: turn them off
                    gone = {tool.name for tool in tools}
                    box.offered = [tool for tool in box.offered if tool.name not in gone]
                else:
                    box.offered = _merged(box.offered, tools)
        on = ", ".join(tool.label for tool in box.offered) or "none"
        self.app.notifier.info(f"tools offered: {on}")
        toolset.check_count(box.offered)

    def cmd_context(self, _: str) -> None:
        """What the next request sends (before your words: with what is attached) and how
        it was estimated; the plan `send` makes, shown even when it would be refused."""
        from aimlchat.commands.slash_content import counted

        chat = self.chat
        waiting = self.pending_images or self.pending_files
        news = [self.next_message("")] if waiting else []
        plan = chat.plan(news, refuse=False)
        ctx = chat.context()
        attached = counted(self.pending_images, self.pending_files) if waiting else None
        self.write(describe(plan, ctx.estimator, ctx.tools, attached) + "\n")
        if plan.window.length is None and not self.app.prices.models:
            self.write("  the model catalogue is not cached: `aimlchat models` loads it\n")
        last = chat.last_plan
        if last is not None and last.left_out:
            said = (last.notice or "").removeprefix("context: ")
            self.write(f"  last request: {said}\n")
        self.write("  your next message comes on top of this\n")
