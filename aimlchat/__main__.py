from aimlchat.cli import run

run()
