"""`python -m frontdesk` is the same as the `frontdesk` command."""

from frontdesk.cli import main

main()
