"""Notifications: what the outbox's rows become on the wire (email, signed webhooks).

`policy` and `message` are pure (no I/O, no clock); `senders` holds the only sockets;
`dispatcher` is the task on every node that claims due rows and sends them.
"""
