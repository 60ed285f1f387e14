"""The `frontdesk` command and the operator's tools behind it.

`main` (the command and its sub-commands: run, migrate, doctor, firewall, org, number,
user, token, calls, livekit), `node` (what `frontdesk run` starts: the edge, the agent
workers, the web app and their background tasks, wired together and stopped in order),
and the tools an operator runs: `doctor` (checks of a node's settings and machine),
`firewall` (nftables rules for the PBX-only trunk), `demo` (the demo organizations).
Nothing else in the package imports from here: this is the top of the import graph.
"""
