from aimlchat.cli import main

main()
