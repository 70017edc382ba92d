import sys

from aimlchat.cli import main

sys.exit(main())
