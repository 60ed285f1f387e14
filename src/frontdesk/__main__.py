"""`python -m frontdesk` is the same as the `frontdesk` command."""

from frontdesk.cli.main import main

main()
